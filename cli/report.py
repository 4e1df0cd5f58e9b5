"""Terminal rendering of the estimate report (the JSON report is the source)."""

from __future__ import annotations

from dataprep.decide import tokens_left


def human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:,.0f}"


def pct(part: float | None, whole: float) -> str:
    return "-" if part is None or not whole else f"{100.0 * part / whole:.1f}%"


def table(rows: list[tuple], header: tuple) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def render_estimate(r: dict) -> str:
    out: list[str] = []
    tokens = r["tokens"]
    files = r["files"]
    out.append(f"dataprep estimate ({r['mode']} mode): {len(files)} file(s), schema {r['schema']}")
    out.append(f"  documents   {r['docs']:,}")
    if r["text_bytes"] is not None:
        out.append(f"  text        {human(r['text_bytes'])}B")
    out.append(f"  tokens      {tokens:,} ({human(tokens)}), one <|endoftext|> per document, from {r['tokens_source']}")
    if r["token_count_column"] is not None:
        col = r["token_count_column"] + r["docs"]
        out.append(f"  token_count column + EOT: {col:,} ({pct(col - tokens, tokens)} off the exact count)")

    out.append("")
    if r["score_present"]:
        rows = [(k, f"{v['docs']:,}", f"{v['tokens']:,}", pct(v["tokens"], tokens)) for k, v in r["score_histogram"].items()]
        out.append("edu score mix (int_score)")
        out.append(table(rows, ("score", "docs", "tokens", "share")))
        out.append(
            f"tokens at score >= {r['min_score']:g}: {r['tokens_at_or_above_min_score']:,} "
            f"({pct(r['tokens_at_or_above_min_score'], tokens)})"
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
    rows = [(stage, f"-{removed:,}" if removed else "", f"{left:,}", pct(left, tokens))
            for stage, removed, left in tokens_left(r["waterfall"])]
    out.append(table(rows, ("stage", "removed", "tokens left", "of raw")))
    if r["boilerplate_tokens"] and not r["rules"]["strip_boilerplate"]:
        out.append(f"boilerplate lines hold {r['boilerplate_tokens']:,} of these tokens; --strip-boilerplate removes them")
    bound = " (upper bound: --fast does not deduplicate)" if r["effective_is_upper_bound"] else ""
    out.append(f"effective unique tokens: {r['effective_tokens']:,} ({human(r['effective_tokens'])}){bound}")
    if r.get("diversity"):
        d = r["diversity"]
        frac = "-" if d["distinct_fraction"] is None else f"{d['distinct_fraction']:.1%}"
        out.append(f"diversity: {frac} of {d['ngrams']:,} token {d['ngram']}-grams are distinct (HyperLogLog++)")

    if "plan" in r:
        p = r["plan"]
        out.append("")
        out.append(f"training plan: {human(p['params'])} parameters, {human(p['tokens_seen'])} tokens seen")
        out.append(f"  epochs over the effective tokens: {p['epochs']:.2f}")
        out.append(f"  compute-optimal budget (20 tokens/param): {human(p['compute_optimal_tokens'])}")
        out.append(
            f"  worth about {human(p['effective_data'])} fresh tokens "
            f"({p['effective_data_ratio']:.0%} of those seen; Muennighoff et al. 2023)"
        )
        out.append(
            f"  verdict: {p['shards_for_1_epoch']:,} shards like these to see each token at most once, "
            f"{p['shards_for_4_epochs']:,} for at most 4 epochs (input: {p['shards_in_input']})"
        )
    return "\n".join(out)
