#include "asr/nn/subsampling.h"

#include <algorithm>
#include <cstring>

#include "asr/nn/internal/simd.h"

namespace ancat::asr::nn {

CausalConvSubsampling::CausalConvSubsampling(const Weights& w, int num_bins, int channels, int d_model,
                                             ComputeType type, int online_mean_frames)
    : bins_(num_bins), c_(channels), d_(d_model), online_mean_frames_(online_mean_frames) {
  f1_ = (num_bins - 3) / 2 + 1;
  f2_ = (f1_ - 3) / 2 + 1;
  mean_.assign(w.cmvn_mean, w.cmvn_mean + bins_);
  istd_.assign(w.cmvn_istd, w.cmvn_istd + bins_);
  w1t_.resize(9 * c_);
  for (int c = 0; c < c_; ++c)
    for (int k = 0; k < 9; ++k) w1t_[k * c_ + c] = w.conv1_w[c * 9 + k];
  b1_.assign(w.conv1_b, w.conv1_b + c_);
  // conv2: [cout][cin][kt][kf] -> [cout][(kt*3 + kf)*C + cin], matching the im2col rows below.
  std::vector<float> w2(static_cast<size_t>(c_) * 9 * c_);
  for (int co = 0; co < c_; ++co)
    for (int ci = 0; ci < c_; ++ci)
      for (int k = 0; k < 9; ++k) w2[(static_cast<size_t>(co) * 9 + k) * c_ + ci] = w.conv2_w[(static_cast<size_t>(co) * c_ + ci) * 9 + k];
  conv2_ = Linear(w2.data(), w.conv2_b, c_, 9 * c_, type);
  // out: input index c*F2 + f -> f*C + c, so a frame's conv2 rows [F2, C] are its input as is.
  std::vector<float> wo(static_cast<size_t>(d_) * f2_ * c_);
  for (int o = 0; o < d_; ++o)
    for (int c = 0; c < c_; ++c)
      for (int f = 0; f < f2_; ++f)
        wo[(static_cast<size_t>(o) * f2_ + f) * c_ + c] = w.out_w[(static_cast<size_t>(o) * c_ + c) * f2_ + f];
  out_ = Linear(wo.data(), w.out_b, d_, f2_ * c_, type);
}

void CausalConvSubsampling::Trim(State* s) const {
  // Frames before 4 * num_outputs - 6 are never needed again.
  const int64_t keep_from = std::max<int64_t>(0, 4 * s->num_outputs - 6);
  if (keep_from > s->first_frame) {
    const int64_t drop = std::min<int64_t>(keep_from - s->first_frame, s->num_frames - s->first_frame);
    s->frames.erase(s->frames.begin(), s->frames.begin() + drop * bins_);
    s->first_frame += drop;
  }
  if (s->frames.capacity() > 4 * s->frames.size() + 32 * static_cast<size_t>(bins_)) s->frames.shrink_to_fit();
}

void CausalConvSubsampling::AcceptFrames(State* s, const float* fbank, int n) const {
  Trim(s);
  const size_t old = s->frames.size();
  s->frames.resize(old + static_cast<size_t>(n) * bins_);
  float* dst = s->frames.data() + old;
  for (int r = 0; r < n; ++r)
    for (int b = 0; b < bins_; ++b) dst[r * bins_ + b] = (fbank[r * bins_ + b] - mean_[b]) * istd_[b];
  if (online_mean_frames_ > 0) SubtractRunningMean(s, dst, n);
  s->num_frames += n;
}

// Row t of the stream (absolute) loses sum(rows 0..t) / (t + 1 + online_mean_frames): the
// recipe's model.online_mean, summed in double as there, so that hours of audio keep precision.
void CausalConvSubsampling::SubtractRunningMean(State* s, float* rows, int n) const {
  if (s->mean_sum.empty()) s->mean_sum.assign(bins_, 0.0);
  for (int r = 0; r < n; ++r) {
    const double count = static_cast<double>(s->num_frames + r + 1 + online_mean_frames_);
    float* row = rows + static_cast<size_t>(r) * bins_;
    for (int b = 0; b < bins_; ++b) {
      s->mean_sum[b] += row[b];
      row[b] -= static_cast<float>(s->mean_sum[b] / count);  // the mean rounded to float first, as there
    }
  }
}

int64_t CausalConvSubsampling::NumReady(const State& s) const {
  if (s.num_frames == 0) return 0;
  return (s.num_frames - 1) / 4 + 1 - s.num_outputs;
}

// 16 channels of one output position in a vector: the 9 taps accumulate in registers instead of
// a load and store of the output per tap. Same arithmetic per channel as the plain loop (bias,
// then one multiply-add per tap in tap order, then ReLU).
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));

