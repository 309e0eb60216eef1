"""Import a corpus in the LibriSpeech layout into a JSONL manifest.

Layout: ROOT/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt (lines "<utt-id> TEXT") and
ROOT/<speaker>/<chapter>/<utt-id>.flac (or .wav / .opus). Rows: {"audio": path relative to
the manifest's folder (or absolute with --absolute), "duration", "text" (normalized to the
corpus alphabet), "voice": "real-<name>", "split", "speaker"}.

Duration comes from the file header (FLAC STREAMINFO, WAV data size, Ogg granule), so import
needs no decoder. Training reads FLAC through whatever the loader has (soundfile/torchaudio);
`--to-wav DIR` converts with Debian's sox or flac where a loader cannot read FLAC.

  python3 -m corpus.librispeech ROOT --out work/corpus/libri_train.jsonl --split train \
      [--dev-speakers 3005,367 --dev-out work/corpus/libri_dev.jsonl]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import struct
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus.normalize import is_clean, normalize  # noqa: E402

AUDIO_EXT = (".flac", ".wav", ".opus")


def flac_duration(path: str) -> float:
    with open(path, "rb") as f:
        if f.read(4) != b"fLaC":
            raise ValueError(f"{path}: not FLAC")
        while True:
            hdr = f.read(4)
            if len(hdr) < 4:
                raise ValueError(f"{path}: no STREAMINFO")
            last, btype, size = hdr[0] >> 7, hdr[0] & 0x7F, int.from_bytes(hdr[1:], "big")
            body = f.read(size)
            if btype == 0:
                bits = int.from_bytes(body[10:18], "big")
                sr = bits >> 44
                total = bits & ((1 << 36) - 1)
                return total / sr
            if last:
                raise ValueError(f"{path}: no STREAMINFO")


def wav_duration(path: str) -> float:
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    pos, fmt = 12, None
    size_total = os.path.getsize(path)
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
        elif cid == b"data":
            size = min(size, size_total - pos - 8)
            return size / fmt[3]
        pos += 8 + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def opus_duration(path: str) -> float:
    with open(path, "rb") as f:
        data = f.read()
    i = data.rfind(b"OggS")
    granule = struct.unpack("<q", data[i + 6:i + 14])[0]
    j = data.find(b"OpusHead")
    pre_skip = struct.unpack("<H", data[j + 10:j + 12])[0]
    return (granule - pre_skip) / 48000.0


def duration(path: str) -> float:
    if path.endswith(".flac"):
        return flac_duration(path)
    if path.endswith(".wav"):
        return wav_duration(path)
    return opus_duration(path)


def import_corpus(root: str, name: str = "librispeech") -> list[dict]:
    rows = []
    for trans in sorted(glob.glob(os.path.join(root, "*", "*", "*.trans.txt"))):
        d = os.path.dirname(trans)
        speaker = os.path.basename(os.path.dirname(d))
        with open(trans, encoding="utf-8") as f:
            for line in f:
                uid, _, text = line.strip().partition(" ")
                if not uid:
                    continue
                audio = next((os.path.join(d, uid + e) for e in AUDIO_EXT
                              if os.path.exists(os.path.join(d, uid + e))), None)
                if audio is None:
                    print(f"librispeech: {uid}: audio missing", file=sys.stderr)
                    continue
                t = text.lower() if is_clean(text.lower()) else normalize(text, allow_acronyms=True)
                if not t:
                    print(f"librispeech: {uid}: text not normalizable: {text!r}", file=sys.stderr)
                    continue
                rows.append({"audio": audio, "duration": round(duration(audio), 3), "text": t,
                             "voice": f"real-{name}", "speaker": f"{name}_{speaker}", "id": uid})
    return rows


def to_wav(rows: list[dict], out_dir: str) -> None:
    """Convert non-WAV audio with sox (FLAC) so any loader reads it."""
    for r in rows:
        if r["audio"].endswith(".wav"):
            continue
        dst = os.path.join(out_dir, r["id"] + ".wav")
        os.makedirs(out_dir, exist_ok=True)
        subprocess.run(["sox", r["audio"], "-r", "16000", "-c", "1", "-b", "16", dst], check=True)
        r["audio"] = dst


def write(rows: list[dict], path: str, split: str, absolute: bool) -> None:
    base = os.path.dirname(os.path.abspath(path))
    os.makedirs(base, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            r = dict(r, split=split)
            r["audio"] = os.path.abspath(r["audio"]) if absolute else os.path.relpath(r["audio"], base)
            f.write(json.dumps(r) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--name", default="librispeech")
    ap.add_argument("--dev-speakers", default="")
    ap.add_argument("--dev-out")
    ap.add_argument("--absolute", action="store_true")
    ap.add_argument("--to-wav", metavar="DIR")
    a = ap.parse_args(argv)
    rows = import_corpus(a.root, a.name)
    if a.to_wav:
        to_wav(rows, a.to_wav)
    dev_spk = {f"{a.name}_{s}" for s in a.dev_speakers.split(",") if s}
    train = [r for r in rows if r["speaker"] not in dev_spk]
    dev = [r for r in rows if r["speaker"] in dev_spk]
    write(train, a.out, a.split, a.absolute)
    if a.dev_out:
        write(dev, a.dev_out, "dev", a.absolute)
    print(f"librispeech: {len(train)} rows -> {a.out}" + (f", {len(dev)} dev rows -> {a.dev_out}"
                                                          if a.dev_out else ""))


if __name__ == "__main__":
    main()
