// ancat-batch: transcribe a list of audio files offline into JSON lines.
// One line per file that could be transcribed, in input order:
//   {"audio": PATH (as given), "text": ..., "duration_s": ..., "segments": [{"start_s",
//    "end_s", "text", "confidence"}]}
// A file that cannot be read or transcribed is reported on the error stream and skipped.
#ifndef ANCAT_CLIENT_BATCH_BATCH_H_
#define ANCAT_CLIENT_BATCH_BATCH_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asr/recognizer.h"

namespace ancat::client {

struct BatchConfig {
  std::string model_dir;
  std::string input;    // list file: one audio path per line ('#' starts a comment line)
  std::string output;   // JSONL file, written (replaced)
  int threads = 2;      // files transcribed at once, one core each
  asr::DecodingConfig decoding;
  bool lm_lookahead = true;  // RecognizerConfig::lm_lookahead
  std::string compute_type = "f32";  // RecognizerConfig::compute_type: f32 | bf16 | int8
  std::string kv_cache = "f32";      // RecognizerConfig::kv_cache: f32 | bf16
  absl::Status Validate() const;
  std::string ToString() const;
};

struct BatchSummary {
  int64_t files = 0, failed = 0;
  double audio_s = 0, wall_s = 0;
};

// Runs the whole list. Errors: a bad config, model, list or output file (nothing is
// transcribed). Bad audio files are not errors: they are counted and reported on `err`.
absl::StatusOr<BatchSummary> RunBatch(const BatchConfig& config, std::ostream& err);

}  // namespace ancat::client

#endif  // ANCAT_CLIENT_BATCH_BATCH_H_
