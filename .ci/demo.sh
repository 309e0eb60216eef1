#!/usr/bin/env bash
# README command (1): install the Debian packages, build ancat-server and ancat-client (build/),
# start the server with the default model on a loopback port, stream a bundled recording
# through the client in real time (partial and final transcripts), then stop the server.
# Idempotent; run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
jobs=${ANCAT_JOBS:-2}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target ancat-server ancat-client

model=models/ancat-en
if [ ! -f "$model/model.json" ]; then
  cat <<MSG

*** No trained model is installed: $model/model.json does not exist.
*** Using the tiny RANDOM test model tests/data/tiny-model instead, so that the whole path
*** (gRPC stream -> audio reading -> fbank -> ANCAT encoder -> transducer search -> results)
*** still runs. Its transcripts are MEANINGLESS. Train and export a model with
*** models/recipe (see its README) into $model to get real ones.

MSG
  model=tests/data/tiny-model
fi

# Audio no model here was trained on: three voice-assistant requests, each spoken by one of the
# voices held out of training (the first request of each in the held-out test set), and a
# real recording of a LibriSpeech speaker held out as the real-speech dev split.
samples=(
  "tests/data/audio/heldout_rab_diphone.wav|okay what's the humidity in vancouver|festival rab_diphone (held-out voice)"
  "tests/data/audio/heldout_mbrola_us3.wav|text missus verdun i'm running late|mbrola us3 (held-out voice)"
  "tests/data/audio/heldout_pico_en_gb.wav|could you i need to call jim|pico en-GB (held-out voice)"
  "tests/data/audio/real_dev_3005.wav|the stillness was awful creepy and uncomfortable|real speech, LibriSpeech 3005 (held out)"
)

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting ancat-server --model $model on a loopback port"
build/service/ancat-server --model "$model" --listen 127.0.0.1:0 \
  --port_file "$work/port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/port" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "ancat-server exited before serving:"; cat "$work/server.log"; exit 1
  fi
  sleep 0.1
done
[ -s "$work/port" ] || { echo "ancat-server did not start:"; cat "$work/server.log"; exit 1; }
address=127.0.0.1:$(cat "$work/port")
client=(build/client/ancat-client --server "$address")

echo "== server at $address: health and model"
"${client[@]}" health
"${client[@]}" info

for entry in "${samples[@]}"; do
  IFS='|' read -r sample reference what <<<"$entry"
  echo
  echo "== streaming $sample in real time: $what"
  echo "   partial and final results (stderr), then the transcript (last line of stdout):"
  transcript=$("${client[@]}" stream "$sample" | tail -n 1)
  echo "reference:  $reference"
  echo "transcript: $transcript"
done

echo
echo "== the last file again, in one Recognize call"
"${client[@]}" recognize "$sample" 2>/dev/null | tail -n 1 | sed 's/^/transcript: /'

echo
echo "== stopping the server (SIGTERM: drain, then exit)"
kill -TERM "$server_pid"
wait "$server_pid" && status=0 || status=$?
server_pid=""
grep -E "event=(serving|stream_close|drain_begin|drain_end|stopped)" "$work/server.log" | tail -n 6
echo "ancat-server exit status: $status"
[ "$status" -eq 0 ]
if [ "$model" = tests/data/tiny-model ]; then
  echo; echo "(Reminder: tiny random model, the transcripts above are meaningless.)"
fi
