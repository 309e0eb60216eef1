// The streaming causal subsampling against a direct (non-streaming) evaluation of FORMAT.md's
// formula: conv1/conv2 with two zero frames of left padding, ReLU, channel-major flatten, Linear.
#include "asr/nn/subsampling.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace ancat::asr::nn {
namespace {

struct Params {
  int bins = 20, c = 3, d = 5;
  std::vector<float> mean, istd, w1, b1, w2, b2, wo, bo;
  int f1() const { return (bins - 3) / 2 + 1; }
  int f2() const { return (f1() - 3) / 2 + 1; }
};

Params MakeParams(std::mt19937& rng, int channels = 3) {
  Params p;
  p.c = channels;
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto fill = [&](std::vector<float>& v, size_t n) {
    v.resize(n);
    for (float& x : v) x = u(rng);
  };
  fill(p.mean, p.bins);
  fill(p.istd, p.bins);
  for (float& x : p.istd) x += 1.0f;
  fill(p.w1, p.c * 9);
  fill(p.b1, p.c);
  fill(p.w2, p.c * p.c * 9);
  fill(p.b2, p.c);
  fill(p.wo, static_cast<size_t>(p.d) * p.c * p.f2());
  fill(p.bo, p.d);
  return p;
}

CausalConvSubsampling::Weights WeightsOf(const Params& p) {
  return {p.mean.data(), p.istd.data(), p.w1.data(), p.b1.data(), p.w2.data(), p.b2.data(), p.wo.data(), p.bo.data()};
}

// Direct evaluation over the whole input: [T2, d].
std::vector<double> Reference(const Params& p, const std::vector<float>& fbank, int t) {
  auto x = [&](int frame, int b) -> double {
    if (frame < 0) return 0;
    return (fbank[frame * p.bins + b] - p.mean[b]) * p.istd[b];
  };
  const int t1 = (t - 1) / 2 + 1, t2 = (t1 - 1) / 2 + 1;
  std::vector<double> c1(static_cast<size_t>(t1) * p.c * p.f1());
  auto c1at = [&](int row, int ch, int f) -> double { return row < 0 ? 0 : c1[(row * p.c + ch) * p.f1() + f]; };
  for (int i = 0; i < t1; ++i)
    for (int ch = 0; ch < p.c; ++ch)
      for (int f = 0; f < p.f1(); ++f) {
        double s = p.b1[ch];
        for (int kt = 0; kt < 3; ++kt)
          for (int kf = 0; kf < 3; ++kf) s += p.w1[ch * 9 + kt * 3 + kf] * x(2 * i - 2 + kt, 2 * f + kf);
        c1[(i * p.c + ch) * p.f1() + f] = s > 0 ? s : 0;
      }
  std::vector<double> out(static_cast<size_t>(t2) * p.d);
  for (int j = 0; j < t2; ++j) {
    std::vector<double> flat(p.c * p.f2());
    for (int co = 0; co < p.c; ++co)
      for (int f = 0; f < p.f2(); ++f) {
        double s = p.b2[co];
        for (int ci = 0; ci < p.c; ++ci)
          for (int kt = 0; kt < 3; ++kt)
            for (int kf = 0; kf < 3; ++kf)
              s += p.w2[((co * p.c + ci) * 3 + kt) * 3 + kf] * c1at(2 * j - 2 + kt, ci, 2 * f + kf);
        flat[co * p.f2() + f] = s > 0 ? s : 0;
      }
    for (int o = 0; o < p.d; ++o) {
      double s = p.bo[o];
      for (int i = 0; i < p.c * p.f2(); ++i) s += p.wo[o * p.c * p.f2() + i] * flat[i];
      out[j * p.d + o] = s;
    }
  }
  return out;
}

TEST(SubsamplingTest, StreamingMatchesDirectEvaluation) {
  std::mt19937 rng(9);
  Params p = MakeParams(rng);
  CausalConvSubsampling sub(WeightsOf(p), p.bins, p.c, p.d, ComputeType::kF32);
  std::uniform_real_distribution<float> u(-2, 2);
  for (int t : {1, 2, 4, 5, 6, 7, 9, 31}) {
    std::vector<float> fbank(static_cast<size_t>(t) * p.bins);
    for (float& v : fbank) v = u(rng);
    auto ref = Reference(p, fbank, t);
    const int t2 = static_cast<int>(ref.size()) / p.d;
    // Feed one frame at a time, emitting whatever is ready each time.
    CausalConvSubsampling::State st;
    std::vector<float> got;
    for (int f = 0; f < t; ++f) {
      sub.AcceptFrames(&st, fbank.data() + f * p.bins, 1);
      int n = static_cast<int>(sub.NumReady(st));
      EXPECT_EQ(n, f % 4 == 0 ? 1 : 0) << "frame j needs fbank frame 4j and nothing later";
      if (n == 0) continue;
      std::vector<float> out(static_cast<size_t>(n) * p.d);
      CausalConvSubsampling::State* sp = &st;
      sub.Forward({&sp, 1}, {&n, 1}, out.data());
      got.insert(got.end(), out.begin(), out.end());
    }
    ASSERT_EQ(static_cast<int>(got.size()), t2 * p.d) << t;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5) << t;
    EXPECT_LE(st.frames.size(), 11u * p.bins) << "keeps only a few frames of history";
  }
}

// Each stream gets its whole fbank at once (random, one length per stream); then all streams
// run as one batch.
struct OneBatch {
  std::vector<CausalConvSubsampling::State> states;
  std::vector<int> counts;                // output frames per stream
  std::vector<std::vector<double>> refs;  // Reference() per stream
  std::vector<float> out;                 // the batch's output rows, stream after stream
};

