"""Held-out test sets, rendered on this (Debian) machine with ONLY the held-out voices.

  python3 -m corpus.make_testsets --text work/text --out work/testsets [--real /work/shared/data/real-speech]

Writes into --out:
  test_va.jsonl, test_gen.jsonl   held-out text (corpus.text build) rendered round-robin by
                                  pico2wave -l en-GB, mbrola us3 (espeak-ng mb-us3) and
                                  festival rab_diphone, default rate and pitch;
  ps_testdata.jsonl               Debian pocketsphinx-testdata real recordings with transcripts
                                  (librivox 5, cards 5, goforward 1);
  real_dev.jsonl                  real-speech dev split (LibriSpeech speakers 3005 and 367);
  audio/...                       16 kHz mono 16-bit WAV.
Needs: libttspico-utils, mbrola-us3, espeak-ng, festival + festvox-rablpc16k, pocketsphinx-testdata.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import render as R  # noqa: E402
from corpus import voices as V  # noqa: E402
from corpus.audio_io import read_audio, write_wav  # noqa: E402
from corpus.normalize import normalize  # noqa: E402

PS_DATA = "/usr/share/pocketsphinx/test/data"
# goforward.raw's transcript is the one pocketsphinx's own decoder tests assert.
PS_EXTRA = [("goforward.raw", "go forward ten meters")]


def render_heldout(lines: list[str], kind: str, split: str, out: str, workers: int) -> list[dict]:
    env = V.Env.from_environ()
    voices = V.test_voices()
    for v in voices:
        if not env.available(v):
            raise SystemExit(f"make_testsets: held-out voice {v.id} is not installed")
    planned = [(kind, s, voices[i % len(voices)], {"rate": 1.0, "pitch": 1.0})
               for i, s in enumerate(lines)]
    jobs = R.make_jobs(planned, os.path.join(out, "audio", split), out, split, env.root,
                       id_prefix=split + "-")
    rows, stats = R.run_jobs(jobs, workers)
    print(f"make_testsets: {split}: {len(rows)}/{len(lines)} rendered, {stats['utt_per_s']} utt/s",
          flush=True)
    R.write_manifest(os.path.join(out, f"{split}.jsonl"), rows)
    return rows


def pocketsphinx_testdata(out: str) -> list[dict]:
    items = []
    for sub in ("librivox", "cards"):
        for line in open(os.path.join(PS_DATA, sub, "transcription" if sub == "librivox"
                                      else "cards.transcription")):
            m = re.match(r"\s*<s>(.*)</s>\s*\(([^)]+)\)", line)
            if m:
                items.append((os.path.join(PS_DATA, sub, m.group(2) + ".wav"), m.group(1)))
    items += [(os.path.join(PS_DATA, f), t) for f, t in PS_EXTRA]
    rows = []
    d = os.path.join(out, "audio", "ps_testdata")
    os.makedirs(d, exist_ok=True)
    for src, text in items:
        if src.endswith(".raw"):
            x = np.fromfile(src, dtype="<i2").astype(np.float32) / 32768.0
        else:
            x = read_audio(src)
        dst = os.path.join(d, os.path.splitext(os.path.basename(src))[0] + ".wav")
        write_wav(dst, x)
        rows.append({"audio": os.path.relpath(dst, out), "duration": round(len(x) / 16000, 3),
                     "text": normalize(text), "voice": "real-pocketsphinx-testdata",
                     "split": "ps_testdata", "kind": "real"})
    R.write_manifest(os.path.join(out, "ps_testdata.jsonl"), rows)
    return rows


def real_dev(real_dir: str, out: str) -> list[dict]:
    rows = []
    for line in open(os.path.join(real_dir, "manifest.jsonl"), encoding="utf-8"):
        r = json.loads(line)
        if r.get("speaker") not in R.REAL_DEV_SPEAKERS:
            continue
        x = read_audio(os.path.join(real_dir, r["audio"]))
        dst = os.path.join(out, "audio", "real_dev", os.path.basename(r["audio"])[:-5] + ".wav")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        write_wav(dst, x)
        rows.append({"audio": os.path.relpath(dst, out), "duration": round(len(x) / 16000, 3),
                     "text": r["text"], "voice": "real-" + r["corpus"], "split": "dev_real",
                     "kind": "real_read", "speaker": r["speaker"]})
    R.write_manifest(os.path.join(out, "real_dev.jsonl"), rows)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--real", default="/work/shared/data/real-speech")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    summary = {}
    for name, kind in (("test_va", "va"), ("test_gen", "gen")):
        lines = [ln.strip() for ln in open(os.path.join(a.text, name + ".txt")) if ln.strip()]
        summary[name] = len(render_heldout(lines, kind, name, a.out, a.workers))
    summary["ps_testdata"] = len(pocketsphinx_testdata(a.out))
    if os.path.exists(os.path.join(a.real, "manifest.jsonl")):
        summary["real_dev"] = len(real_dev(a.real, a.out))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
