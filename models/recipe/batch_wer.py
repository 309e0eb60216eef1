#!/usr/bin/env python3
"""WER of the C++ engine (ancat-batch) on JSONL test sets, for each compute type and search.

  batch_wer.py --batch build/client/batch/ancat-batch --model models/ancat-en \
      --set va=work/testsets/test_va.jsonl --set real=work/testsets/real_dev.jsonl \
      --compute-type f32,bf16,int8 --decoding greedy,beam [--no-lm] --out results.json \
      [--hyps-dir DIR]

--hyps-dir keeps every run's transcripts, one JSONL per set/compute type/search with the rows
of evaluate.py's hyps files (audio, ref, hyp, voice), for compare_wer.py.

This is the figure the runtime ships (the recipe's evaluate.py scores the PyTorch model), and
it measures what bf16 and int8 execution cost in accuracy: every run decodes the same audio
with the same model, only the engine's arithmetic or search changes. Scored with the same
normalization and counting as evaluate.py (decode.ErrorRate).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import read_manifest  # noqa: E402
from decode import ErrorRate  # noqa: E402


def run_batch(binary: str, model: str, paths, compute: str, decoding: str, extra) -> tuple:
    """(audio path -> text, wall seconds) from one ancat-batch run. compute: a compute type,
    or TYPE+kvbf16 for a bf16 key/value cache as well."""
    compute, _, kv = compute.partition("+kv")
    extra = [*extra, f"--kv_cache={kv or 'f32'}"]
    with tempfile.TemporaryDirectory() as d:
        lst, out = os.path.join(d, "list.txt"), os.path.join(d, "out.jsonl")
        with open(lst, "w") as f:
            f.write("".join(p + "\n" for p in paths))
        cmd = [binary, "--model", model, "--input", lst, "--output", out,
               f"--compute_type={compute}", f"--decoding={decoding}", *extra]
        t0 = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.time() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
        hyps = {}
        with open(out) as f:
            for line in f:
                row = json.loads(line)
                hyps[row["audio"]] = row.get("text", "")
    return hyps, wall


def score_hyps(entries, hyps: dict) -> tuple:
    """(ErrorRate over entries, number of entries without a transcript)."""
    er, missing = ErrorRate(), 0
    for e in entries:
        missing += e["audio"] not in hyps
        er.add(e["text"], hyps.get(e["audio"], ""))
    return er, missing


def write_hyps(folder: str, fname: str, entries, hyps: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, fname), "w") as f:
        for e in entries:
            f.write(json.dumps({"audio": e["audio"], "ref": e["text"], "hyp": hyps.get(e["audio"], ""),
                                "voice": e.get("voice", "")}) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", required=True, help="ancat-batch binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("--set", action="append", required=True, help="NAME=MANIFEST")
    ap.add_argument("--compute-type", default="f32",
                    help="comma list of f32, bf16, int8; TYPE+kvbf16 adds a bf16 key/value cache")
    ap.add_argument("--decoding", default="greedy", help="comma list of greedy, beam")
    ap.add_argument("--no-lm", action="store_true", help="beam search without the model's LM")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--hyps-dir", default="", help="write each run's transcripts here")
    a = ap.parse_args(argv)
    extra = ["--lm_weight=0"] if a.no_lm else []
    results = []
    for spec in a.set:
        name, _, path = spec.partition("=")
        entries = read_manifest(path)
        if a.limit:
            entries = entries[:a.limit]
        paths = [e["audio"] for e in entries]
        for decoding in a.decoding.split(","):
            for compute in a.compute_type.split(","):
                hyps, wall = run_batch(a.batch, a.model, paths, compute, decoding, extra)
                er, missing = score_hyps(entries, hyps)
                row = {"set": name, "compute_type": compute, "decoding": decoding,
                       "lm": decoding == "beam" and not a.no_lm, "wer": round(er.wer, 2),
                       "cer": round(er.cer, 2), "utts": er.n, "words": er.words,
                       "failed_files": missing, "wall_s": round(wall, 1)}
                print(json.dumps(row), flush=True)
                results.append(row)
                if a.hyps_dir:
                    write_hyps(a.hyps_dir, f"{name}_{compute}_{decoding}.jsonl", entries, hyps)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
