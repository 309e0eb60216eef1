// The public face of the Ancat library. service/ and client/ use this header (and
// asr/audio/audio.h for reading audio), never the layers behind it.
//
// Usage, as with sherpa-onnx's online recognizer:
//   auto rec = Recognizer::Create(config);             // loads the model once
//   auto stream = (*rec)->CreateStream(stream_config);  // one per utterance/session
//   stream->AcceptWaveform(samples);                     // any chunk size
//   (*rec)->DecodeStreams({stream.get(), ...});          // advances many streams in one batch
//   for (auto& r : stream->TakeResults()) ...            // partial and final results
#ifndef ANCAT_ASR_RECOGNIZER_H_
#define ANCAT_ASR_RECOGNIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ancat::asr {

// How much future audio the encoder may wait for. Per stream.
struct LatencyConfig {
  float beta = 0.0f;            // >= 0; larger trades accuracy for latency (0 = as trained)
  int max_lookahead_ms = -1;    // per-layer cap; -1 = no cap
  absl::Status Validate() const;
  std::string ToString() const;
};

struct DecodingConfig {
  enum class Method { kGreedy, kModifiedBeam };
  Method method = Method::kModifiedBeam;
  int beam = 4;                 // hypotheses kept (modified beam search)
  int max_alternatives = 1;     // n-best size returned, <= beam
  float lm_weight = -1.0f;      // shallow-fusion weight; < 0 = the model's default
  float word_bonus = -1.0f;     // word-insertion bonus; < 0 = the model's default
  float blank_penalty = -1.0f;  // subtracted from blank's log-prob per step; < 0 = the model's
                                // for beam search, 0 for greedy
  absl::Status Validate() const;
  std::string ToString() const;
};

struct EndpointConfig {
  bool enabled = true;
  int trailing_silence_ms = 800;       // blank run after speech that ends an utterance
  int leading_silence_ms = 5000;       // blank run without speech that ends an (empty) utterance
  int max_utterance_ms = 20000;        // forced end of a long utterance
  absl::Status Validate() const;
  std::string ToString() const;
};

// Options of one stream (one gRPC request, one file).
struct StreamConfig {
  int sample_rate = 16000;      // rate of the samples given to AcceptWaveform; resampled inside
  bool interim_results = true;  // produce partial results
  bool single_utterance = false;// stop after the first final result
  bool word_time_offsets = false;
  bool word_confidence = false;
  LatencyConfig latency;
  DecodingConfig decoding;
  EndpointConfig endpoint;
  absl::Status Validate() const;
  std::string ToString() const;
};

struct RecognizerConfig {
  std::string model_dir;        // folder with model.json (models/FORMAT.md)
  int num_threads = 1;          // threads for batched encoder work
  int max_batch = 256;          // streams advanced in one batched call, at most
  // Arithmetic of the encoder's matmuls: "f32", "bf16" (avx512_bf16 CPUs) or "int8" (VNNI
  // CPUs); refused where the CPU lacks the kernels. The decoder stays f32.
  std::string compute_type = "f32";
  // Element type of the encoder's key/value cache, the bulk of a stream's memory: "f32", or
  // "bf16", which halves it at about 2e-3 relative change in the encoder's outputs. An idle
  // stream of the default model holds 0.90-0.92 MiB in f32 (most of it keys and values)
  // and about 0.47 MiB in bf16 (BENCHMARKS.md, run M-slack2).
  std::string kv_cache = "f32";
  // LM fusion scores a word in progress by the best LM word its spelling can still become
  // (off: only complete words are scored, as models/recipe/decode.py does).
  bool lm_lookahead = true;
  absl::Status Validate() const;
  std::string ToString() const;
};

struct Word {
  std::string text;
  double start_s = 0, end_s = 0;  // from the start of the stream
  float confidence = 0;
};

struct Alternative {
  std::string transcript;
  float confidence = 0;         // in [0, 1]
  std::vector<Word> words;
};

struct Result {
  bool is_final = false;
  float stability = 0;          // for partials: likelihood the text will not change, [0, 1]
  std::vector<Alternative> alternatives;  // best first; at least one
  double start_s = 0;           // start of this utterance, from the start of the stream
  double end_s = 0;             // audio consumed when the result was made (result_end_offset)
  double mean_lookahead_ms = 0; // algorithmic lookahead latency actually used, mean over frames
  double p90_lookahead_ms = 0;
  bool end_of_utterance = false;  // endpoint detected (speech event)
};

struct ModelInfo {
  std::string name, version;
  int sample_rate = 16000;
  std::vector<int> lookahead_ms;  // the lookahead set W, in ms
  int vocab_size = 0;
  int frame_ms = 40;
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Mono float samples in [-1, 1] at StreamConfig::sample_rate. Any chunk size.
  virtual absl::Status AcceptWaveform(absl::Span<const float> samples) = 0;
  // No more audio: the stream's end releases frames that waited for lookahead.
  virtual void InputFinished() = 0;
  // True when DecodeStreams would make progress on this stream.
  virtual bool IsReady() const = 0;
  // True once input is finished and every result has been produced.
  virtual bool IsDone() const = 0;
  // Results made since the last call, oldest first. Partials only if interim_results.
  virtual std::vector<Result> TakeResults() = 0;
};

class Recognizer {
 public:
  virtual ~Recognizer() = default;
  static absl::StatusOr<std::unique_ptr<Recognizer>> Create(const RecognizerConfig& config);

  virtual const ModelInfo& Info() const = 0;
  virtual absl::StatusOr<std::unique_ptr<Stream>> CreateStream(const StreamConfig& config) = 0;
  // Advances every given stream as far as its audio allows; work of the same kind across
  // streams runs as one batch. Streams must come from this recognizer.
  virtual absl::Status DecodeStreams(absl::Span<Stream* const> streams) = 0;

  // Whole clip, offline: returns the final results (one per utterance).
  absl::StatusOr<std::vector<Result>> RecognizeClip(const StreamConfig& config,
                                                    absl::Span<const float> samples);
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_RECOGNIZER_H_
