#!/usr/bin/env bash
# Smoke test of ancat-bench: runs it on the tiny model with tiny sizes and no peers, and checks
# that it exits 0 and prints every figure it promises. Asserts no speed.
set -euo pipefail
bench=$1 model=$2 audio=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bench" --model "$model" --audio "$audio" --peers none --work_dir "$work" \
  --min_seconds 0.05 --matmul_size 64 --matmul_seconds 0.02 --warmup_s 0.1 --measure_s 0.2 \
  --max_streams 4 --batch_streams 3 --idle_streams 20 --idle_audio_ms 200 --json "$work/bench.json" > "$work/out.txt"
cat "$work/out.txt"
fail=0
for key in encoder_mflop_per_frame encoder_gflop_per_audio_second \
           matmul_f32_gflops_1core ancat_encoder_offline_rtf_1core_f32 \
           ancat_encoder_streaming_rtf_1core_f32 ancat_offline_rtf_1core ancat_streaming_rtf_1core \
           ancat_realtime_streams_2cores ancat_encoder_realtime_streams_2cores_f32 \
           ancat_encoder_batched_gflops_2cores_f32 ancat_encoder_batched_gflops_2cores_f32_cpu \
           ancat_streaming_encoder_share \
           idle_stream_kb idle_stream_heap_kb idle_stream_kb_chunked idle_stream_kb_kv_bf16 \
           idle_stream_kb_kv_bf16_chunked recognizer_first_use_mb load_average_end; do
  if ! grep -Eq "^$key: [0-9.e+-]+( |$)" "$work/out.txt"; then
    echo "missing or non-numeric field: $key" >&2
    fail=1
  fi
  grep -q "\"$key\"" "$work/bench.json" || { echo "missing in JSON: $key" >&2; fail=1; }
done
# int8 figures wherever oneDNN has VNNI int8 kernels (the build machines do).
if grep -q '^matmul_int8_gflops_1core: .*vnni' "$work/out.txt"; then
  for key in ancat_encoder_offline_rtf_1core_int8 ancat_encoder_streaming_rtf_1core_int8 \
             ancat_offline_rtf_1core_int8 ancat_streaming_rtf_1core_int8 \
             ancat_realtime_streams_2cores_int8 ancat_encoder_realtime_streams_2cores_int8 \
             ancat_encoder_batched_gflops_2cores_int8; do
    grep -Eq "^$key: [0-9.e+-]+( |$)" "$work/out.txt" || { echo "missing or non-numeric field: $key" >&2; fail=1; }
  done
fi
grep -Eq '^  streams +1: step mean' "$work/out.txt" || { echo "no capacity table" >&2; fail=1; }
# --memory_only: the memory section alone, no timings.
"$bench" --model "$model" --audio "$audio" --memory_only --work_dir "$work" \
  --idle_streams 10 --idle_audio_ms 200 > "$work/mem.txt"
cat "$work/mem.txt"
for key in idle_stream_kb idle_stream_heap_kb idle_stream_kb_chunked idle_stream_heap_kb_kv_bf16_chunked \
           recognizer_first_use_mb load_average_end; do
  grep -Eq "^$key: [0-9.e+-]+( |$)" "$work/mem.txt" || { echo "--memory_only: missing $key" >&2; fail=1; }
done
if grep -q '^matmul_\|^ancat_' "$work/mem.txt"; then echo "--memory_only timed something" >&2; fail=1; fi
# --batched_only: matmul rates and the batched encoder at 2 x and 1 x --batch_streams, nothing else.
"$bench" --model "$model" --audio "$audio" --batched_only --batch_streams 2 --work_dir "$work" \
  --matmul_size 64 --matmul_seconds 0.02 --measure_s 0.2 > "$work/batched.txt"
cat "$work/batched.txt"
for key in matmul_f32_gflops_1core matmul_f32_gflops_2core ancat_encoder_batched_gflops_2cores_f32_4streams \
           ancat_encoder_batched_gflops_2cores_f32_4streams_cpu ancat_encoder_batched_gflops_2cores_f32_2streams \
           ancat_encoder_batched_gflops_2cores_f32_2streams_cpu load_average_end; do
  grep -Eq "^$key: [0-9.e+-]+( |$)" "$work/batched.txt" || { echo "--batched_only: missing $key" >&2; fail=1; }
done
if grep -q '^ancat_realtime_streams\|^idle_stream\|^ancat_encoder_offline' "$work/batched.txt"; then
  echo "--batched_only measured more" >&2
  fail=1
fi
exit $fail
