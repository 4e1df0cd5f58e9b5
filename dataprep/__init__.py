"""dataprep: measure the effective unique tokens of a pretraining corpus, and build deduplicated token bins.

The public names load on first use (PEP 562), so ``import dataprep.training.train`` on a torchrun rank does not
pay for polars, pyarrow, datasketch and tiktoken, which only the data path needs.
"""

from importlib import import_module

from dataprep.version import __version__

_PUBLIC = {
    "DataprepError": "dataprep.errors",
    "estimate": "dataprep.pipeline.estimate",
    "EstimateOptions": "dataprep.pipeline.estimate",
    "Plan": "dataprep.pipeline.plan",
    "build": "dataprep.pipeline.build",
    "BuildOptions": "dataprep.pipeline.build",
    "TokenTarget": "dataprep.pipeline.budget",
    "LSHParams": "dataprep.dedup.minhash",
    "train": "dataprep.training.train",
    "TrainConfig": "dataprep.training.config",
    "compare": "dataprep.training.compare",
    "generate": "dataprep.synth",
    "SynthConfig": "dataprep.synth",
    "get_encoding": "dataprep.text.tokenizer",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dataprep' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
