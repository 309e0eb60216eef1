#include "client/batch/batch.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "asr/audio/audio.h"
#include "nlohmann/json.hpp"

namespace ancat::client {
namespace {

absl::StatusOr<std::vector<std::string>> ReadList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open input list ", path));
  std::vector<std::string> paths;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view p = absl::StripAsciiWhitespace(line);
    if (p.empty() || p[0] == '#') continue;
    paths.emplace_back(p);
  }
  return paths;
}

// One file -> its JSON line.
absl::StatusOr<std::string> Transcribe(asr::Recognizer& recognizer, const BatchConfig& config,
                                       const std::string& path, double* audio_s) {
  auto samples = asr::ReadAudioFileForModel(path);
  if (!samples.ok()) return samples.status();
  asr::StreamConfig sc;
  sc.sample_rate = asr::kModelSampleRate;
  sc.interim_results = false;
  sc.decoding = config.decoding;
  auto results = recognizer.RecognizeClip(sc, *samples);
  if (!results.ok()) return results.status();
  nlohmann::json segments = nlohmann::json::array();
  std::vector<std::string> texts;
  for (const asr::Result& r : *results) {
    const asr::Alternative& best = r.alternatives.at(0);
    if (best.transcript.empty()) continue;
    texts.push_back(best.transcript);
    segments.push_back({{"start_s", r.start_s},
                        {"end_s", r.end_s},
                        {"text", best.transcript},
                        {"confidence", best.confidence}});
  }
  *audio_s = static_cast<double>(samples->size()) / asr::kModelSampleRate;
  nlohmann::json line = {{"audio", path},
                         {"text", absl::StrJoin(texts, " ")},
                         {"duration_s", *audio_s},
                         {"segments", segments}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What each worker's recognizer is built with; its Validate() checks the engine options.
asr::RecognizerConfig RecognizerConfigOf(const BatchConfig& c) {
  return {.model_dir = c.model_dir, .num_threads = 1, .compute_type = c.compute_type,
          .kv_cache = c.kv_cache, .lm_lookahead = c.lm_lookahead};
}

}  // namespace

absl::Status BatchConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  if (input.empty()) return absl::InvalidArgumentError("--input is required");
  if (output.empty()) return absl::InvalidArgumentError("--output is required");
  if (threads < 1 || threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat("--threads must be in [1, 256], got ", threads));
  }
  if (absl::Status s = RecognizerConfigOf(*this).Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", s.message()));
  }
  return decoding.Validate();
}

std::string BatchConfig::ToString() const {
  return absl::StrFormat(
      "BatchConfig(model_dir=%s, input=%s, output=%s, threads=%d, decoding=%s, lm_lookahead=%s, "
      "compute_type=%s, kv_cache=%s)",
      model_dir, input, output, threads, decoding.ToString(), lm_lookahead ? "true" : "false", compute_type,
      kv_cache);
}

absl::StatusOr<BatchSummary> RunBatch(const BatchConfig& config, std::ostream& err) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto paths = ReadList(config.input);
  if (!paths.ok()) return paths.status();
  // One recognizer per worker: the workers then share no mutable state at all (and results
  // do not depend on how files land on threads).
  const int workers = std::min<int>(config.threads, std::max<size_t>(1, paths->size()));
  std::vector<std::unique_ptr<asr::Recognizer>> recognizers;
  for (int t = 0; t < workers; ++t) {
    auto r = asr::Recognizer::Create(RecognizerConfigOf(config));
    if (!r.ok()) return r.status();
    recognizers.push_back(std::move(*r));
  }
  std::ofstream out(config.output, std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", config.output));

  const auto start = std::chrono::steady_clock::now();
  BatchSummary summary;
  summary.files = static_cast<int64_t>(paths->size());
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards summary, done, written and the output
  std::map<size_t, std::string> done;  // finished lines waiting for earlier ones
  size_t written = 0;
  auto worker = [&](asr::Recognizer* recognizer) {
    for (size_t i; (i = next.fetch_add(1)) < paths->size();) {
      double audio_s = 0;
      absl::StatusOr<std::string> line = Transcribe(*recognizer, config, (*paths)[i], &audio_s);
      std::lock_guard<std::mutex> lock(mu);
      if (line.ok()) {
        done[i] = std::move(*line);
        summary.audio_s += audio_s;
      } else {
        done[i] = "";
        ++summary.failed;
        err << "ancat-batch: " << (*paths)[i] << ": " << line.status().message() << std::endl;
      }
      // Lines go out in input order as soon as their predecessors are done.
      for (auto it = done.begin(); it != done.end() && it->first == written;
           it = done.erase(it), ++written) {
        if (!it->second.empty()) out << it->second << '\n';
      }
      out.flush();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) pool.emplace_back(worker, recognizers[t].get());
  for (std::thread& t : pool) t.join();
  summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!out) return absl::DataLossError(absl::StrCat("writing ", config.output, " failed"));
  return summary;
}

}  // namespace ancat::client
