"""The names inside a build's output directory: ``pipeline/outdir.py`` writes them, ``tokens`` reads them before training."""

WORK = ".work"  # the unfinished build's stages
STATE = ".state"  # what a later build of more (or fewer) of the same inputs reuses
NEXT = "next"  # under WORK: the outputs, staged
SWAP = "swap.json"  # under WORK: the staged outputs are complete and replace the directory's
META = "meta.json"  # the mark of a finished build, moved into place last
LEDGER = ".dataprep.json"  # every file dataprep wrote there
