"""Build, stage 4: report.md, written from meta.json alone (so a rerun can write it again)."""

from __future__ import annotations

from dataprep.errors import printable
from dataprep.tables import plural
from dataprep.text.scores import UNSCORED_RULE


def report_md(meta: dict) -> str:
    inputs = plural(len(meta["sources"]), "input file")
    lines = ["# dataprep build", "", f"{inputs}, tokenizer {meta['tokenizer']['name']}, "
             f"dtype {meta['dtype']}, EOT {meta['eot']} after every document.", ""]
    lines += ["| stage | docs | tokens |", "|---|---:|---:|"]
    lines += [f"| {r['stage']} | {r['docs']:,} | {r['tokens']:,} |" for r in meta["waterfall"]]
    lines += _unscored_md(meta)
    lines += ["", f"train.bin: {meta['train_tokens']:,} tokens in {meta['train_docs']:,} documents"]
    lines += [f"val.bin: {meta['val_tokens']:,} tokens in {meta['val_docs']:,} documents{_val_reused_md(meta)}"]
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


def _unscored_md(meta: dict) -> list[str]:
    """Where documents without an edu score were read and the score filter was on: how it treated them."""
    unscored = meta.get("unscored_docs", 0)
    if not unscored or meta["options"]["min_score"] is None:
        return []
    docs = sum(r["docs"] for r in meta["waterfall"] if r["stage"] in ("input", "val input"))
    who = ("no document has an edu score (no score column)" if unscored == docs else
           f"{unscored:,} of the {docs:,} documents have no edu score")
    return ["", f"{who}; {UNSCORED_RULE}"]


def _val_reused_md(meta: dict) -> str:
    """With --val-bin: that val.bin is a copy, and whether train was checked against it."""
    v = meta.get("val_reused")
    if not v:
        return ""
    checked = ("train documents sharing an LSH band with it were dropped (val-overlap)" if v["decontaminated"] else
               "train was not checked against it (no val_bands.npy and meta.json with the same MinHash settings "
               "beside it)")
    return f", copied from --val-bin {printable(v['val_bin'])} (so none of these inputs went to val); {checked}"


def target_md(meta: dict) -> list[str]:
    """The --tokens section: the budget, whether it is met, and what each shard added."""
    t = meta["target"]
    effective = meta["train_tokens"] + meta["val_tokens"]
    lines = ["## Training budget", "",
             f"{t['tokens']:,.0f} tokens seen, at most {plural(t['epochs'], 'epoch')}: a train split of at least "
             f"{t['train_tokens_needed']:,} tokens.", ""]
    taken = plural(t["shards"], "input file")
    if t["met"]:
        first = "the first input file" if t["shards"] == 1 else f"the first {taken}"
        lines += [f"Met with {first}: train {meta['train_tokens']:,} tokens, effective "
                  f"(train + val) {effective:,}; the run sees its train split {t['epochs_planned']:.2f} times."]
    else:
        lines += [f"**Not met**: the train split of the {taken} is {meta['train_tokens']:,} tokens, "
                  f"{t['short_by']:,} ({t['short_by'] / t['train_tokens_needed']:.1%}) short; effective (train + val) "
                  f"{effective:,}. Add input files and rerun the same command to grow the build."]
    lines += ["", "| shards | last file | its tokens | train tokens | effective tokens | added | added / its tokens |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for s in t["steps"]:
        name = printable(s["path"].rsplit("/", 1)[-1])
        lines.append(f"| {s['shard']} | {name} | {s['tokens']:,} | {s['train_tokens']:,} | "
                     f"{s['effective_tokens']:,} | {s['added']:,} | {s['added_share']:.1%} |")
    last = t["steps"][-1] if t["steps"] else None
    if last:
        lines += ["", f"One more shard like the last would add about {last['added']:,} effective tokens "
                      f"({last['added_share']:.1%} of its own), less as the shards overlap more."]
    return lines + [""]
