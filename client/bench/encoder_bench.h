// The encoder alone (asr/encoder), measured the way the peers are: raw fbank features in,
// encoder frames out, nothing else timed. This is the like-for-like figure against PyTorch and
// onnxruntime and the one that gives the encoder's achieved GFLOP/s; the recognizer figures
// (stream_bench.h) add the frontend and the transducer search on top.
#ifndef ANCAT_CLIENT_BENCH_ENCODER_BENCH_H_
#define ANCAT_CLIENT_BENCH_ENCODER_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "asr/encoder/encoder.h"
#include "client/bench/stream_bench.h"

namespace ancat::bench {

// Raw fbank [T, num_mel_bins] (before CMVN) of 16 kHz samples, by asr/frontend with the
// options in model.json.
struct Features {
  std::vector<float> data;
  int frames = 0;
  int dim = 0;
};
absl::StatusOr<Features> ComputeFeatures(const std::string& model_dir,
                                         absl::Span<const float> samples);

// Reads raw float32 features [T, dim] (the torch peer's --dump_features file).
absl::StatusOr<Features> ReadFeatures(const std::string& path, int dim);

struct EncoderTiming {
  double median_s = 0;  // one pass over the utterance
  double cpu_s = 0;     // process CPU time of that pass
  int runs = 0;
  int frames = 0;       // encoder frames produced per pass
};

// Encoder::EncodeOffline on the whole utterance, repeated for min_seconds.
// *output (optional) receives the frames of the first pass.
absl::StatusOr<EncoderTiming> TimeEncoderOffline(asr::Encoder& enc, const Features& f,
                                                 double min_seconds,
                                                 std::vector<float>* output = nullptr);

// One stream fed chunk_frames fbank rows per step, Advance after each (the executor's
// streaming path), repeated for min_seconds.
absl::StatusOr<EncoderTiming> TimeEncoderStreaming(asr::Encoder& enc, const Features& f,
                                                   int chunk_frames, double min_seconds);

// N streams in lockstep, chunk_frames rows each per step, one Advance over all N per step.
// Returns the median step time in seconds (steps over `seconds` of audio per stream, after a
// one-second warm-up); *cpu_s_per_step (optional) receives the process CPU seconds per step over
// the same steps (all threads; a thread waiting for another one costs none).
absl::StatusOr<double> TimeEncoderBatchedStep(asr::Encoder& enc, const Features& f, int streams,
                                              int chunk_frames, double seconds,
                                              double* cpu_s_per_step = nullptr);

// The capacity search (stream_bench.h) on the encoder alone: N encoder streams in lockstep,
// 40 ms of fbank rows each per step, one Advance over all N. The encoder's share of the
// recognizer's capacity, per compute type.
absl::StatusOr<CapacityResult> FindEncoderCapacity(asr::Encoder& enc, const Features& f,
                                                   const CapacityConfig& capacity);

// Largest |a - b| over equal-length arrays; +inf when lengths differ.
double MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_ENCODER_BENCH_H_
