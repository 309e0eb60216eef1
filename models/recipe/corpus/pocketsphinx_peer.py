"""Debian's pocketsphinx (python3-pocketsphinx + pocketsphinx-en-us: the en-us acoustic model,
its general US English LM and CMUdict) on the same test manifests, as the WER peer.

  python3 -m corpus.pocketsphinx_peer work/testsets/test_va.jsonl ... --out work/testsets/pocketsphinx.json

Prints and writes WER/CER per manifest and per voice, and hypotheses (JSONL beside --out).
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus.audio_io import read_audio  # noqa: E402
from corpus.normalize import normalize  # noqa: E402
from corpus.wer import ErrorRate  # noqa: E402

MODEL = "/usr/share/pocketsphinx/model/en-us"
_DEC = None


def _decoder():
    global _DEC
    if _DEC is None:
        from pocketsphinx import Decoder
        cfg = Decoder.default_config()
        cfg.set_string("-hmm", os.path.join(MODEL, "en-us"))
        cfg.set_string("-lm", os.path.join(MODEL, "en-us.lm.bin"))
        cfg.set_string("-dict", os.path.join(MODEL, "cmudict-en-us.dict"))
        cfg.set_string("-logfn", "/dev/null")
        _DEC = Decoder(cfg)
    return _DEC


def clean_hyp(words: str) -> str:
    # Drop CMUdict alternate-pronunciation markers ("read(2)") and fillers.
    out = []
    for w in words.split():
        w = w.split("(")[0]
        if w.startswith("<") or w.startswith("[") or w.startswith("++"):
            continue
        out.append(w)
    return normalize(" ".join(out), allow_acronyms=True) or ""


def recognize(path: str) -> str:
    x = read_audio(path)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    dec = _decoder()
    dec.start_utt()
    dec.process_raw(pcm, False, True)
    dec.end_utt()
    hyp = dec.hyp()
    return clean_hyp(hyp.hypstr if hyp else "")


def _one(args):
    path, row = args
    return row, recognize(path)


def evaluate(manifests: list[str], workers: int) -> tuple[dict, list[dict]]:
    tasks = []
    for m in manifests:
        base = os.path.dirname(os.path.abspath(m))
        for line in open(m, encoding="utf-8"):
            r = json.loads(line)
            r["_set"] = os.path.splitext(os.path.basename(m))[0]
            tasks.append((os.path.join(base, r["audio"]), r))
    per_set = collections.defaultdict(ErrorRate)
    per_voice = collections.defaultdict(ErrorRate)
    hyps = []
    with mp.Pool(workers) as pool:
        for row, hyp in pool.imap(_one, tasks, chunksize=4):
            per_set[row["_set"]].add(row["text"], hyp)
            per_voice[(row["_set"], row["voice"])].add(row["text"], hyp)
            hyps.append({"set": row["_set"], "audio": row["audio"], "voice": row["voice"],
                         "ref": row["text"], "hyp": hyp})
    res = {"peer": "pocketsphinx (Debian bookworm 0.8+5prealpha, en-us model + en-us.lm.bin)",
           "sets": {k: v.summary() for k, v in sorted(per_set.items())},
           "voices": {f"{s}/{v}": e.summary() for (s, v), e in sorted(per_voice.items())}}
    return res, hyps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    res, hyps = evaluate(a.manifests, a.workers)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.splitext(a.out)[0] + ".hyps.jsonl", "w") as f:
        for h in hyps:
            f.write(json.dumps(h) + "\n")
    for k, v in res["sets"].items():
        print(f"pocketsphinx {k:14s} WER {100 * v['wer']:5.1f}%  CER {100 * v['cer']:5.1f}%  ({v['utts']} utts)")
    for k, v in res["voices"].items():
        print(f"pocketsphinx   {k:40s} WER {100 * v['wer']:5.1f}%")


if __name__ == "__main__":
    main()
