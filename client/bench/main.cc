// ancat-bench: prints, in one run on the same model and audio, Ancat's single-stream real-time
// factor on one core, the real-time streams N cores sustain with cross-stream batching, the
// memory of an idle stream, oneDNN's matmul rates, and PyTorch and onnxruntime on the same
// model as ratios. Exit status: 0 all measured, 2 a requested peer was unavailable, 1 error.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "client/bench/bench.h"

#ifndef ANCAT_SOURCE_DIR
#define ANCAT_SOURCE_DIR ""
#endif

ABSL_FLAG(std::string, model, "", "model folder (models/FORMAT.md)");
ABSL_FLAG(std::string, audio, "", "audio file (anything asr/audio reads)");
ABSL_FLAG(std::string, repo, ANCAT_SOURCE_DIR, "source root: peer scripts and the recipe");
ABSL_FLAG(std::string, work_dir, "/tmp/ancat-bench", "scratch folder for peer inputs and logs");
ABSL_FLAG(std::string, peers, "pytorch,onnxruntime", "peers to run, comma-separated, or 'none'");
ABSL_FLAG(std::string, onnx, "", "ONNX encoder for onnxruntime (default: export the model)");
ABSL_FLAG(std::string, decoding, "greedy", "greedy | beam");
ABSL_FLAG(int, cores, 2, "cores for the cross-stream batching test");
ABSL_FLAG(int, chunk_ms, 40, "streaming chunk in ms");
ABSL_FLAG(double, min_seconds, 3.0, "time each single-stream measurement at least this long");
ABSL_FLAG(int, matmul_size, 1024, "m = k = n of the peak-rate matmul");
ABSL_FLAG(double, matmul_seconds, 0.5, "seconds per matmul rate");
ABSL_FLAG(double, margin, 0.8, "real time: mean step <= margin * chunk");
ABSL_FLAG(double, tail_pct, 95, "real time: this percentile of steps <= chunk");
ABSL_FLAG(double, warmup_s, 1.0, "audio per stream before the timed steps");
ABSL_FLAG(double, measure_s, 4.0, "audio per stream that is timed");
ABSL_FLAG(int, max_streams, 512, "largest N the capacity search tries");
ABSL_FLAG(int, batch_streams, 128, "also time the batched encoder at this many streams (0: no)");
ABSL_FLAG(int, idle_streams, 1000, "streams for the memory measurement (0: skip)");
ABSL_FLAG(int, idle_audio_ms, 500, "audio each idle stream decodes first");
ABSL_FLAG(bool, memory_only, false, "only the memory of idle streams (no timings, no peers)");
ABSL_FLAG(bool, batched_only, false,
          "only the matmul rates and the batched encoder at 2 x and 1 x --batch_streams (no peers)");
ABSL_FLAG(std::string, json, "", "also write the figures as JSON here");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ancat-bench --model DIR --audio FILE [--peers pytorch,onnxruntime|none] ...\n"
      "Peers need client/bench/peers/install.sh once.");
  absl::ParseCommandLine(argc, argv);
  ancat::bench::BenchConfig c;
  c.model_dir = absl::GetFlag(FLAGS_model);
  c.audio = absl::GetFlag(FLAGS_audio);
  c.repo_dir = absl::GetFlag(FLAGS_repo);
  c.work_dir = absl::GetFlag(FLAGS_work_dir);
  std::string peers = absl::GetFlag(FLAGS_peers);
  c.peers.clear();
  if (peers != "none" && !peers.empty()) c.peers = absl::StrSplit(peers, ',', absl::SkipEmpty());
  c.onnx = absl::GetFlag(FLAGS_onnx);
  c.decoding = absl::GetFlag(FLAGS_decoding);
  c.cores = absl::GetFlag(FLAGS_cores);
  c.chunk_ms = absl::GetFlag(FLAGS_chunk_ms);
  c.min_seconds = absl::GetFlag(FLAGS_min_seconds);
  c.matmul_size = absl::GetFlag(FLAGS_matmul_size);
  c.matmul_seconds = absl::GetFlag(FLAGS_matmul_seconds);
  c.capacity = {.chunk_ms = c.chunk_ms, .margin = absl::GetFlag(FLAGS_margin),
                .tail_pct = absl::GetFlag(FLAGS_tail_pct), .warmup_s = absl::GetFlag(FLAGS_warmup_s),
                .measure_s = absl::GetFlag(FLAGS_measure_s),
                .max_streams = absl::GetFlag(FLAGS_max_streams)};
  c.batch_streams = absl::GetFlag(FLAGS_batch_streams);
  c.idle_streams = absl::GetFlag(FLAGS_idle_streams);
  c.idle_audio_ms = absl::GetFlag(FLAGS_idle_audio_ms);
  c.memory_only = absl::GetFlag(FLAGS_memory_only);
  c.batched_only = absl::GetFlag(FLAGS_batched_only);
  c.json_out = absl::GetFlag(FLAGS_json);
  absl::Status s = ancat::bench::RunBench(c);
  if (!s.ok()) {
    std::fprintf(stderr, "ancat-bench: %s\n", s.ToString().c_str());
    return absl::IsUnavailable(s) || absl::IsFailedPrecondition(s) ? 2 : 1;
  }
  return 0;
}
