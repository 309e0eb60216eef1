#!/usr/bin/env python3
"""Writes a synthetic smoke-test set: WAVs of tone sequences + noise with template texts, and
a manifest. It recognizes nothing meaningful; it exercises the whole training pipeline at
realistic sizes (reading, augmentation, bucketing, fbank, three variants) on a fresh machine.

  make_synthetic_set.py --out /tmp/syn --n 3000
"""
import argparse
import json
import os
import sys
import wave
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_model import tiny_sentences  # noqa: E402


def render(job):
    i, text, out = job
    rng = np.random.default_rng(i)
    sr = 16000
    # one 120 ms tone per letter: the text is (weakly) recoverable from the audio
    segs = []
    for ch in text:
        n = int(0.12 * sr)
        f0 = 150 + 40 * (ord(ch) % 32)
        t = np.arange(n) / sr
        segs.append(0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(n))
    x = np.concatenate(segs) + rng.normal(0, 0.01, sum(len(s) for s in segs))
    path = os.path.join(out, f"{i:06d}.wav")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return {"audio": os.path.basename(path), "duration": round(len(x) / sr, 3), "text": text,
            "voice": f"tone{i % 4}", "split": "train" if i % 20 else "test"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    texts = tiny_sentences(a.n, seed=3)
    with ProcessPoolExecutor(a.workers) as ex:
        rows = list(ex.map(render, [(i, t, a.out) for i, t in enumerate(texts)], chunksize=32))
    with open(os.path.join(a.out, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(a.out, "text.txt"), "w") as f:
        f.write("\n".join(tiny_sentences(20000, seed=4)) + "\n")
    print(f"{len(rows)} utterances, {sum(r['duration'] for r in rows) / 3600:.2f} h -> {a.out}")


if __name__ == "__main__":
    main()
