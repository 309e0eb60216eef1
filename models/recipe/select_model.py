#!/usr/bin/env python3
"""Which of a run's model folders should become the default model? The recipe's selection rule,
as one command: the C++ engine's word errors, summed over dev sets, fewest wins.

  select_model.py --batch build/client/batch/ancat-batch \
      --candidate current=models/ancat-en --candidate ancat=work/gpuN/model-ancat [...] \
      --set dev=work/finalize/dev/dev_syn.jsonl \
      --set dev_unheard=work/finalize/dev/dev_unheard.jsonl \
      --set real_dev=work/testsets/real_dev.jsonl [--hyps-dir DIR] [--out choice.json]

List the current default first: a tie keeps it, since every replaced model stays in the git
history for good. Give dev sets only. A choice made on the test sets would be tuned to them,
and their numbers would no longer say how the model does on speech it has not seen. Greedy
search at f32 by default: it scores the network itself, not an LM setting that finalize.py
tunes afterwards.
"""
import argparse
import json
import os
import sys
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch_wer import run_batch, score_hyps, write_hyps  # noqa: E402
from data import read_manifest  # noqa: E402


def pick(totals: Dict[str, int]) -> str:
    """The candidate with the fewest errors; on a tie, the one listed first (dicts keep order)."""
    return min(totals, key=lambda name: (totals[name], list(totals).index(name)))


def score(a, name: str, folder: str, sets: List[tuple]) -> dict:
    per_set = {}
    for set_name, entries in sets:
        hyps, _ = run_batch(a.batch, folder, [e["audio"] for e in entries], a.compute_type,
                            a.decoding, [])
        er, missing = score_hyps(entries, hyps)
        if missing:  # an unread file would count as all deletions and skew the sum
            raise SystemExit(f"select_model: {name} gave no transcript for {missing} files of "
                             f"{set_name}")
        per_set[set_name] = {"errors": er.word_err, "words": er.words, "wer": round(er.wer, 2)}
        if a.hyps_dir:
            write_hyps(os.path.join(a.hyps_dir, name), f"{set_name}_{a.compute_type}_{a.decoding}.jsonl",
                       entries, hyps)
    return {"folder": folder, "sets": per_set, "errors": sum(s["errors"] for s in per_set.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", required=True, help="ancat-batch binary")
    ap.add_argument("--candidate", action="append", required=True,
                    help="NAME=FOLDER, repeatable; the current default first")
    ap.add_argument("--set", action="append", required=True, help="NAME=MANIFEST of a dev set")
    ap.add_argument("--compute-type", default="f32")
    ap.add_argument("--decoding", default="greedy", choices=["greedy", "beam"])
    ap.add_argument("--hyps-dir", default="", help="keep each candidate's transcripts here")
    ap.add_argument("--out", default="", help="write the table and the choice as JSON")
    a = ap.parse_args(argv)
    candidates = [c.split("=", 1) for c in a.candidate]
    if any(len(c) != 2 for c in candidates) or len({n for n, _ in candidates}) != len(candidates):
        raise SystemExit("select_model: each --candidate is NAME=FOLDER, with distinct names")
    sets = [(n, read_manifest(p)) for n, p in (s.split("=", 1) for s in a.set)]
    rows = {name: score(a, name, folder, sets) for name, folder in candidates}
    choice = pick({name: r["errors"] for name, r in rows.items()})
    words = sum(s["words"] for s in next(iter(rows.values()))["sets"].values())
    print(f"{'candidate':<16}" + "".join(f"{n:>14}" for n, _ in sets) + f"{'errors':>10}")
    for name, r in rows.items():
        print(f"{name:<16}" + "".join(f"{r['sets'][n]['wer']:>13.2f}%" for n, _ in sets)
              + f"{r['errors']:>10}" + ("   <- choice" if name == choice else ""))
    print(f"choice: {choice} ({rows[choice]['errors']} errors of {words} words; "
          f"{candidates[0][0]}, listed first, {rows[candidates[0][0]]['errors']})")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"compute_type": a.compute_type, "decoding": a.decoding, "words": words,
                       "candidates": rows, "choice": choice}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
