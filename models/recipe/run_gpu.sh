#!/usr/bin/env bash
# The default model's GPU run, cut into the 10-minute commands the device allows, with the
# machine kept warm between them (everything lives in $WORK, default /tmp/w). Run from the
# repository root on the GPU box:
#
#   run_gpu.sh start  OUT NUTT NUTT_MORE TRAIN_MIN WAIT_S  # call 1: corpus, then the three variants
#                                                          #   train in the background while a second
#                                                          #   rendering pass (NUTT_MORE) grows the corpus
#   run_gpu.sh more   OUT NUTT WAIT_S                      # call 2..: voices carried by this call
#                                                          #   (new mbrola bundles) render NUTT more
#                                                          #   utterances; training picks them up
#   run_gpu.sh finish OUT WAIT_S                           # last call: wait for training, export all
#                                                          #   three models, pack them into OUT
#
# Every call leaves in OUT the logs so far and a bf16 export of the ANCAT variant's latest
# checkpoint (a model survives even if the machine is lost between calls).
# Inputs carried into models/recipe/work/: bundles/A (engines) plus any mbrola *.tar.xz under
# bundles/*/, text/train.tsv.gz, bpe.model, real-speech/ (or real-speech.tgz).
set -uo pipefail
R=models/recipe
PY=${PYTHON:-python3}
SRC=${CORPUS_SRC:-$R/work}
W=${WORK:-/tmp/w}
VARIANTS="ancat causal fixed"
mkdir -p "$W"
t0=$(date +%s)
log() { echo "run_gpu [$(( $(date +%s) - t0 ))s] $*"; }

tts_env() {  # unpack whatever bundles this call carried (additive) and export the engine paths
  eval "$(bash $R/corpus/unpack_tts.sh "$W/ttsroot" "$SRC/bundles" 2>"$W/unpack.log")"
  export TTS_ROOT TTS_LD_LIBRARY_PATH TTS_PATH
}

render_pass() {  # render_pass TAG NUTT SEED WORKERS [--new-voices-only]: niced, in the
  # background beside training (its own session, so it outlives this call)
  local tag=$1 n=$2 seed=$3 workers=$4; shift 4
  (cd $R && setsid nohup nice -n 10 "$PY" -m corpus.render tts --text "$W/text" --out "$W/corpus" \
      --n "$n" --seed "$seed" --tag "$tag" --workers "$workers" "$@" \
      > "$W/render_$tag.log" 2>&1 < /dev/null &)
}

launch_training() {  # one process per variant: each is launch-bound on its own CPU core
  local budget=$1
  for v in $VARIANTS; do
    (cd $R && setsid nohup "$PY" train.py train \
        --manifest "$W/corpus/tts_train*.jsonl" --manifest "$W/corpus/real_train.jsonl:1.5" \
        --bpe "$W/bpe.model" --cmvn "$W/cmvn.json" --exp "$W/exp" --variant "$v" \
        --budget-minutes "$budget" --max-minutes "$budget" --save-minutes 2 --workers 4 \
        --max-frames 24000 --augment-prob 0.5 --augment-ramp 0.15,0.45 --sample-every 500 \
        --log-every 100 ${TRAIN_ARGS:-} > "$W/train_$v.log" 2>&1 < /dev/null &)
  done
}

monitor() {  # monitor UNTIL_S: print progress lines until UNTIL_S seconds into this call
  local until_s=$1
  while [ $(( $(date +%s) - t0 )) -lt "$until_s" ] && pgrep -f "train.py train" > /dev/null; do
    sleep 20
  done
  for v in $VARIANTS; do
    grep '"step"' "$W/train_$v.log" | tail -1
    grep 'sample ref' "$W/train_$v.log" | tail -2
  done
  grep '^timing' "$W/train_ancat.log" | tail -1
  grep '^data: epoch' "$W/train_ancat.log" | tail -1
  for f in "$W"/render_*.log; do [ -e "$f" ] && echo "$(basename "$f"): $(tail -1 "$f")"; done
}

export_variant() {  # export_variant VARIANT DEST [golden args...]
  local v=$1 dest=$2; shift 2
  (cd $R && "$PY" export.py --checkpoint "$W/exp/$v/last.pt" --bpe "$W/bpe.model" \
      --out "$dest" --name "ancat-en-$v" --dtype bf16 "$@") > "$W/export_$v.log" 2>&1
}

pack_logs() {  # one file: the device returns at most 8
  (cd "$W" && tar -czf "$1/logs.tgz" train_*.log render_*.log export_*.log corpus/render_stats*.json \
      exp/*/log.jsonl 2>/dev/null)
}

snapshot() {  # logs and the ANCAT variant's latest checkpoint, exported, into OUT
  local out=$1
  pack_logs "$out"
  if [ -s "$W/exp/ancat/last.pt" ]; then
    export_variant ancat "$W/snap-ancat" && tar -C "$W" -czf "$out/snap-ancat.tgz" snap-ancat
  fi
}

start() {
  local out=$1 nutt=$2 nmore=$3 budget=$4 wait_s=$5
  nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
  mkdir -p "$W/text"
  # Text and BPE are made on the Debian side (deterministic, seed 1): the same split as the
  # held-out test sets, and minutes of GPU time saved.
  cp "$SRC/text/train.tsv.gz" "$W/text/" && cp "$SRC/bpe.model" "$W/bpe.model" || exit 1
  # real speech travels as one tar: thousands of small files count by disk blocks
  [ -s "$SRC/real-speech.tgz" ] && tar -C "$SRC" -xzf "$SRC/real-speech.tgz"
  bash $R/corpus/gpu_corpus.sh "$W" "$nutt" 2>&1 | tail -30
  [ -s "$W/corpus/train.jsonl" ] || { log "no training manifest"; exit 1; }
  (cd $R && "$PY" train.py cmvn --manifest "$W/corpus/train.jsonl" --out "$W/cmvn.json" \
      --num 4000 --workers 16) 2>&1 | tail -1
  log "training starts"
  launch_training "$budget"
  tts_env
  render_pass b "$nmore" 2 8
  monitor "$wait_s"
  snapshot "$out"
}

more() {
  local out=$1 n=$2 wait_s=$3
  tts_env
  log "mbrola voices now: $(ls "$TTS_ROOT/usr/share/mbrola" | tr '\n' ' ')"
  render_pass "c$t0" "$n" "$t0" 8 --new-voices-only
  monitor "$wait_s"
  snapshot "$out"
}

finish() {
  local out=$1 wait_s=$2
  monitor "$wait_s"
  pkill -TERM -f "train.py train"
  while pgrep -f "train.py train" > /dev/null; do sleep 2; done
  local golden
  golden=$(ls "$W"/corpus/real/librispeech/test-other/3005-*.wav 2>/dev/null | head -1)
  for v in $VARIANTS; do
    export_variant "$v" "$W/model-$v" ${golden:+--golden-audio "$golden" --golden-seconds 4} &
  done
  wait
  tail -n 2 "$W"/export_*.log
  pack_logs "$out"
  tar -C "$W" -czf "$W/models.tgz" model-ancat model-causal model-fixed
  split -b 15M -d "$W/models.tgz" "$out/models.tgz.part"
  ls -la "$out"
}

case "${1:-}" in
  start) start "$2" "$3" "$4" "$5" "$6" ;;
  more) more "$2" "$3" "$4" ;;
  finish) finish "$2" "$3" ;;
  *) echo "usage: run_gpu.sh start OUT NUTT NUTT_MORE TRAIN_MIN WAIT_S | more OUT NUTT WAIT_S | finish OUT WAIT_S"
     exit 2 ;;
esac
