#!/usr/bin/env bash
# The default model's GPU run, cut into the 10-minute commands the device allows, with the
# machine kept warm between them (everything lives in $WORK, default /tmp/w). Run from the
# repository root on the GPU box:
#
#   run_gpu.sh start  OUT NUTT NUTT_MORE TRAIN_MIN WAIT_S  # call 1: corpus, then the runs train
#                                                          #   in the background while a second
#                                                          #   rendering pass (NUTT_MORE) grows the corpus
#   run_gpu.sh more   OUT NUTT WAIT_S                      # call 2..: voices carried by this call
#                                                          #   (new mbrola bundles) render NUTT more
#                                                          #   utterances, and real speech carried
#                                                          #   late is decoded; training picks both up
#   run_gpu.sh finish OUT WAIT_S                           # last call: wait for training, export
#                                                          #   every run, pack them into OUT
#
# Render first, train after (the loaders then get every core): TRAIN_MIN=0 in start renders
# NUTT at full speed and launches nothing; each `more` renders in the foreground while no run
# trains, and LAUNCH_MIN=M in a `more` launches the runs, for M minutes, after its rendering.
#
# RUNS names the training processes (default "ancat causal fixed"): a name is VARIANT or
# VARIANT_TAG, and ARGS_<name> adds train.py arguments to that run only, for ablations side by
# side (ARGS_ancat_aug="--augment-prob 0.9"; REAL_READ_W_<name> weights the real read
# sentences, REAL_READ_W and REAL_SHORT_W all runs' real speech). TRAIN_ARGS applies to all.
# INIT_FROM=DIR starts every ANCAT run from an exported folder (the committed default model), with no CMVN pass.
# Baselines continue the same way from folders carried under work/init/ (each copied to
# $W/init/ on arrival): ARGS_causal="--init-from causal=$W/init/model-causal".
# SEED=N in `start` renders another sample of sentences and voices than the default seed 1 (a run
# that continues a model should not see the previous run's sample again).
# Every call leaves in OUT the logs so far and a bf16 export of the first run's latest
# checkpoint (a model survives even if the machine is lost between calls); SNAP=0 skips the
# export, for the short calls that only carry voices.
# Inputs carried into models/recipe/work/: bundles/A (engines) plus any mbrola *.tar.xz under
# bundles/*/, text/train.tsv.gz (or .xz), bpe.model, real-speech/ (or real-speech.tgz).
set -uo pipefail
R=models/recipe
PY=${PYTHON:-python3}
SRC=${CORPUS_SRC:-$R/work}
W=${WORK:-/tmp/w}
RUNS=${RUNS:-ancat causal fixed}
FIRST=${RUNS%% *}
mkdir -p "$W"
t0=$(date +%s)
log() { echo "run_gpu [$(( $(date +%s) - t0 ))s] $*"; }

tts_env() {  # unpack whatever bundles this call carried (additive) and export the engine paths
  eval "$(bash $R/corpus/unpack_tts.sh "$W/ttsroot" "$SRC/bundles" 2>"$W/unpack.log")"
  export TTS_ROOT TTS_LD_LIBRARY_PATH TTS_PATH
}

training() { pgrep -f "train.py train" > /dev/null; }

render_now() {  # render_now TAG NUTT SEED [--new-voices-only]: in the foreground, every core
  local tag=$1 n=$2 seed=$3; shift 3
  (cd $R && "$PY" -m corpus.render tts --text "$W/text" --out "$W/corpus" --n "$n" --seed "$seed" \
      --tag "$tag" --workers "$(nproc)" "$@" > "$W/render_$tag.log" 2>&1)
  log "render $tag: $(tail -1 "$W/render_$tag.log")"
}

render_pass() {  # render_pass TAG NUTT SEED WORKERS [--new-voices-only]: niced, in the
  # background beside training (its own session, so it outlives this call)
  local tag=$1 n=$2 seed=$3 workers=$4; shift 4
  (cd $R && setsid nohup nice -n 10 "$PY" -m corpus.render tts --text "$W/text" --out "$W/corpus" \
      --n "$n" --seed "$seed" --tag "$tag" --workers "$workers" "$@" \
      > "$W/render_$tag.log" 2>&1 < /dev/null &)
}

