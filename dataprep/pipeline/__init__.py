"""The two pipelines: estimate (in memory) and build (scan, decide, write, report across shards); the
one pass over a batch that both share (``scan.py``), build's band tasks (``bands.py``), the engines
tasks run on, the training-plan arithmetic and the progress line."""