template <int kVecs>
inline __attribute__((always_inline)) void Conv1Position(const float patch[9], const float* w1t, const float* b1,
                                                         int c, float* o) {
  Vec16 acc[kVecs];
  for (int v = 0; v < kVecs; ++v) acc[v] = *reinterpret_cast<const Vec16*>(b1 + 16 * v);
  for (int k = 0; k < 9; ++k) {
    const float p = patch[k];
    const float* w = w1t + k * c;
    for (int v = 0; v < kVecs; ++v) acc[v] += p * *reinterpret_cast<const Vec16*>(w + 16 * v);
  }
  const Vec16 zero = {};
  for (int v = 0; v < kVecs; ++v) *reinterpret_cast<Vec16*>(o + 16 * v) = acc[v] > zero ? acc[v] : zero;
}

ANCAT_MULTIVERSION
static void Conv1Kernel(const float* patch_rows[3], int f1, int c, const float* w1t, const float* b1, float* out) {
  for (int g = 0; g < f1; ++g) {
    float patch[9];
    for (int kt = 0; kt < 3; ++kt)
      for (int kf = 0; kf < 3; ++kf) patch[kt * 3 + kf] = patch_rows[kt] ? patch_rows[kt][2 * g + kf] : 0.0f;
    float* o = out + g * c;
    if (c == 64) {  // the default model's channels
      Conv1Position<4>(patch, w1t, b1, c, o);
      continue;
    }
    for (int ch = 0; ch < c; ++ch) o[ch] = b1[ch];
    for (int k = 0; k < 9; ++k) {
      const float p = patch[k];
      const float* w = w1t + k * c;
      for (int ch = 0; ch < c; ++ch) o[ch] += p * w[ch];
    }
    for (int ch = 0; ch < c; ++ch) o[ch] = o[ch] > 0 ? o[ch] : 0;
  }
}

void CausalConvSubsampling::Conv1Row(const State& s, int64_t row, float* out) const {
  if (row < 0) {  // conv2's left padding: zeros in conv1's output space
    std::memset(out, 0, sizeof(float) * f1_ * c_);
    return;
  }
  const float* rows[3];
  for (int kt = 0; kt < 3; ++kt) {
    const int64_t t = 2 * row - 2 + kt;  // conv1's left padding: zero fbank frames
    rows[kt] = t < 0 ? nullptr : s.frames.data() + (t - s.first_frame) * bins_;
  }
  Conv1Kernel(rows, f1_, c_, w1t_.data(), b1_.data(), out);
}

void CausalConvSubsampling::Forward(absl::Span<State* const> states, absl::Span<const int> counts, float* out) const {
  int total = 0;
  for (int n : counts) total += n;
  if (total == 0) return;
  const int row_floats = f1_ * c_;
  const size_t col_floats = static_cast<size_t>(9) * c_;
  // conv2's im2col rows go through a buffer of kChunkRows rows (Linear's largest call, so the
  // matmul calls are the ones a single call over all rows would make): a batch of 128 frames
  // would otherwise write and read back 5.6 MB of rows that miss every cache.
  constexpr int kChunkRows = 256;
  thread_local std::vector<float> conv1, cols, conv2;
  conv1.resize(static_cast<size_t>(3) * row_floats);
  cols.resize(kChunkRows * col_floats);
  conv2.resize(static_cast<size_t>(total) * f2_ * c_);
  int row = 0, chunk_start = 0;  // rows of conv2 done: [0, chunk_start); cols holds [chunk_start, row)
  auto flush = [&] {
    if (row == chunk_start) return;
    conv2_.Forward(cols.data(), row - chunk_start, conv2.data() + static_cast<size_t>(chunk_start) * c_, Epilogue::kRelu);
    chunk_start = row;
  };
  for (size_t i = 0; i < states.size(); ++i) {
    State* s = states[i];
    for (int n = 0; n < counts[i]; ++n) {
      const int64_t j = s->num_outputs + n;
      for (int kt = 0; kt < 3; ++kt) Conv1Row(*s, 2 * j - 2 + kt, conv1.data() + kt * row_floats);
      for (int f = 0; f < f2_; ++f, ++row) {
        if (row - chunk_start == kChunkRows) flush();
        float* col = cols.data() + (row - chunk_start) * col_floats;
        for (int kt = 0; kt < 3; ++kt)
          for (int kf = 0; kf < 3; ++kf)
            std::memcpy(col + (kt * 3 + kf) * c_, conv1.data() + kt * row_floats + (2 * f + kf) * c_, sizeof(float) * c_);
      }
    }
    s->num_outputs += counts[i];
  }
  flush();
  out_.Forward(conv2.data(), total, out);
}

double CausalConvSubsampling::MacsPerFrame() const {
  return 2.0 * f1_ * c_ * 9 + static_cast<double>(f2_) * 9 * c_ * c_ + static_cast<double>(f2_) * c_ * d_;
}

}  // namespace ancat::asr::nn
