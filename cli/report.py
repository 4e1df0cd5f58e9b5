"""Terminal rendering of the estimate report (the JSON report is the source)."""

from __future__ import annotations

from dataprep.dedup.decide import tokens_left
from dataprep.tables import count, render, share


def render_estimate(r: dict) -> str:
    out: list[str] = []
    tokens = r["tokens"]
    files = r["files"]
    out.append(f"dataprep estimate ({r['mode']} mode): {len(files)} file(s), schema {r['schema']}")
    out.append(f"  documents   {r['docs']:,}")
    if r["text_bytes"] is not None:
        out.append(f"  text        {count(r['text_bytes'])}B")
    out.append(f"  tokens      {tokens:,} ({count(tokens)}), one <|endoftext|> per document, from {r['tokens_source']}")
    if r["token_count_column"] is not None:
        col = r["token_count_column"] + r["docs"]
        out.append(f"  token_count column + EOT: {col:,} ({share(col - tokens, tokens)} off the exact count)")

    out.append("")
    if r["score_present"]:
        rows = [(k, f"{v['docs']:,}", f"{v['tokens']:,}", share(v["tokens"], tokens)) for k, v in r["score_histogram"].items()]
        out.append("edu score mix (int_score)")
        out.append(render(["score", "docs", "tokens", "share"], rows))
        out.append(
            f"tokens at score >= {r['min_score']:g}: {r['tokens_at_or_above_min_score']:,} "
            f"({share(r['tokens_at_or_above_min_score'], tokens)})"
        )
    else:
        out.append("edu score: no score column in this input (plain FineWeb or other text)")

    if r["mode"] == "full":
        lsh = r["lsh"]
        det = ", ".join(f"J={j}: {p:.1%}" for j, p in lsh["detection_probability"].items())
        out.append("")
        out.append(
            f"near duplicates: MinHash {lsh['num_perm']} perms, {lsh['ngram']}-word shingles, "
            f"{lsh['bands']} bands x {lsh['rows']} rows (threshold ~{lsh['implied_threshold']:.2f}); detection {det}"
        )
        sizes = ", ".join(f"{k}: {v}" for k, v in r["cluster_sizes"].items() if v)
        out.append(f"  {r['near_duplicate_clusters']:,} clusters, largest {r['largest_cluster']}; sizes {sizes or 'none'}")
        out.append("")
        out.append(f"boilerplate: {r['boilerplate_lines']:,} lines recur in >= {r['boilerplate_min_docs']} kept documents")
        for item in r["boilerplate_top"]:
            text = item["line"] if len(item["line"]) <= 70 else item["line"][:67] + "..."
            out.append(f"  {item['docs']:>8,} docs  {text}")

    out.append("")
    out.append("token waterfall (what build writes with the same rules: train + val)")
    rows = [(stage, f"-{removed:,}" if removed else "", f"{left:,}", share(left, tokens))
            for stage, removed, left in tokens_left(r["waterfall"])]
    out.append(render(["stage", "removed", "tokens left", "of raw"], rows))
    if r["boilerplate_tokens"] and not r["rules"]["strip_boilerplate"]:
        out.append(f"boilerplate lines hold {r['boilerplate_tokens']:,} of these tokens; --strip-boilerplate removes them")
    bound = " (upper bound: --fast does not deduplicate)" if r["effective_is_upper_bound"] else ""
    out.append(f"effective unique tokens: {r['effective_tokens']:,} ({count(r['effective_tokens'])}){bound}")
    if r.get("diversity"):
        d = r["diversity"]
        frac = "-" if d["distinct_fraction"] is None else f"{d['distinct_fraction']:.1%}"
        out.append(f"diversity: {frac} of {d['ngrams']:,} token {d['ngram']}-grams are distinct (HyperLogLog++)")

    if "plan" in r:
        p = r["plan"]
        out.append("")
        out.append(f"training plan: {count(p['params'])} parameters, {count(p['tokens_seen'])} tokens seen")
        out.append(f"  epochs over the effective tokens: {p['epochs']:.2f}")
        out.append(f"  compute-optimal budget (20 tokens/param): {count(p['compute_optimal_tokens'])}")
        out.append(
            f"  worth about {count(p['effective_data'])} fresh tokens "
            f"({p['effective_data_ratio']:.0%} of those seen; Muennighoff et al. 2023)"
        )
        out.append(
            f"  verdict: {p['shards_for_1_epoch']:,} shards like these to see each token at most once, "
            f"{p['shards_for_4_epochs']:,} for at most 4 epochs (input: {p['shards_in_input']})"
        )
        out.append("  build it (files taken in order until the train split holds the tokens seen):")
        out.append(f"    {p['build_command']}")
        if p.get("build_note"):
            out.append(f"  ({p['build_note']})")
    return "\n".join(out)