OneBatch RunAsOneBatch(CausalConvSubsampling& sub, const Params& p, const std::vector<int>& lengths,
                       std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-2, 2);
  OneBatch b;
  b.states.resize(lengths.size());
  std::vector<CausalConvSubsampling::State*> ptrs;
  int total = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<float> fbank(static_cast<size_t>(lengths[i]) * p.bins);
    for (float& v : fbank) v = u(rng);
    b.refs.push_back(lengths[i] ? Reference(p, fbank, lengths[i]) : std::vector<double>{});
    sub.AcceptFrames(&b.states[i], fbank.data(), lengths[i]);
    ptrs.push_back(&b.states[i]);
    b.counts.push_back(static_cast<int>(sub.NumReady(b.states[i])));
    total += b.counts.back();
  }
  b.out.resize(static_cast<size_t>(total) * p.d);
  sub.Forward(ptrs, b.counts, b.out.data());
  return b;
}

// Every stream's rows equal its reference within abs + rel * |reference|.
void ExpectMatchesReferences(const OneBatch& b, int d, double abs, double rel) {
  size_t row = 0;
  for (size_t i = 0; i < b.refs.size(); ++i) {
    const std::vector<double>& ref = b.refs[i];
    ASSERT_EQ(ref.size(), static_cast<size_t>(b.counts[i]) * d);
    for (size_t k = 0; k < ref.size(); ++k) {
      ASSERT_NEAR(b.out[row * d + k], ref[k], abs + rel * std::fabs(ref[k])) << i << " " << k;
    }
    row += b.counts[i];
  }
}

TEST(SubsamplingTest, BatchOfStreamsEqualsEachAlone) {
  std::mt19937 rng(10);
  Params p = MakeParams(rng);
  CausalConvSubsampling sub(WeightsOf(p), p.bins, p.c, p.d, ComputeType::kF32);
  const OneBatch b = RunAsOneBatch(sub, p, {13, 1, 40, 0, 8}, rng);
  ASSERT_NO_FATAL_FAILURE(ExpectMatchesReferences(b, p.d, 1e-5, 0));
  for (const auto& st : b.states) EXPECT_EQ(sub.NumReady(st), 0);
}

// 64 channels (the default model's count, which has its own register-blocked conv1 kernel) and
// more conv2 rows than one im2col chunk of 256 rows holds (86 frames x 4 rows here).
TEST(SubsamplingTest, SixtyFourChannelsOverSeveralChunksMatchDirectEvaluation) {
  std::mt19937 rng(12);
  Params p = MakeParams(rng, 64);
  CausalConvSubsampling sub(WeightsOf(p), p.bins, p.c, p.d, ComputeType::kF32);
  const OneBatch b = RunAsOneBatch(sub, p, {300, 41}, rng);
  ASSERT_GT((b.counts[0] + b.counts[1]) * p.f2(), 256);
  ASSERT_NO_FATAL_FAILURE(ExpectMatchesReferences(b, p.d, 1e-4, 1e-4));
}

// The online mean (online_mean_frames = P): row t of the stream, after CMVN, loses
// sum(rows 0..t) / (t + 1 + P), however the rows are split into calls. Checked on the rows the
// state keeps, and on the outputs against a stream fed the same rows pre-normalized.
TEST(SubsamplingTest, OnlineMeanSubtractsTheRunningMeanAcrossCalls) {
  std::mt19937 rng(5);
  Params p = MakeParams(rng);
  const CausalConvSubsampling::Weights w = WeightsOf(p);
  const int prior = 7, t = 29;
  CausalConvSubsampling online(w, p.bins, p.c, p.d, ComputeType::kF32, prior);
  std::uniform_real_distribution<float> u(-2, 2);
  std::vector<float> fbank(static_cast<size_t>(t) * p.bins);
  for (float& v : fbank) v = u(rng) + 3.0f;  // an offset the running mean takes out
  // expected rows, and the raw rows that give them through plain CMVN
  std::vector<float> want(fbank.size()), raw(fbank.size());
  std::vector<double> sum(p.bins, 0.0);
  for (int r = 0; r < t; ++r)
    for (int b = 0; b < p.bins; ++b) {
      const float y = (fbank[r * p.bins + b] - p.mean[b]) * p.istd[b];
      sum[b] += y;
      want[r * p.bins + b] = y - static_cast<float>(sum[b] / (r + 1 + prior));
      raw[r * p.bins + b] = want[r * p.bins + b] / p.istd[b] + p.mean[b];
    }
  CausalConvSubsampling::State st;
  int fed = 0;
  for (int n : {1, 3, 4, 9, 12}) {  // 29 rows in uneven calls
    online.AcceptFrames(&st, fbank.data() + static_cast<size_t>(fed) * p.bins, n);
    fed += n;
  }
  ASSERT_EQ(st.first_frame, 0);
  ASSERT_EQ(st.frames.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(st.frames[i], want[i], 1e-5) << i;
  // and the convolutions see exactly those rows
  CausalConvSubsampling plain(w, p.bins, p.c, p.d, ComputeType::kF32);
  CausalConvSubsampling::State ps;
  plain.AcceptFrames(&ps, raw.data(), t);
  int n = static_cast<int>(online.NumReady(st));
  ASSERT_EQ(n, static_cast<int>(plain.NumReady(ps)));
  std::vector<float> a(static_cast<size_t>(n) * p.d), b(a.size());
  CausalConvSubsampling::State* sp = &st;
  CausalConvSubsampling::State* pp = &ps;
  online.Forward({&sp, 1}, {&n, 1}, a.data());
  plain.Forward({&pp, 1}, {&n, 1}, b.data());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
  EXPECT_GT(st.MemoryBytes(), static_cast<size_t>(p.bins) * sizeof(double)) << "the sum is counted";
}

}  // namespace
}  // namespace ancat::asr::nn
