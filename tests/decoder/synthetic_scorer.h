// A TransducerScorer for tests: the encoder "frame" is one float holding the frame index,
// and a callback fills the log-probabilities of (frame index, context) directly, so a
// test knows every path's probability.
#ifndef ANCAT_TESTS_DECODER_SYNTHETIC_SCORER_H_
#define ANCAT_TESTS_DECODER_SYNTHETIC_SCORER_H_

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "asr/decoder/scorer.h"

namespace ancat::asr::testing {

class SyntheticScorer : public TransducerScorer {
 public:
  // probs(t, context, row): fills vocab probabilities (normalised here) for frame t.
  using Fn = std::function<void(int t, const int32_t* context, float* probs)>;
  SyntheticScorer(int vocab, int context_size, Fn fn)
      : vocab_(vocab), context_(context_size), fn_(std::move(fn)) {}

  int vocab_size() const override { return vocab_; }
  int blank_id() const override { return 0; }
  int context_size() const override { return context_; }
  int encoder_dim() const override { return 1; }
  int frame_dim() const override { return 1; }
  void ProjectFrames(const float* in, int n, float* out) const override {
    std::copy(in, in + n, out);
  }
  void Score(absl::Span<const JoinQuery> queries, float* logprobs) const override {
    ++calls;
    rows += queries.size();
    for (size_t i = 0; i < queries.size(); ++i) {
      float* row = logprobs + i * vocab_;
      std::fill(row, row + vocab_, 0.0f);
      fn_(static_cast<int>(std::lround(queries[i].frame[0])), queries[i].context, row);
      double sum = 0;
      for (int v = 0; v < vocab_; ++v) sum += row[v];
      for (int v = 0; v < vocab_; ++v) row[v] = static_cast<float>(std::log(row[v] / sum));
    }
  }
  mutable int calls = 0;
  mutable size_t rows = 0;

 private:
  int vocab_, context_;
  Fn fn_;
};

// Frames 0..n-1 as encoder rows for a SyntheticScorer.
inline std::vector<float> FrameIndices(int first, int n) {
  std::vector<float> f(n);
  for (int i = 0; i < n; ++i) f[i] = static_cast<float>(first + i);
  return f;
}

}  // namespace ancat::asr::testing

#endif  // ANCAT_TESTS_DECODER_SYNTHETIC_SCORER_H_
