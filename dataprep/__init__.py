"""dataprep: measure the effective unique tokens of a pretraining corpus, and build deduplicated token bins.

The public names load on first use (PEP 562), so ``import dataprep.training.train`` on a torchrun rank does not
pay for polars, pyarrow, datasketch and tiktoken, which only the data path needs.
"""

from importlib import import_module

from dataprep.version import __version__

_PUBLIC = {
    "DataprepError": "dataprep.errors",
    "EstimateOptions": "dataprep.pipeline.estimate",
    "estimate": "dataprep.pipeline.estimate",
    "LSHParams": "dataprep.dedup.minhash",
    "Plan": "dataprep.pipeline.plan",
    "get_encoding": "dataprep.text.tokenizer",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dataprep' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
