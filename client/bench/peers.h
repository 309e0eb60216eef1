// The peers ancat-bench compares against, run as child processes on the same CPUs, model
// weights and audio: PyTorch (models/recipe/model.py under Debian's torch) and onnxruntime
// (the recipe's ONNX export under the npm package onnxruntime-node). The scripts live in
// client/bench/peers/ and print one JSON object; peers/install.sh sets them up.
#ifndef ANCAT_CLIENT_BENCH_PEERS_H_
#define ANCAT_CLIENT_BENCH_PEERS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ancat::bench {

struct PeerConfig {
  std::string repo_dir;             // source root; scripts under client/bench/peers/
  std::string python = "/usr/bin/python3";  // Debian's, which has torch
  std::string node = "node";
  std::string model_dir;
  std::string audio_wav;            // the bench's 16 kHz float WAV (the samples Ancat gets)
  std::string work_dir;             // features, reference outputs, ONNX export, logs
  std::string onnx;                 // empty: export the model with models/recipe/export.py
  int threads = 1;                  // intra-op threads of each peer
  std::vector<int> cpus;            // CPU affinity of the peer processes
  double min_seconds = 3.0;         // time each peer mode at least this long
  int chunk_frames = 4;             // fbank frames per streaming step (4 = 40 ms)
  absl::Status Validate() const;
  std::string ToString() const;
};

// What a child process printed, and how it ended.
struct ChildOutput {
  int exit_code = -1;
  std::string out;        // stdout
  std::string err_tail;   // last lines of stderr
};

// Runs argv with extra environment variables, pinned to cpus (empty: inherit).
absl::StatusOr<ChildOutput> RunChild(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     const std::vector<int>& cpus, const std::string& log_path);

// PyTorch: offline Transducer.encode() and the cached streaming executor. Writes the raw fbank
// features and the offline encoder output into work_dir for the onnxruntime peer.
absl::StatusOr<nlohmann::json> RunTorchPeer(const PeerConfig& config);

// onnxruntime: offline encoder on the features the torch peer wrote; checks its output
// against torch's.
absl::StatusOr<nlohmann::json> RunOrtPeer(const PeerConfig& config);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_PEERS_H_
