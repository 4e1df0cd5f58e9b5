"""Deciding what a corpus keeps: MinHash and LSH bands, connected components, boilerplate lines,
n-gram diversity, and the decision core (``decide.py``) that estimate and build both run."""
