"""dataprep: measure the effective unique tokens of a pretraining corpus, and build deduplicated token bins."""

__version__ = "0.1.0"

from dataprep.errors import DataprepError  # noqa: E402
from dataprep.estimate import EstimateOptions, estimate  # noqa: E402
from dataprep.minhash import LSHParams  # noqa: E402
from dataprep.plan import Plan  # noqa: E402
from dataprep.tokenizer import get_encoding  # noqa: E402

__all__ = ["DataprepError", "EstimateOptions", "LSHParams", "Plan", "estimate", "get_encoding", "__version__"]
