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
    return "\n".join(lines)
