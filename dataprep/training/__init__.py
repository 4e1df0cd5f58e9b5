"""The trainer: the GPT model, the training loop, the device and process group, and run comparison.
It reads token files through ``dataprep.io.tokens`` only and loads none of the data path's libraries."""
