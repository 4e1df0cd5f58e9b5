"""Per-document work on text: normalise, hash (exact digest, MinHash shingles, lines), tokenize, scores."""
