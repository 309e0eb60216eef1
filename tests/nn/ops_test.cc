#include "asr/nn/ops.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace ancat::asr::nn {
namespace {

TEST(OpsTest, LayerNormMatchesDefinition) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.5f, 3.0f);
  for (int d : {7, 16, 64, 100}) {
    const int rows = 5;
    std::vector<float> x(rows * d), gamma(d), beta(d), y(rows * d);
    for (float& v : x) v = g(rng);
    for (float& v : gamma) v = g(rng);
    for (float& v : beta) v = g(rng);
    LayerNorm(x.data(), d, rows, d, gamma.data(), beta.data(), 1e-5f, y.data(), d);
    for (int r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int i = 0; i < d; ++i) mean += x[r * d + i];
      mean /= d;
      for (int i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
      var /= d;
      for (int i = 0; i < d; ++i) {
        double want = (x[r * d + i] - mean) / std::sqrt(var + 1e-5) * gamma[i] + beta[i];
        ASSERT_NEAR(y[r * d + i], want, 1e-4 * (1 + std::fabs(want)));
      }
    }
    // In place.
    LayerNorm(x.data(), d, rows, d, gamma.data(), beta.data(), 1e-5f, x.data(), d);
    for (int i = 0; i < rows * d; ++i) ASSERT_FLOAT_EQ(x[i], y[i]);
  }
}

TEST(OpsTest, Activations) {
  std::vector<float> x = {-100, -3, -0.5f, 0, 0.5f, 3, 80};
  auto r = x, s = x, t = x;
  Relu(r.data(), r.size());
  Silu(s.data(), s.size());
  Tanh(t.data(), t.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(r[i], x[i] > 0 ? x[i] : 0);
    EXPECT_NEAR(s[i], x[i] / (1 + std::exp(-static_cast<double>(x[i]))), 1e-6 * (1 + std::fabs(x[i])));
    EXPECT_NEAR(t[i], std::tanh(x[i]), 1e-6);
  }
}

TEST(OpsTest, SoftmaxAndLogSoftmax) {
  std::vector<float> x = {1, 2, 3, -50, 1000}, y = x, z = x;
  Softmax(y.data(), 5);
  LogSoftmax(z.data(), 5);
  double sum = 0;
  for (float v : y) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(y[4], 1.0, 1e-6);
  EXPECT_NEAR(z[4], 0.0, 1e-6);
  EXPECT_NEAR(z[2] - z[1], 1.0, 1e-5);
  std::vector<float> small = {0.1f, 0.2f, 0.3f};
  Softmax(small.data(), 3);
  const double z0 = std::exp(0.1) + std::exp(0.2) + std::exp(0.3);
  EXPECT_NEAR(small[2], std::exp(0.3) / z0, 1e-6);
}

TEST(OpsTest, RopeRotatesHalvesByPosition) {
  const int dh = 8, heads = 2;
  Rope rope(dh, 10000.0f, /*table_positions=*/16);
  for (int64_t pos : {0, 1, 5, 15, 16, 17, 100, 255, 256, 1000, 123456}) {  // fine, coarse+fine, direct
    std::vector<float> x(dh * heads);
    for (int i = 0; i < dh * heads; ++i) x[i] = 0.1f * (i + 1);
    auto y = x;
    rope.Apply(y.data(), heads, pos);
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < dh / 2; ++i) {
        const double theta = std::pow(10000.0, -2.0 * i / dh), a = pos * theta;
        const double x1 = x[h * dh + i], x2 = x[h * dh + i + dh / 2];
        EXPECT_NEAR(y[h * dh + i], x1 * std::cos(a) - x2 * std::sin(a), 1e-6) << pos;
        EXPECT_NEAR(y[h * dh + i + dh / 2], x1 * std::sin(a) + x2 * std::cos(a), 1e-6) << pos;
      }
  }
}

TEST(OpsTest, RopeOfTwoVectorsEqualsEachAlone) {
  // The encoder rotates a frame's query and key with one call: the same bits as two calls.
  const int dh = 64, heads = 4;
  Rope rope(dh, 10000.0f);
  for (int64_t pos : {0, 7, 1023, 1024, 5000, 2000000}) {
    std::vector<float> q(dh * heads), k(dh * heads);
    for (int i = 0; i < dh * heads; ++i) {
      q[i] = std::sin(0.3f * i + 1.0f);
      k[i] = std::cos(0.7f * i);
    }
    auto q1 = q, k1 = k;
    rope.Apply(q1.data(), heads, pos);
    rope.Apply(k1.data(), heads, pos);
    rope.Apply(q.data(), k.data(), heads, pos);
    EXPECT_EQ(q, q1) << pos;
    EXPECT_EQ(k, k1) << pos;
  }
}

TEST(OpsTest, RopeKeepsDotProductsRelative) {
  // q(t) . k(s) depends only on t - s: why streaming needs no absolute offsets.
  const int dh = 16;
  Rope rope(dh, 10000.0f);
  std::vector<float> q(dh), k(dh);
  for (int i = 0; i < dh; ++i) {
    q[i] = std::sin(i + 1.0f);
    k[i] = std::cos(2.0f * i);
  }
  auto dot_at = [&](int64_t t, int64_t s) {
    auto a = q, b = k;
    rope.Apply(a.data(), 1, t);
    rope.Apply(b.data(), 1, s);
    double d = 0;
    for (int i = 0; i < dh; ++i) d += a[i] * b[i];
    return d;
  };
  EXPECT_NEAR(dot_at(10, 7), dot_at(110, 107), 1e-4);
  EXPECT_NEAR(dot_at(3, 3), dot_at(5000, 5000), 1e-4);
}

}  // namespace
}  // namespace ancat::asr::nn
