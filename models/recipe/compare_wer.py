#!/usr/bin/env python3
"""Is model B's WER really lower than model A's on the same utterances? A paired bootstrap.

  compare_wer.py --a before/test_va_f32_beam.jsonl --b after/test_va_f32_beam.jsonl [--name va] ...

--a and --b are hyps JSONL files of the same set (rows with audio, ref, hyp, as evaluate.py and
batch_wer.py --hyps-dir write them), repeated once per set and paired by position. Each set
prints both WERs and B - A in points, with a 95% interval from resampling the set's utterances
with replacement (the same draw for A and B: the models saw the same audio), and the share of
draws in which B is better. The test sets here are small (real_dev: 20 utterances and 398
words; ps_testdata: 11 and 96), so a difference of a few points can be noise; this says how
much.
"""
import argparse
import json
import os
import random
import sys
from typing import List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode import edit_distance, normalize_text  # noqa: E402


def read_hyps(path: str) -> dict:
    rows = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[r["audio"]] = r
    return rows


def utterance_counts(a: dict, b: dict) -> List[Tuple[int, int, int]]:
    """(words, errors of A, errors of B) per utterance; both files must hold the same audio
    with the same reference."""
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))[:3]
        raise SystemExit(f"the two files do not hold the same utterances (e.g. {only})")
    out = []
    for audio in sorted(a):
        if a[audio]["ref"] != b[audio]["ref"]:
            raise SystemExit(f"{audio}: the references differ")
        # word counts as decode.ErrorRate makes them (same normalization), without its CER
        ref = normalize_text(a[audio]["ref"]).split()
        out.append((len(ref), edit_distance(ref, normalize_text(a[audio]["hyp"]).split()),
                    edit_distance(ref, normalize_text(b[audio]["hyp"]).split())))
    return out


def paired_bootstrap(counts: List[Tuple[int, int, int]], draws: int = 2000, seed: int = 1) -> dict:
    words = sum(c[0] for c in counts)
    wer_a = 100.0 * sum(c[1] for c in counts) / max(1, words)
    wer_b = 100.0 * sum(c[2] for c in counts) / max(1, words)
    rng = random.Random(seed)
    diffs, better = [], 0
    for _ in range(draws):
        sample = [counts[rng.randrange(len(counts))] for _ in counts]
        w = max(1, sum(c[0] for c in sample))
        d = 100.0 * (sum(c[2] for c in sample) - sum(c[1] for c in sample)) / w
        diffs.append(d)
        better += d < 0
    diffs.sort()
    lo, hi = diffs[int(0.025 * draws)], diffs[int(0.975 * draws) - 1]
    return {"utts": len(counts), "words": words, "wer_a": round(wer_a, 2), "wer_b": round(wer_b, 2),
            "diff": round(wer_b - wer_a, 2), "ci95": [round(lo, 2), round(hi, 2)],
            "p_b_better": round(better / draws, 3)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--a", action="append", required=True, help="hyps JSONL of model A (repeat per set)")
    ap.add_argument("--b", action="append", required=True, help="hyps JSONL of model B, same sets in order")
    ap.add_argument("--name", action="append", default=None, help="set names, in order")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    if len(a.a) != len(a.b) or (a.name and len(a.name) != len(a.a)):
        raise SystemExit("give as many --b (and --name) as --a")
    names = a.name or [os.path.basename(p) for p in a.a]
    results = []
    for name, pa, pb in zip(names, a.a, a.b):
        r = {"set": name, **paired_bootstrap(utterance_counts(read_hyps(pa), read_hyps(pb)), a.draws)}
        print(f"{name:>24}: A {r['wer_a']:6.2f}  B {r['wer_b']:6.2f}  B-A {r['diff']:+6.2f} "
              f"[{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]  P(B better) {r['p_b_better']:.3f}  "
              f"({r['utts']} utts, {r['words']} words)", flush=True)
        results.append(r)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