variant_of() { echo "${1%%_*}"; }  # ancat_read -> ancat

launch_training() {  # one process per run: each is launch-bound on its own CPU core
  local budget=$1 init="" extra readw v
  [ -n "${INIT_FROM:-}" ] && init="--init-from ancat=$(cd "${INIT_FROM}" && pwd)"
  for name in $RUNS; do
    v=$(variant_of "$name")
    extra="ARGS_$name" readw="REAL_READ_W_$name"
    # real speech may arrive in a later call: globs, so that a reload picks it up
    (cd $R && setsid nohup "$PY" train.py train \
        --manifest "$W/corpus/tts_train*.jsonl" \
        --manifest "$W/corpus/real_train_rea[d].jsonl:${!readw:-${REAL_READ_W:-1.5}}" \
        --manifest "$W/corpus/real_train_shor[t].jsonl:${REAL_SHORT_W:-1.5}" \
        --bpe "$W/bpe.model" --cmvn "$W/cmvn.json" --exp "$W/exp_$name" --variant "$v" \
        --budget-minutes "$budget" --max-minutes "$budget" --save-minutes 2 --workers "${LOADER_WORKERS:-4}" \
        --max-frames 24000 --augment-prob 0.5 --augment-ramp 0.15,0.45 --sample-every 500 \
        --log-every 100 $init ${TRAIN_ARGS:-} ${!extra:-} > "$W/train_$name.log" 2>&1 < /dev/null &)
  done
}

monitor() {  # monitor UNTIL_S: print progress lines until UNTIL_S seconds into this call
  local until_s=$1
  while [ $(( $(date +%s) - t0 )) -lt "$until_s" ] && training; do
    sleep 20
  done
  for name in $RUNS; do
    echo "== $name"
    grep '"step"' "$W/train_$name.log" | tail -1
    grep 'sample ref' "$W/train_$name.log" | tail -2
    grep -i 'error\|Traceback' "$W/train_$name.log" | tail -2
  done
  grep '^timing' "$W/train_$FIRST.log" | tail -1
  grep '^data: epoch' "$W/train_$FIRST.log" | tail -1
  for f in "$W"/render_*.log; do [ -e "$f" ] && echo "$(basename "$f"): $(tail -1 "$f")"; done
}

export_run() {  # export_run NAME DEST [golden args...]
  local name=$1 dest=$2 v; shift 2
  v=$(variant_of "$name")
  (cd $R && "$PY" export.py --checkpoint "$W/exp_$name/$v/last.pt" --bpe "$W/bpe.model" \
      --out "$dest" --name "ancat-en-$name" --dtype bf16 "$@") > "$W/export_$name.log" 2>&1
}

