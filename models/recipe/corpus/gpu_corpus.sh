#!/usr/bin/env bash
# End-to-end corpus generation on the training box (no network, no Debian packages needed):
# unpack the TTS bundles, build the text, render NUTT synthetic utterances with every voice
# that works, decode the real speech, and write the manifests and the BPE training text.
#
#   models/recipe/corpus/gpu_corpus.sh WORKDIR NUTT
#
# Inputs (carried into the repo's ignored models/recipe/work/):
#   bundles/<A..F>/*.tar.xz   from fetch_tts_debs.sh (A = engines is required; B.. add mbrola
#                             voices; bundles carried by earlier calls stay unpacked in
#                             WORKDIR/ttsroot, so they can arrive one call at a time)
#   text/train.tsv.gz         from `corpus.text build` (preferred: exactly the split of the test sets)
#   or text/general.txt.gz + text/proper_nouns.txt from `corpus.text extract`, rebuilt here
#   real-speech/              copy of ../shared/data/real-speech (optional)
# Outputs in WORKDIR:
#   corpus/train.jsonl        TTS + real speech (real read speech repeated 8x, short words 2x)
#   corpus/dev_real.jsonl     LibriSpeech speakers 3005 and 367
#   corpus/tts/..., corpus/real/...   16 kHz mono 16-bit WAV; manifest paths are relative to corpus/
#   corpus/render_stats.json  per-voice counts, failures, hours, utterances/s
#   text/train.tsv.gz, text/bpe_text.txt, text/test_*.txt
# A voice that fails its probe or whose files were not carried is skipped and logged.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
recipe="$(cd "$here/.." && pwd)"
WORK="${1:?usage: gpu_corpus.sh WORKDIR NUTT}"
NUTT="${2:?usage: gpu_corpus.sh WORKDIR NUTT}"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"; WORK="$(cd "$WORK" && pwd)"
SRC="${CORPUS_SRC:-$recipe/work}"
NPROC="$(nproc)"
WORKERS="${WORKERS:-$(( NPROC > 3 ? NPROC - 2 : 1 ))}"
t0=$(date +%s)
log() { echo "gpu_corpus [$(( $(date +%s) - t0 ))s] $*"; }

# 1. TTS engines
if compgen -G "$SRC/bundles/*/*.tar.xz" > /dev/null; then
  eval "$(bash "$here/unpack_tts.sh" "$WORK/ttsroot" "$SRC/bundles")" || { log "unpack failed"; exit 1; }
else
  log "no bundles under $SRC/bundles; using what $WORK/ttsroot already holds"
  eval "$(bash "$here/unpack_tts.sh" "$WORK/ttsroot" /nonexistent)"
fi
[ -x "$TTS_ROOT/usr/bin/flite_cmu_us_slt" ] || { log "TTS root has no engines (bundle A missing)"; exit 1; }
log "TTS root $TTS_ROOT: $(ls "$TTS_ROOT/usr/share/mbrola" 2>/dev/null | tr '\n' ' ')"

# 2. text (deterministic from the seed; same split as the held-out test sets made on Debian)
cd "$recipe"
if [ ! -s "$WORK/text/train.tsv.gz" ]; then
  if [ -s "$SRC/text/train.tsv.gz" ]; then
    mkdir -p "$WORK/text"; cp "$SRC/text/train.tsv.gz" "$WORK/text/"
  fi
fi
if [ ! -s "$WORK/text/train.tsv.gz" ]; then
  for f in general.txt.gz proper_nouns.txt; do
    [ -s "$SRC/text/$f" ] || { log "missing $SRC/text/$f (or carry text/train.tsv.gz)"; exit 1; }
  done
  "$PY" -m corpus.text build --general "$SRC/text/general.txt.gz" --out "$WORK/text" --seed 1 \
    || { log "text build failed"; exit 1; }
fi
log "text: $(cat "$WORK/text/stats.json" 2>/dev/null | tr -d '\n ') $(zcat "$WORK/text/train.tsv.gz" | wc -l) training sentences"

# 3. synthetic speech
# SEED picks the sentences and voices: a run continuing a model renders a fresh sample
"$PY" -m corpus.render tts --text "$WORK/text" --out "$WORK/corpus" --n "$NUTT" \
  --seed "${SEED:-1}" --workers "$WORKERS" || { log "render failed"; exit 1; }

# 4. real speech
if [ -s "$SRC/real-speech/manifest.jsonl" ]; then
  "$PY" -m corpus.render real --real "$SRC/real-speech" --out "$WORK/corpus" --workers "$WORKERS" \
    || log "real speech failed; continuing with TTS only"
else
  log "no $SRC/real-speech/manifest.jsonl: training manifest has TTS only"
fi

# 5. manifests and BPE text
cat "$WORK/corpus/tts_train.jsonl" "$WORK/corpus/real_train.jsonl" 2>/dev/null > "$WORK/corpus/train.jsonl"
[ -s "$WORK/corpus/real_dev.jsonl" ] && cp "$WORK/corpus/real_dev.jsonl" "$WORK/corpus/dev_real.jsonl"
"$PY" - "$WORK" <<'EOF'
import gzip, json, sys, os
work = sys.argv[1]
seen, out = set(), open(os.path.join(work, "text", "bpe_text.txt"), "w")
for ln in gzip.open(os.path.join(work, "text", "train.tsv.gz"), "rt"):
    s = ln.rstrip("\n").split("\t", 1)[-1]
    if s and s not in seen:
        seen.add(s); out.write(s + "\n")
p = os.path.join(work, "corpus", "real_train.jsonl")
if os.path.exists(p):
    for ln in open(p):
        s = json.loads(ln)["text"]
        if s not in seen:
            seen.add(s); out.write(s + "\n")
out.close()
rows = [json.loads(l) for l in open(os.path.join(work, "corpus", "train.jsonl"))]
h = sum(r["duration"] for r in rows) / 3600
print(f"gpu_corpus: train.jsonl {len(rows)} rows, {h:.1f} h; bpe_text {len(seen)} lines")
EOF
log "done: $WORK/corpus/train.jsonl"
