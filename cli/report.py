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


def render_forecast(f: dict) -> str:
    """The dataset forecast section of ``estimate --forecast``."""
    files, read = f["files"], f["read_in_full"]
    out = [f"dataset forecast: {f['dataset']}",
           f"  {files:,} files, {f['docs']:,} documents, {f['tokens']:,} tokens ({count(f['tokens'])}; token_count + "
           "one EOT per document, from the metadata of every file)",
           f"  metadata read by byte ranges: {f['metadata_bytes']:,} bytes of the {files - len(read):,} files not read "
           f"in full ({f['metadata_file_bytes']:,} bytes, {share(f['metadata_bytes'], f['metadata_file_bytes'])})",
           f"  read in full: {len(read)} files, {sum(r['bytes'] for r in read):,} bytes (files "
           f"{', '.join(str(r['file']) for r in read)})",
           f"  the filters keep {f['filtered_tokens']:,} tokens ({share(f['filtered_tokens'], f['tokens'])})"]
    out += _duplication_lines(f)
    out += ["", "effective tokens after the first N files (what build writes with the same rules: train + val)"]
    measured = {m["shards"]: m["effective_tokens"] for m in f["measured"]}
    target = f["target"] or {}
    rows = [f["curve"][n - 1] for n in _shown_rows(files, len(read), target.get("shards"))]
    out.append(render(["files", "raw tokens", "effective (forecast)", "band", "of raw", "measured*"],
                      [(r["shards"], f"{r['raw_tokens']:,}", f"{r['effective_tokens']:,}",
                        f"{count(r['low'])} - {count(r['high'])}", share(r["effective_tokens"], r["raw_tokens"]),
                        f"{measured[r['shards']]:,}" if r["shards"] in measured else "") for r in rows]))
    out.append(f"*: the share of the filtered tokens kept by the files read (each alone, in pairs, all {len(read)}), "
               "times the filtered tokens of the first N files")
    out.append(f"measured on {len(read)} files read in full, extrapolated to {files:,}: {f['extrapolation']:.1f}x beyond "
               "them. Past the files read the forecast is a model's, and its band widens with the distance.")
    if f["target"]:
        out += _target_lines(f["target"], files)
    return "\n".join(out)


def _duplication_lines(f: dict) -> list[str]:
    first, last = f["pairs"][0] if f["pairs"] else None, f["pairs"][-1] if f["pairs"] else None
    out = [f"  duplication in the files read: a file alone keeps {f['within_file_survival']:.1%} of the tokens that "
           "pass the filters"]
    if first:
        out.append(f"  across files: {first['rate']:.1%} of a file's documents have a copy in the other file of the first "
                   f"pair read (files {first['files'][0]} and {first['files'][1]}), {last['rate']:.1%} in the last "
                   f"(files {last['files'][0]} and {last['files'][1]})")
        links = " / ".join(f"{x:.1%}" for x in f["links"])
        out.append(f"  tokens with copies in 0 / 1 / ... / {len(f['links']) - 1} of the other files read: {links}")
    if not f["alike"]["alike"]:
        out.append("  warning: the files read are not alike, as the shards of a mixed sample would be (their duplication "
                   "differs by more than 3 standard errors: "
                   + ", ".join(f"{k} {v:+.1f}" for k, v in f["alike"].items() if k != "alike")
                   + "); the forecast assumes they are, so its band also spans what the least and the most "
                     "duplicated of them say, and the real curve may still fall outside it")
    return out


def _shown_rows(files: int, read: int, needed: int | None) -> list[int]:
    wanted = {1, 2, read, files // 4, files // 2, files, needed or 0}
    return sorted(n for n in wanted if 1 <= n <= files)


def _target_lines(t: dict, files: int) -> list[str]:
    budget = f"{count(t['tokens'])} tokens seen, at most {t['epochs']:g} epoch(s): a train split of {t['train_tokens_needed']:,}"

    def shards(n: int | None) -> str:
        return f"{n:,}" if n is not None else f"more than the {files:,}"

    out = [""]
    if t["shards"] is None:
        out.append(f"budget: {budget} tokens is more than the forecast for all {files:,} files (the band's high edge "
                   + ("reaches it at " + shards(t["shards_if_high"]) + " files)" if t["shards_if_high"] else "does not either)"))
    else:
        out.append(f"budget: {budget} tokens needs the first {t['shards']:,} files (across the band: "
                   f"{shards(t['shards_if_high'])} to {shards(t['shards_if_low'])})")
    if t.get("build_command"):
        out += ["  build it (files taken in order until the train split holds the budget):", f"    {t['build_command']}"]
    return out


def render_forecast_check(c: dict) -> str:
    """``build --forecast``: the estimate's forecast beside what the build measured, step by step (markdown)."""
    out = ["## Forecast and build", "", f"The forecast of {c['dataset']} (estimate --forecast) beside this build:", ""]
    rows = [(r["shards"], f"{r['measured']:,}", f"{r['forecast']:,}", f"{r['low']:,} - {r['high']:,}",
             f"{(r['measured'] - r['forecast']) / max(r['forecast'], 1):+.1%}", "yes" if r["within_band"] else "**no**",
             "-" if r["measured_added_share"] is None else f"{r['measured_added_share']:.1%}",
             f"{r['forecast_added_share']:.1%}") for r in c["rows"]]
    out.append(render(["shards", "effective tokens", "forecast", "band", "off by", "in band", "added / its tokens",
                       "forecast added"], rows, markdown=True))
    if not c["rows"]:
        out.append("(the build has more shards than the forecast's dataset: nothing to compare)")
    out += [f"Not comparable as it stands: {d}." for d in c["differences"]]
    held = sum(r["within_band"] for r in c["rows"])
    if c["rows"]:
        out += ["", f"{held} of {len(c['rows'])} step(s) fall within the forecast's band."]
    return "\n".join(out) + "\n"
