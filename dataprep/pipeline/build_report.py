"""Build, stage 4: report.md, written from meta.json alone (so a rerun can write it again)."""

from __future__ import annotations


def report_md(meta: dict) -> str:
    lines = ["# dataprep build", "", f"{len(meta['sources'])} input file(s), tokenizer {meta['tokenizer']['name']}, "
             f"dtype {meta['dtype']}, EOT {meta['eot']} after every document.", ""]
    lines += ["| stage | docs | tokens |", "|---|---:|---:|"]
    lines += [f"| {r['stage']} | {r['docs']:,} | {r['tokens']:,} |" for r in meta["waterfall"]]
    lines += ["", f"train.bin: {meta['train_tokens']:,} tokens in {meta['train_docs']:,} documents"]
    lines += [f"val.bin: {meta['val_tokens']:,} tokens in {meta['val_docs']:,} documents"]
    if meta.get("val_floor"):
        floor = meta["val_floor"]
        lines += [f"val candidates: the {floor['took']:,} documents with the smallest id hashes, the floor for a "
                  f"small corpus (--val-fraction {meta['options']['val_fraction']:g} gave {floor['fraction_gave']:,})"]
    lines += [""]
    lsh = meta["options"]["lsh"]
    lines += [f"near duplicates: MinHash {lsh['num_perm']} permutations, {lsh['ngram']}-word shingles, "
              f"threshold {lsh['threshold']}; files: {', '.join(meta['files'].get('llmc', [])) or 'train.bin, val.bin'}", ""]
    if meta.get("target"):
        lines += target_md(meta)
    return "\n".join(lines)


def target_md(meta: dict) -> list[str]:
    """The --tokens section: the budget, whether it is met, and what each shard added."""
    t = meta["target"]
    effective = meta["train_tokens"] + meta["val_tokens"]
    lines = ["## Training budget", "",
             f"{t['tokens']:,.0f} tokens seen, at most {t['epochs']:g} epoch(s): a train split of at least "
             f"{t['train_tokens_needed']:,} tokens.", ""]
    if t["met"]:
        lines += [f"Met with the first {t['shards']} input file(s): train {meta['train_tokens']:,} tokens, effective "
                  f"(train + val) {effective:,}; the run sees its train split {t['epochs_planned']:.2f} times."]
    else:
        lines += [f"**Not met**: all {t['shards']} input file(s) give a train split of {meta['train_tokens']:,} tokens, "
                  f"{t['short_by']:,} ({t['short_by'] / t['train_tokens_needed']:.1%}) short; effective (train + val) "
                  f"{effective:,}. Add input files and rerun the same command to grow the build."]
    lines += ["", "| shards | last file | its tokens | train tokens | effective tokens | added | added / its tokens |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for s in t["steps"]:
        lines.append(f"| {s['shard']} | {s['path'].rsplit('/', 1)[-1]} | {s['tokens']:,} | {s['train_tokens']:,} | "
                     f"{s['effective_tokens']:,} | {s['added']:,} | {s['added_share']:.1%} |")
    last = t["steps"][-1] if t["steps"] else None
    if last:
        lines += ["", f"One more shard like the last would add about {last['added']:,} effective tokens "
                      f"({last['added_share']:.1%} of its own), less as the shards overlap more."]
    return lines + [""]
