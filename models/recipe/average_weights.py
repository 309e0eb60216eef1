#!/usr/bin/env python3
"""Weight averaging of exported model folders of the same architecture (checkpoint averaging).

  average_weights.py --model NEW --model OLD --share 0.75,0.25 --out DIR

DIR gets a copy of the first folder with weights.safetensors replaced by the weighted mean of
the folders' weights (computed in float32, stored in the first folder's dtypes). The goldens
are the first folder's and no longer match, so DIR is for evaluation (batch_wer.py), not for
shipping as is: a folder to ship is exported again by export.py. Used to check whether mixing
the default model with its predecessor helps (runs/2026-11-29c-h200/README.md).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402


def average(folders, shares):
    if len(folders) != len(shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise SystemExit("give one share per --model, summing to 1")
    sections = [json.load(open(os.path.join(f, "model.json"))) for f in folders]
    arch = [{k: s.get(k) for k in ("frontend", "subsampling", "encoder", "predictor", "joiner", "vocab")}
            for s in sections]
    if any(a != arch[0] for a in arch[1:]):
        raise SystemExit("the folders' architectures differ (model.json)")
    weights = [read_safetensors(os.path.join(f, "weights.safetensors")) for f in folders]
    first, meta = weights[0]
    out = {}
    for name, t in first.items():
        if not t.is_floating_point():
            out[name] = t
            continue
        acc = sum(share * w[name].float() for share, (w, _) in zip(shares, weights))
        out[name] = acc.to(t.dtype)
    return out, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--share", required=True, help="comma list, one per --model")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    shares = [float(x) for x in a.share.split(",")]
    out, meta = average(a.model, shares)
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    shutil.copytree(a.model[0], a.out)
    write_safetensors(os.path.join(a.out, "weights.safetensors"), out, meta)
    print(f"wrote {a.out}: {len(out)} tensors, shares {shares}")


if __name__ == "__main__":
    main()
