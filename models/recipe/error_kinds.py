#!/usr/bin/env python3
"""Substitutions, deletions and insertions in hyps JSONL files (rows with ref and hyp, as
evaluate.py and batch_wer.py --hyps-dir write them), one line per file.

  error_kinds.py work/hyps/real_dev_f32_greedy.jsonl [...]

A model that drops words (many deletions, few insertions) is what a blank penalty in beam
search addresses (models/FORMAT.md, decoding.blank_penalty).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus.wer import error_kinds  # noqa: E402
from decode import normalize_text  # noqa: E402


def count(path: str) -> dict:
    words = sub = dele = ins = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            ref, hyp = normalize_text(r["ref"]).split(), normalize_text(r["hyp"]).split()
            s, d, i = error_kinds(ref, hyp)
            words, sub, dele, ins = words + len(ref), sub + s, dele + d, ins + i
    return {"file": path, "words": words, "substitutions": sub, "deletions": dele,
            "insertions": ins}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("hyps", nargs="+")
    rows = [count(p) for p in ap.parse_args(argv).hyps]
    for r in rows:
        print(f"{r['file']}: {r['words']} words, {r['substitutions']} substitutions, "
              f"{r['deletions']} deletions, {r['insertions']} insertions")
    return rows


if __name__ == "__main__":
    main()
