// The causal Conv2d subsampling of FORMAT.md (fbank 10 ms -> encoder 40 ms), streaming:
// CMVN, conv1 3x3/2 + ReLU, conv2 3x3/2 + ReLU (two zero frames of left padding each, none on
// the right), then a Linear to d. Encoder frame j needs fbank frames 4j-6 .. 4j only, so each
// stream keeps just the last few fbank frames; the convolutions of many streams run as one
// matmul. Optionally (online_mean_frames > 0) each stream's running feature mean, after CMVN,
// is subtracted too, so that a channel's constant offset cancels as the stream goes on.
#ifndef ANCAT_ASR_NN_SUBSAMPLING_H_
#define ANCAT_ASR_NN_SUBSAMPLING_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "asr/nn/linear.h"

namespace ancat::asr::nn {

class CausalConvSubsampling {
 public:
  // PyTorch layouts: conv1_w [C,1,3,3], conv2_w [C,C,3,3], out_w [d, C*F2] (index c*F2 + f).
  struct Weights {
    const float *cmvn_mean, *cmvn_istd;
    const float *conv1_w, *conv1_b, *conv2_w, *conv2_b, *out_w, *out_b;
  };
  CausalConvSubsampling() = default;
  CausalConvSubsampling(const Weights& w, int num_bins, int channels, int d_model, ComputeType type,
                        int online_mean_frames = 0);

  // Per stream.
  struct State {
    std::vector<float> frames;  // CMVN'd fbank rows from absolute index first_frame on
    int64_t first_frame = 0;
    int64_t num_frames = 0;     // fbank frames received so far
    int64_t num_outputs = 0;    // encoder frames produced so far
    std::vector<double> mean_sum;  // online mean only: sum of the CMVN'd rows so far, [num_bins]
    size_t MemoryBytes() const { return frames.capacity() * sizeof(float) + mean_sum.capacity() * sizeof(double); }
  };

  int num_bins() const { return bins_; }
  int d_model() const { return d_; }
  // Raw fbank rows [n, num_bins]; CMVN (and the online mean) is applied here.
  void AcceptFrames(State* s, const float* fbank, int n) const;
  // Drops fbank rows no future output needs, and returns memory held after a backlog.
  void Trim(State* s) const;
  // Encoder frames computable now: floor((T-1)/4) + 1 - num_outputs for T frames received.
  int64_t NumReady(const State& s) const;
  // The next counts[i] encoder frames of states[i] (counts[i] <= NumReady), all streams in one
  // batch, written in order as rows of out [sum(counts), d].
  void Forward(absl::Span<State* const> states, absl::Span<const int> counts, float* out) const;

  // Multiply-adds per encoder frame (benchmarks).
  double MacsPerFrame() const;

 private:
  void Conv1Row(const State& s, int64_t row, float* out) const;  // out [F1, C]
  void SubtractRunningMean(State* s, float* rows, int n) const;

  int bins_ = 0, c_ = 0, d_ = 0, f1_ = 0, f2_ = 0;
  int online_mean_frames_ = 0;
  std::vector<float> mean_, istd_;
  std::vector<float> w1t_, b1_;  // conv1 weights as [9, C]
  Linear conv2_;                 // [C] x [9C], input order (kt, kf, cin)
  Linear out_;                   // [d] x [F2*C], input order (f, c)
};

}  // namespace ancat::asr::nn

#endif  // ANCAT_ASR_NN_SUBSAMPLING_H_
