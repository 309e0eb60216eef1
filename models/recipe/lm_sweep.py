#!/usr/bin/env python3
"""WER of the C++ engine's beam search over a grid of LM files, weights, word bonuses, blank
penalties and beam sizes, on JSONL sets (a dev set: choosing on test sets would tune to them).

  lm_sweep.py --batch build/client/batch/ancat-batch --model models/ancat-en \
      --lm shipped= --lm blend=work/lm.blend.arpa --weights 0.05,0.1 --bonuses 1 --beams 4,16 \
      [--blank-penalties 0,0.5,1] \
      --set dev=work/finalize/dev/dev_syn.jsonl --set real_dev=work/testsets/real_dev.jsonl

One line per grid point: the WER over all sets' words, then per set. `--lm NAME=PATH` swaps the
folder's LM for PATH (the folder is linked file by file into a temporary one); `NAME=` keeps the
folder's own. finalize.py tunes the shipped weight with the recipe's Python search; this asks
the same questions of the engine that serves, in seconds per point.
"""
import argparse
import itertools
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch_wer import run_batch  # noqa: E402
from data import read_manifest  # noqa: E402
from decode import ErrorRate  # noqa: E402


def folder_with_lm(model: str, lm: str, tmp: str) -> str:
    """model itself, or a folder of links to its files with lm.arpa (model.json's name) replaced."""
    if not lm:
        return model
    lm_file = (json.load(open(os.path.join(model, "model.json"))).get("lm") or {}).get("file")
    if not lm_file:
        raise SystemExit(f"--lm {lm}: {model}/model.json names no LM to replace")
    out = tempfile.mkdtemp(dir=tmp)
    for f in os.listdir(model):
        src = os.path.abspath(lm if f == lm_file else os.path.join(model, f))
        os.symlink(src, os.path.join(out, f))
    return out


def sweep(a) -> list:
    sets = [s.split("=", 1) for s in a.set]
    manifests = {name: read_manifest(path) for name, path in sets}
    lms = [s.split("=", 1) for s in a.lm] or [["model", ""]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for (lm_name, lm_path), w, wb, bp, beam in itertools.product(
                lms, a.weights.split(","), a.bonuses.split(","), a.blank_penalties.split(","),
                a.beams.split(",")):
            model = folder_with_lm(a.model, lm_path, tmp)
            total, per_set = ErrorRate(), {}
            for name, entries in manifests.items():
                hyps, _ = run_batch(a.batch, model, [e["audio"] for e in entries], "f32", "beam",
                                    [f"--lm_weight={w}", f"--word_bonus={wb}",
                                     f"--blank_penalty={bp}", f"--beam={beam}"])
                er = ErrorRate()
                for e in entries:
                    for counts in (er, total):
                        counts.add(e["text"], hyps.get(e["audio"], ""))
                per_set[name] = er.wer
            row = {"lm": lm_name, "weight": float(w), "word_bonus": float(wb),
                   "blank_penalty": float(bp), "beam": int(beam), "wer": total.wer,
                   "per_set": per_set}
            print(f"lm {lm_name} weight {w} bonus {wb} blank {bp} beam {beam}: "
                  f"all {total.wer:.2f} " +
                  " ".join(f"{k} {v:.2f}" for k, v in per_set.items()), flush=True)
            rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", required=True, help="ancat-batch binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("--set", action="append", required=True, help="NAME=MANIFEST")
    ap.add_argument("--lm", action="append", default=[], help="NAME=ARPA (NAME= : the folder's)")
    ap.add_argument("--weights", default="0.05,0.1,0.2")
    ap.add_argument("--bonuses", default="1")
    ap.add_argument("--blank-penalties", default="0",
                    help="subtracted from blank's log-prob per step (0: none)")
    ap.add_argument("--beams", default="4")
    a = ap.parse_args(argv)
    rows = sweep(a)
    best = min(rows, key=lambda r: r["wer"])
    print(f"best: lm {best['lm']} weight {best['weight']} bonus {best['word_bonus']} "
          f"blank {best['blank_penalty']} beam {best['beam']}: {best['wer']:.2f}")


if __name__ == "__main__":
    main()
