"""Bytes in and out: the parquet reader, local and remote storage, the Hugging Face hub, the token-bin
formats (one writer, one reader), the build's output directory, atomic writes, file digests, memory
left, and the tie that ends pool workers with their parent."""
