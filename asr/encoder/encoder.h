// The streaming ANCAT encoder executor (DESIGN.md §3, FORMAT.md).
//
// Computation is dependency-driven, not chunk-driven: node (l, t) runs as soon as layer l-1 has
// finished every frame up to min(t + W[a_l(t)], last), where a_l(t) is layer l's arbiter choice
// (argmax of its logits minus beta * W[k], over k with W[k] <= the stream's max lookahead).
// Frames of one layer may finish out of order; the next layer and the decoder consume the
// finished prefix. Each stream keeps, per layer, a bounded KV cache (left_context + lookahead
// frames) and the few frames waiting for their lookahead.
//
// Batching is the primitive: Encoder::Advance(streams) gathers the ready rows of one layer
// across all given streams (and across the ready frames of each stream) into one matmul per
// weight. Offline recognition is the same executor fed a whole file and InputFinished().
//
// Usage (recognizer.cc):
//   auto enc = Encoder::Create(model, {.num_threads = 2});
//   auto s = (*enc)->CreateStream({.beta = 0.5f});
//   s->AcceptFeatures(fbank_rows, n);            // raw fbank [n, num_mel_bins], before CMVN
//   (*enc)->Advance({s.get(), ...});             // any number of streams
//   for (int i = 0; i < s->NumOutputFrames(); ++i) use(s->OutputFrame(i), s->OutputLatency(i));
//   s->PopOutputFrames(s->NumOutputFrames());
#ifndef ANCAT_ASR_ENCODER_ENCODER_H_
#define ANCAT_ASR_ENCODER_ENCODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "asr/model/model.h"
#include "asr/nn/attention.h"
#include "asr/nn/linear.h"

namespace ancat::asr {

struct EncoderConfig {
  // Threads inside Advance: with several streams each thread advances its share of them
  // (single-threaded matmuls, one fork/join per call); with one stream, threads inside matmuls.
  int num_threads = 1;
  // Matmuls of the subsampling and the layers' Linears. kBF16: bf16 (avx512_bf16). kInt8: s8
  // weights and per-row s8 activations (VNNI), except the arbiter, which stays f32. Attention
  // (scores, softmax, weighted values), norms and the residual stream stay f32 in every mode.
  nn::ComputeType compute = nn::ComputeType::kF32;
  // Rows of one batched round: each stream contributes up to max(max_frames_per_round,
  // round_rows / streams) new frames, so a lone stream with a backlog (a file) still fills
  // big matmuls and reads the weights once per round_rows frames.
  int max_frames_per_round = 16;
  int round_rows = 256;
  // Key/value cache storage: kBF16 halves per-stream memory and attention's memory traffic
  // (keys/values rounded to bf16; encoder outputs move by ~2e-3 relative, arbiter choices did
  // not change on the models tried: tests/encoder/encoder_precision). f32 (the default) keeps
  // parity with the recipe's goldens within 1e-3; kBF16 is what keeps an idle stream of the
  // default-size model under 1 MB.
  nn::KvType kv_cache = nn::KvType::kF32;
  absl::Status Validate() const;
  std::string ToString() const;
};

// Per-stream latency preference (LatencyConfig of recognizer.h, in frames).
struct EncoderStreamOptions {
  float beta = 0.0f;              // >= 0; subtracts beta * W[k] from the arbiter logits
  int max_lookahead_frames = -1;  // per-layer cap on W[k]; -1 = none. Below min(W): min(W).
  bool record_choices = false;    // keep every layer's arbiter choices (tests, analysis)
  absl::Status Validate() const;
  std::string ToString() const;
};

class Encoder;

class EncoderStream {
 public:
  ~EncoderStream();
  EncoderStream(const EncoderStream&) = delete;
  EncoderStream& operator=(const EncoderStream&) = delete;

  // Raw fbank rows [n, num_mel_bins] (before CMVN), in order, any n >= 0. Ignored after
  // InputFinished().
  void AcceptFeatures(const float* fbank, int n);
  // No more features: frames that waited for lookahead past the end are released.
  void InputFinished();
  bool input_finished() const;

  // True when Advance would compute something for this stream.
  bool IsReady() const;
  // True once input is finished and every encoder frame has been produced (popped or not).
  bool IsDone() const;

  // Finished top-layer frames not yet popped, in time order. Frame i has absolute index
  // FirstOutputIndex() + i, d_model floats (after encoder.final_norm), and algorithmic latency
  // R_L(t) - t in frames (x frame_ms).
  int NumOutputFrames() const;
  int64_t FirstOutputIndex() const;
  absl::Span<const float> OutputFrame(int i) const;
  int OutputLatency(int i) const;
  void PopOutputFrames(int n);
  // Encoder frames finished (in order) since the start of the stream, popped or not.
  int64_t NumFramesProduced() const;

  // Arbiter choices a_l(t) (indices into W) of layer l for frames 0.. (record_choices only).
  const std::vector<int>& Choices(int layer) const;
  const EncoderStreamOptions& options() const;
  // Heap bytes held by this stream (caches, queues).
  size_t MemoryBytes() const;
  // Per layer, in frames, what the stream holds (memory accounting, tests).
  struct LayerMemory {
    int64_t kv_capacity = 0;    // room of the key/value ring
    int64_t kv_live = 0;        // keys/values a query can still read (left context + waiting)
    int64_t slot_capacity = 0;  // room for residuals and queries (2 d floats per frame)
    int64_t waiting = 0;        // frames taken in and not yet handed on to the next layer
  };
  std::vector<LayerMemory> MemoryByLayer() const;

 private:
  friend class Encoder;
  struct State;
  explicit EncoderStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// What EncodeOffline returns: the whole utterance.
struct EncoderOutput {
  int num_frames = 0;
  int d_model = 0;
  std::vector<float> frames;                 // [num_frames, d_model]
  std::vector<int> latency;                  // [num_frames], R_L(t) - t
  std::vector<std::vector<int>> choices;     // [num_layers][num_frames] (record_choices only)
};

class Encoder {
 public:
  static absl::StatusOr<std::unique_ptr<Encoder>> Create(std::shared_ptr<const Model> model,
                                                         const EncoderConfig& config);
  ~Encoder();

  absl::StatusOr<std::unique_ptr<EncoderStream>> CreateStream(const EncoderStreamOptions& options) const;

  // Advances every given stream as far as its features allow; same-layer rows of all streams
  // run as one batch. Streams must come from this encoder (duplicates are ignored). Thread-safe
  // for disjoint sets of streams; one stream must not be used from two threads at once.
  absl::Status Advance(absl::Span<EncoderStream* const> streams);

  // Offline: all of `fbank` [num_frames, num_mel_bins] through a fresh stream.
  absl::StatusOr<EncoderOutput> EncodeOffline(const float* fbank, int num_frames,
                                              const EncoderStreamOptions& options);

  const Model& model() const;
  const EncoderConfig& config() const;
  int d_model() const;
  // Multiply-adds of one encoder frame (subsampling + layers), for GFLOP/s figures.
  double MacsPerFrame() const;

 private:
  struct Impl;
  explicit Encoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_ENCODER_ENCODER_H_
