// ancat-bench: Ancat's speed against oneDNN's matmul ceiling and against PyTorch and
// onnxruntime running the same model on the same audio, in one run. See BENCHMARKS.md.
#ifndef ANCAT_CLIENT_BENCH_BENCH_H_
#define ANCAT_CLIENT_BENCH_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/bench/stream_bench.h"

namespace ancat::bench {

struct BenchConfig {
  std::string model_dir;                 // model folder (models/FORMAT.md)
  std::string audio;                     // any file asr/audio reads
  std::string repo_dir;                  // source root (peer scripts, recipe export)
  std::string work_dir = "/tmp/ancat-bench";  // audio/features handed to peers, peer logs
  std::vector<std::string> peers = {"pytorch", "onnxruntime"};  // empty: none
  std::string onnx;                      // ONNX file for onnxruntime; empty: export it
  std::string decoding = "greedy";       // "greedy" or "beam" (modified beam search)
  int cores = 2;                         // cores for the batched capacity test
  int chunk_ms = 40;                     // streaming chunk
  double min_seconds = 3.0;              // time each single-stream measurement at least
  int matmul_size = 1024;                // m = k = n of the peak-rate matmul
  double matmul_seconds = 0.5;
  CapacityConfig capacity;
  int batch_streams = 128;               // also time the encoder at this batch (0: only at capacity)
  int idle_streams = 1000;               // streams for the memory measurement
  int idle_audio_ms = 500;               // audio each of them decodes first
  bool memory_only = false;              // only the setup and the memory section (no timings)
  // Only the matmul rates and the batched encoder at batch_streams and 2 x batch_streams (no
  // single-stream figures, peers, capacity searches or memory): the encoder-vs-matmul figures
  // in a minute, for before/after comparisons repeated on a shared machine.
  bool batched_only = false;
  std::string json_out;                  // also write every figure here (optional)
  absl::Status Validate() const;
  std::string ToString() const;
};

// Runs every measurement and prints "key: value" lines to stdout. Returns an error if a
// measurement could not be made (the lines before it are printed); a requested peer that is
// unavailable is reported as Unavailable after everything else ran.
absl::Status RunBench(const BenchConfig& config);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_BENCH_H_
