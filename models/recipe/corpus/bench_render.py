"""CPU cost of each TTS engine: utterances and seconds of audio per CPU-second (process plus
engine subprocesses, from getrusage, so a busy machine does not distort it). Multiply by the
worker count for the expected rate of `render.py tts` on otherwise idle cores.

  python3 -m corpus.bench_render --text work/text [--n 24] [--voices flite:slt,pico:en-US]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import render as R  # noqa: E402
from corpus import text as T  # noqa: E402
from corpus import voices as V  # noqa: E402

DEFAULT = ("flite:slt,flite:kal,festival:kal_diphone,festival:cmu_us_slt_arctic_hts,"
           "festival:us1_mbrola,pico:en-US,mbrola:mb-us1,mbrola:mb-fr1-en,espeak:en-us+m3")


def cpu_seconds() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--voices", default=DEFAULT)
    a = ap.parse_args(argv)
    env = V.Env.from_environ()
    rows = T.read_train(a.text)
    sents = [s for _, s in random.Random(0).sample(rows, a.n)]
    d = tempfile.mkdtemp(prefix="rc_bench_")
    total_cpu = total_utt = 0.0
    try:
        for spec in a.voices.split(","):
            v = R.parse_voice(spec)
            if not env.available(v):
                print(f"{v.id:34s} not installed")
                continue
            job = {"root": env.root, "voice": v.__dict__, "split": "train", "out_dir": d,
                   "manifest_dir": d, "kind_of": {f"b{i}": "bench" for i in range(len(sents))},
                   "items": [(f"b{i}", s, {"rate": 1.0, "pitch": 1.0}) for i, s in enumerate(sents)]}
            c = cpu_seconds()
            res = R.render_chunk(job)
            c = cpu_seconds() - c
            audio = sum(r["duration"] for r in res["rows"])
            total_cpu += c
            total_utt += len(res["rows"])
            print(f"{v.id:34s} {len(res['rows']) / c:6.1f} utt/CPU-s {audio / c:7.1f}x real time per core"
                  f"  ({len(res['errors'])} errors)")
        print(f"{'all (equal mix)':34s} {total_utt / max(total_cpu, 1e-9):6.1f} utt/CPU-s")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
