#!/usr/bin/env bash
# Regenerates the bundled test audio from ../shared/data/real-speech (LibriSpeech test-other,
# CC BY 4.0; see README.md here). Needs sox, opusdec and opusenc (opus-tools). Deterministic.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${REAL_SPEECH:-$here/../../../../shared/data/real-speech}/librispeech/test-other
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"

opusdec --quiet --rate 16000 "$src/2414-128291-0003.opus" "$tmp/a.wav"
opusdec --quiet --rate 16000 "$src/3331-159605-0004.opus" "$tmp/b.wav"

# Good inputs: the same utterance in several containers, rates and channel layouts.
sox -R "$tmp/a.wav" -r 16000 -c 1 -b 16 -e signed-integer speech_16k.wav
sox -R "$tmp/b.wav" -r 16000 -c 1 -b 16 -e signed-integer speech2_16k.wav
sox -R speech_16k.wav speech_16k.flac                       # lossless: same samples as the WAV
sox -R speech_16k.wav -C 3 speech_16k.ogg                   # Ogg Vorbis
install -m 644 "$src/2414-128291-0003.opus" speech_16k.opus  # Ogg Opus, as distributed
sox -R speech_16k.wav -r 8000 speech_8k.wav
sox -R speech_16k.wav -r 8000 -e mu-law -t ul speech_8k.ul  # raw MULAW, no header
/usr/bin/python3 - <<'PY'  # the same bytes in a WAV (format tag 7 = mu-law)
import struct
data = open("speech_8k.ul", "rb").read()
fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
open("speech_8k_mulaw.wav", "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)
PY
# Stereo 44.1 kHz, 1.2 s: left = speech, right = the same at half gain.
sox -R speech_16k.wav -r 44100 -b 16 stereo_44k.wav trim 0 1.2 remix 1 1v0.5

# Stereo Ogg Opus (for the streaming reader); fixed serial number for reproducibility.
opusenc --quiet --serial 1 --bitrate 32 stereo_44k.wav stereo_44k.opus

# Bad inputs.
: > empty.wav
head -c 20000 speech_16k.wav > truncated.wav             # header promises 2.7 s, holds 0.6 s
head -c 44 speech_16k.wav > header_only.wav
printf 'RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00' > no_samples.wav
/usr/bin/python3 -c "import random,sys; r=random.Random(7); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(3000)))" > garbage.wav
size=$(stat -c %s speech_16k.flac)
head -c $((size / 2)) speech_16k.flac > truncated.flac
/usr/bin/python3 - <<'PY'
data = bytearray(open("speech_16k.flac", "rb").read())
for i in range(len(data) // 3, len(data) // 3 + 2000):  # frames in the middle overwritten
    data[i] = (i * 37) & 0xFF
open("corrupt.flac", "wb").write(bytes(data))
PY
printf 'this is a text file, not audio\n' > not_audio.txt
ls -l
du -cb . | tail -1
