#!/usr/bin/env python3
"""Convert the ManimBench parquet release into the toolkit's JSONL (id, description, code, type, split).

Sources, in order of preference:
  --from-dir DIR   local parquet files (e.g. ../shared/manimbench/manimbench_v1_all.parquet)
  --hf             download the Hugging Face dataset SuienR/ManimBench-v1 (needs internet)

The id is the pandas index column (__index_level_0__), stable across releases. The prompt is
"Reviewed Description" (the human-reviewed text the paper uses). Needs pyarrow.
"""
import argparse
import json
import os
import sys
import tempfile
import urllib.request

HF_BASE = "https://huggingface.co/datasets/SuienR/ManimBench-v1/resolve/main/"
HF_FILES = ["manim_sft_dataset_all.parquet", "manim_sft_dataset_train_v2.parquet", "manim_sft_dataset_test_v2.parquet"]


def read_rows(path):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = table.column_names
    need = ["Reviewed Description", "Code", "Type", "Split"]
    missing = [c for c in need if c not in cols]
    if missing:
        sys.exit(f"error: {path} lacks columns {missing}; is this a ManimBench parquet file?")
    data = table.to_pydict()
    ids = data.get("__index_level_0__") or list(range(table.num_rows))
    for i in range(table.num_rows):
        yield {
            "id": str(ids[i]),
            "description": (data["Reviewed Description"][i] or "").strip(),
            "code": data["Code"][i] or "",
            "type": data["Type"][i] or "",
            "split": data["Split"][i] or "",
        }


def pick_files(directory):
    names = sorted(os.listdir(directory))
    alls = [n for n in names if n.endswith(".parquet") and "_all" in n]
    if alls:
        return [os.path.join(directory, alls[0])]
    parts = [os.path.join(directory, n) for n in names if n.endswith(".parquet")]
    if not parts:
        sys.exit(f"error: no .parquet files in {directory}")
    return parts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-dir", help="directory holding the ManimBench parquet files")
    src.add_argument("--hf", action="store_true", help="download from Hugging Face (needs internet)")
    ap.add_argument("--out", required=True, help="output JSONL path")
    args = ap.parse_args()

    if args.hf:
        tmp = tempfile.mkdtemp(prefix="manimbench-")
        url = HF_BASE + HF_FILES[0]
        try:
            urllib.request.urlretrieve(url, os.path.join(tmp, HF_FILES[0]))
        except Exception as e:  # noqa: BLE001 - report any download failure plainly
            sys.exit(f"error: cannot download {url}: {e}; use --from-dir with local parquet files")
        files = [os.path.join(tmp, HF_FILES[0])]
    else:
        if not os.path.isdir(args.from_dir):
            sys.exit(f"error: {args.from_dir} is not a directory")
        files = pick_files(args.from_dir)

    rows, seen = [], set()
    for f in files:
        for r in read_rows(f):
            if r["id"] in seen:
                continue
            seen.add(r["id"])
            rows.append(r)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp_out, args.out)
    by_split = {}
    for r in rows:
        by_split[r["split"]] = by_split.get(r["split"], 0) + 1
    print(f"wrote {len(rows)} tasks to {args.out} ({', '.join(f'{k} {v}' for k, v in sorted(by_split.items()))})")


if __name__ == "__main__":
    main()
