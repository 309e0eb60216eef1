#!/usr/bin/env bash
# The default model's GPU run, in the slices the device allows (10-minute commands, the machine
# kept warm between them). Run from the repository root on the GPU box:
#   models/recipe/run_gpu.sh start  NUTT TRAIN_MINUTES SLICE_MINUTES  # corpus, BPE, CMVN, training in the background
#   models/recipe/run_gpu.sh finish OUTDIR                            # wait for training, export 3 models, pack them
# Inputs carried into models/recipe/work/: bundles/A (TTS engines), text/general.txt.gz, real-speech/.
set -uo pipefail
R=models/recipe
SRC=$R/work
W=${WORK:-/tmp/w}
mkdir -p "$W"
t0=$(date +%s)
log() { echo "run_gpu [$(( $(date +%s) - t0 ))s] $*"; }

start() {
  local nutt=$1 budget=$2 slice=$3
  nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
  # Text and BPE made on the Debian side (deterministic, seed 1) save minutes of GPU time.
  mkdir -p "$W/text"
  [ -s "$SRC/text/train.tsv.gz" ] && cp "$SRC/text/train.tsv.gz" "$W/text/"
  bash $R/corpus/gpu_corpus.sh "$W" "$nutt" 2>&1 | tail -40
  [ -s "$W/corpus/train.jsonl" ] || { log "no training manifest"; exit 1; }
  if [ -s "$SRC/bpe.model" ]; then cp "$SRC/bpe.model" "$W/bpe.model"
  else (cd $R && python3 train.py bpe --text "$W/text/bpe_text.txt" --out "$W/bpe" --vocab 500) 2>&1 | tail -3; fi
  (cd $R && python3 train.py cmvn --manifest "$W/corpus/train.jsonl" --out "$W/cmvn.json" --num 4000 --workers 16) 2>&1 | tail -3
  log "training starts"
  (cd $R && setsid nohup python3 train.py train --manifest "$W/corpus/train.jsonl" \
      --bpe "$W/bpe.model" --cmvn "$W/cmvn.json" --exp "$W/exp" --variant ancat,causal,fixed \
      --budget-minutes "$budget" --max-minutes "$slice" --workers 15 ${TRAIN_ARGS:-} \
      > "$W/train.log" 2>&1 < /dev/null &)
}

wait_training() {
  local limit_s=$1
  while pgrep -f "train.py train" > /dev/null; do
    [ $(( $(date +%s) - t0 )) -ge "$limit_s" ] && break
    sleep 10
  done
  tail -4 "$W/train.log"
}

finish() {
  local out=$1
  wait_training "${2:-420}"
  pkill -TERM -f "train.py train"; sleep 15
  local golden
  golden=$(ls "$W"/corpus/real/librispeech/test-other/3005-*.wav 2>/dev/null | head -1)
  for v in ancat causal fixed; do
    (cd $R && python3 export.py --checkpoint "$W/exp/$v/last.pt" --bpe "$W/bpe.model" \
        --out "$W/model-$v" --name "ancat-en-$v" --dtype bf16 \
        ${golden:+--golden-audio "$golden" --golden-seconds 4}) 2>&1 | tail -2
  done
  cp "$W/train.log" "$out/"
  cp "$W/corpus/render_stats.json" "$out/" 2>/dev/null
  tar -C "$W" -czf "$W/models.tgz" model-ancat model-causal model-fixed
  split -b 15M -d "$W/models.tgz" "$out/models.tgz.part"
  ls -la "$out"
}

case "${1:-}" in
  start) start "$2" "$3" "$4"; wait_training "${5:-540}" ;;
  finish) finish "$2" "${3:-420}" ;;
  # one command: corpus, training of TRAIN_MIN minutes, export; for a single 10-minute slice
  all) start "$3" "$4" "$4"; finish "$2" "${5:-560}" ;;
  *) echo "usage: run_gpu.sh start NUTT TRAIN_MIN SLICE_MIN [WAIT_S] | finish OUTDIR [WAIT_S] | all OUTDIR NUTT TRAIN_MIN [WAIT_S]"; exit 2 ;;
esac
