"""How close estimate's boilerplate tokens (per-line counts, one tokenization) come to the exact figure.

    python bench/boilerplate_accuracy.py [--corpus synth|realtext] [--shards 1] [--docs 18000] [--mb 50]

estimate counts the tokens that start inside each boilerplate line (boilerplate.py). The exact
figure is what ``build --strip-boilerplate`` writes: every kept document holding a boilerplate
line, stripped of those lines and tokenized again, ``tokens(doc) - tokens(stripped)``; this
script computes it with that code (``estimate._stripped_tokens``) and compares, in total and
per document. It also times the exact pass: what estimate no longer spends.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import corpora


def exact_removed(m, opts) -> tuple[np.ndarray, float]:
    """Tokens stripping removes from each document (int64), by stripping and tokenizing again (what
    estimate --strip-boilerplate and build --strip-boilerplate do); and its seconds."""
    from dataprep.pipeline.estimate import _stripped_tokens

    t0 = time.perf_counter()
    removed = _stripped_tokens(m.sources, m.docs.token_counts, m.boilerplate_docs, m.boilerplate, m.tokenizer, opts,
                               os.cpu_count() or 1)
    return removed, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    corpora.add_arguments(ap, shards=1)
    args = ap.parse_args()
    from dataprep.pipeline.estimate import EstimateOptions, measure

    files = corpora.files(args)
    opts = EstimateOptions()
    t0 = time.perf_counter()
    m = measure(files, opts, progress=False)
    seconds = time.perf_counter() - t0
    exact, exact_seconds = exact_removed(m, opts)
    counted = m.boilerplate_tokens
    diff = counted - exact
    docs = m.boilerplate_docs
    total, want = int(counted.sum()), int(exact.sum())
    all_tokens = int(m.docs.token_counts.sum()) + len(m.docs)  # with one EOT per document
    print(f"\ncorpus: {corpora.describe(args)}: {len(m.docs):,} documents, "
          f"{all_tokens:,} tokens; {len(m.boilerplate):,} boilerplate lines in "
          f"{len(docs):,} kept documents\n")
    print("| boilerplate tokens | counted (estimate) | exact (strip + tokenize) | difference |")
    print("|---|---:|---:|---:|")
    print(f"| corpus total | {total:,} | {want:,} | {total - want:+,} ({(total - want) / max(want, 1):+.3%}) |")
    print(f"| share of all tokens | {total / all_tokens:.2%} | {want / all_tokens:.2%} | |")
    d = diff[docs]
    print(f"\nper stripped document: {np.mean(d == 0):.1%} exact, {np.mean(np.abs(d) == 1):.1%} off by one, "
          f"{np.mean(np.abs(d) > 1):.1%} off by more (largest {int(np.abs(d).max()) if len(d) else 0}); "
          f"mean {d.mean() if len(d) else 0:+.3f} tokens")
    print(f"estimate's measure: {seconds:.1f} s; the exact pass it no longer makes: {exact_seconds:.1f} s "
          f"({len(docs) / len(m.docs):.0%} of the documents tokenized again)")


if __name__ == "__main__":
    main()
