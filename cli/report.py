"""Terminal rendering of the estimate report (the JSON report is the source)."""

from __future__ import annotations

from dataprep.dedup.decide import tokens_left
from dataprep.tables import count, plural, render, share
from dataprep.text.scores import UNSCORED_RULE

# What estimate --fast cannot know, said where its numbers are shown.
FAST_LIMITS = ("--fast read the metadata columns only (token_count, scores), no text: exact and near duplicates, "
               "boilerplate, the val split and diversity were not measured")


def render_estimate(r: dict) -> str:
    tokens = r["tokens"]
    fast = r["effective_is_upper_bound"]
    out = [f"dataprep estimate ({r['mode']} mode): {plural(len(r['files']), 'file')}, schema {r['schema']}",
           f"  documents   {r['docs']:,}"]
    if r["text_bytes"] is not None:
        out.append(f"  text        {count(r['text_bytes'])}B")
    out.append(f"  tokens      {tokens:,} ({count(tokens)}), one <|endoftext|> per document, from {r['tokens_source']}")
    if r["token_count_column"] is not None and not fast:  # --fast's tokens are this column: nothing to compare
        col = r["token_count_column"] + r["docs"]
        out.append(f"  token_count column + EOT: {col:,} ({share(col - tokens, tokens)} off the exact count)")
    if fast:
        out.append(f"  {FAST_LIMITS}")
    out += [""] + _score_lines(r)
    if r["mode"] == "full":
        out += _dedup_lines(r)
    out += [""] + _waterfall_lines(r)
    if "plan" in r:
        out += [""] + _plan_lines(r["plan"], fast)
    return "\n".join(out)


def _score_lines(r: dict) -> list[str]:
    if not r["score_present"]:
        return [f"edu score: no score column in this input (plain FineWeb or other text); {UNSCORED_RULE}"]
    tokens = r["tokens"]
    hist = r["score_histogram"]
    rows = [(k, f"{v['docs']:,}", f"{v['tokens']:,}", share(v["tokens"], tokens)) for k, v in hist.items()]
    out = ["edu score mix (int_score)", render(["score", "docs", "tokens", "share"], rows),
           f"tokens at score >= {r['min_score']:g}: {r['tokens_at_or_above_min_score']:,} "
           f"({share(r['tokens_at_or_above_min_score'], tokens)})"]
    if "none" in hist:
        none = hist["none"]
        out.append(f"tokens without a score: {none['tokens']:,} ({share(none['tokens'], tokens)}, "
                   f"{plural(none['docs'], 'document')}); {UNSCORED_RULE}")
    return out


def _dedup_lines(r: dict) -> list[str]:
    lsh = r["lsh"]
    det = ", ".join(f"J={j}: {p:.1%}" for j, p in lsh["detection_probability"].items())
    sizes = ", ".join(f"{k}: {v}" for k, v in r["cluster_sizes"].items() if v)
    out = ["", f"near duplicates: MinHash {lsh['num_perm']} perms, {lsh['ngram']}-word shingles, {lsh['bands']} bands "
               f"x {lsh['rows']} rows (threshold ~{lsh['implied_threshold']:.2f}); detection {det}",
           f"  {r['near_duplicate_clusters']:,} clusters, largest {r['largest_cluster']}; sizes {sizes or 'none'}",
           "", f"boilerplate: {r['boilerplate_lines']:,} lines recur in >= {r['boilerplate_min_docs']} kept documents"]
    for item in r["boilerplate_top"]:
        text = item["line"] if len(item["line"]) <= 70 else item["line"][:67] + "..."
        out.append(f"  {item['docs']:>8,} docs  {text}")
    return out


def _waterfall_lines(r: dict) -> list[str]:
    tokens, fast = r["tokens"], r["effective_is_upper_bound"]
    rows = [(stage, f"-{removed:,}" if removed else "", f"{left:,}", share(left, tokens))
            for stage, removed, left in tokens_left(r["waterfall"], fast)]
    out = ["token waterfall (--fast: the filters only, nothing deduplicated)" if fast else
           "token waterfall (what build writes with the same rules: train + val)",
           render(["stage", "removed", "tokens left", "of raw"], rows)]
    if r["boilerplate_tokens"] and not r["rules"]["strip_boilerplate"]:
        out.append(f"boilerplate lines hold {r['boilerplate_tokens']:,} of these tokens; --strip-boilerplate removes them")
    if fast:
        out.append(f"effective unique tokens: at most {r['effective_tokens']:,} ({count(r['effective_tokens'])}): "
                   "--fast does not deduplicate")
    else:
        out.append(f"effective unique tokens: {r['effective_tokens']:,} ({count(r['effective_tokens'])})")
    if r.get("diversity"):
        d = r["diversity"]
        frac = "-" if d["distinct_fraction"] is None else f"{d['distinct_fraction']:.1%}"
        out.append(f"diversity: {frac} of {d['ngrams']:,} token {d['ngram']}-grams are distinct (HyperLogLog++)")
    return out


def _plan_lines(p: dict, fast: bool) -> list[str]:
    out = [f"training plan: {count(p['params'])} parameters, {count(p['tokens_seen'])} tokens seen",
           f"  epochs over the effective tokens: {p['epochs']:.2f}",
           f"  compute-optimal budget (20 tokens/param): {count(p['compute_optimal_tokens'])}",
           f"  worth about {count(p['effective_data'])} fresh tokens "
           f"({p['effective_data_ratio']:.0%} of those seen; Muennighoff et al. 2023)",
           f"  verdict: {p['shards_for_1_epoch']:,} shards like these to see each token at most once, "
           f"{p['shards_for_4_epochs']:,} for at most 4 epochs (input: {plural(p['shards_in_input'], 'file')})"]
    if fast:
        out.append("  (--fast: the effective tokens are an upper bound, so these epochs and shards are lower bounds)")
    out += ["  build it (files taken in order until the train split holds the tokens seen):",
            f"    {p['build_command']}"]
    if p.get("build_note"):
        out.append(f"  ({p['build_note']})")
    return out