pack_logs() {  # one file: the device returns at most 8
  (cd "$W" && tar -czf "$1/logs.tgz" train_*.log render_*.log export_*.log corpus/render_stats*.json \
      exp_*/*/log.jsonl 2>/dev/null)
}

snapshot() {  # logs and the ANCAT variant's latest checkpoint, exported, into OUT
  local out=$1
  pack_logs "$out"
  [ "${SNAP:-1}" = 0 ] && return
  if [ -s "$W/exp_$FIRST/$(variant_of "$FIRST")/last.pt" ]; then
    export_run "$FIRST" "$W/snap-$FIRST" && tar -C "$W" -czf "$out/snap-$FIRST.tgz" "snap-$FIRST"
  fi
}

unpack_real() {  # real speech travels as one tar: thousands of small files count by disk blocks
  [ -s "$SRC/real-speech.tgz" ] && [ ! -d "$SRC/real-speech" ] && tar -C "$SRC" -xzf "$SRC/real-speech.tgz"
}

stage_init() {  # model folders carried under work/init/ (to continue, e.g. the baselines): a
  # carried path need not outlive its call, so each is copied to $W/init/ on arrival
  [ -d "$SRC/init" ] || return 0
  mkdir -p "$W/init"
  local d
  for d in "$SRC"/init/*/; do
    [ -s "$d/model.json" ] && cp -r "${d%/}" "$W/init/" && log "init folder: $W/init/$(basename "$d")"
  done
  return 0
}

real_speech() {  # decode real speech carried by this call (once): its manifests join training
  unpack_real
  [ -s "$SRC/real-speech/manifest.jsonl" ] && [ ! -s "$W/corpus/real_train.jsonl" ] || return 0
  local real; real="$(cd "$SRC/real-speech" && pwd)"  # absolute: the render runs in $R
  (cd $R && "$PY" -m corpus.render real --real "$real" --out "$W/corpus" --workers 12) \
      2>&1 | tail -2
}

start() {
  local out=$1 nutt=$2 nmore=$3 budget=$4 wait_s=$5
  nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
  mkdir -p "$W/text"
  # Text and BPE are made on the Debian side (deterministic, seed 1): the same split as the
  # held-out test sets, and minutes of GPU time saved. xz: the text is the largest carry.
  if [ -s "$SRC/text/train.tsv.xz" ]; then
    xz -dc "$SRC/text/train.tsv.xz" | gzip -1 > "$W/text/train.tsv.gz"
  else
    cp "$SRC/text/train.tsv.gz" "$W/text/" || exit 1
  fi
  cp "$SRC/bpe.model" "$W/bpe.model" || exit 1
  unpack_real
  stage_init
  bash $R/corpus/gpu_corpus.sh "$W" "$nutt" 2>&1 | tail -30
  compgen -G "$W/corpus/tts_train*.jsonl" > /dev/null || { log "no training manifest"; exit 1; }
  if [ -z "${INIT_FROM:-}" ]; then  # a run started from a model folder keeps its CMVN
    (cd $R && "$PY" train.py cmvn --manifest "$W/corpus/train.jsonl" --out "$W/cmvn.json" \
        --num 4000 --workers 16) 2>&1 | tail -1
  fi
  tts_env
  if [ "$budget" = 0 ]; then  # render first: the runs start in a later call (LAUNCH_MIN)
    [ "$nmore" -gt 0 ] && render_now b "$nmore" 2
    pack_logs "$out"
    return
  fi
  log "training starts: $RUNS"
  launch_training "$budget"
  render_pass b "$nmore" 2 8
  monitor "$wait_s"
  snapshot "$out"
}

more() {
  local out=$1 n=$2 wait_s=$3
  tts_env  # first: the Opus decoder of the real speech is in the TTS root too
  real_speech
  stage_init
  log "mbrola voices now: $(ls "$TTS_ROOT/usr/share/mbrola" | tr '\n' ' ')"
  if training; then
    render_pass "c$t0" "$n" "$t0" 8 --new-voices-only
  elif [ "$n" -gt 0 ]; then
    render_now "c$t0" "$n" "$t0" --new-voices-only
  fi
  if [ -n "${LAUNCH_MIN:-}" ] && ! training; then
    log "training starts: $RUNS"
    launch_training "$LAUNCH_MIN"
  fi
  monitor "$wait_s"
  snapshot "$out"
}

finish() {
  local out=$1 wait_s=$2
  monitor "$wait_s"
  pkill -TERM -f "train.py train"
  while training; do sleep 2; done
  local golden
  golden=$(ls "$W"/corpus/real/librispeech/test-other/3005-*.wav 2>/dev/null | head -1)
  for name in $RUNS; do
    export_run "$name" "$W/model-$name" ${golden:+--golden-audio "$golden" --golden-seconds 4} &
  done
  wait
  tail -n 2 "$W"/export_*.log
  pack_logs "$out"
  # one archive per model, in parts under the 16 MiB a returned file may have
  for name in $RUNS; do
    tar -C "$W" -czf "$W/model-$name.tgz" "model-$name"
    split -b 15M -d "$W/model-$name.tgz" "$out/model-$name.tgz.part"
  done
  ls -la "$out"
}

case "${1:-}" in
  start) start "$2" "$3" "$4" "$5" "$6" ;;
  more) more "$2" "$3" "$4" ;;
  finish) finish "$2" "$3" ;;
  *) echo "usage: run_gpu.sh start OUT NUTT NUTT_MORE TRAIN_MIN WAIT_S | more OUT NUTT WAIT_S | finish OUT WAIT_S"
     exit 2 ;;
esac
