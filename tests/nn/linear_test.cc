#include "asr/nn/linear.h"

#include <cmath>
#include <random>
#include <thread>

#include "gtest/gtest.h"

namespace ancat::asr::nn {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// y = x W^T + b in double, the reference.
std::vector<double> Naive(const std::vector<float>& x, int xs, int rows, const std::vector<float>& w,
                          const std::vector<float>& b, int out, int in) {
  std::vector<double> y(static_cast<size_t>(rows) * out);
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o) {
      double s = b.empty() ? 0 : b[o];
      for (int i = 0; i < in; ++i) s += static_cast<double>(x[r * xs + i]) * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

// Each epilogue of lin on the rows of x (stride xs, copied dense) against its function of the
// reference ref, within tol(i) per element (silu: silu_factor * tol(i)).
template <typename Tol>
void ExpectEpilogues(const Linear& lin, const std::vector<float>& x, int xs, int rows,
                     const std::vector<double>& ref, Tol tol, double silu_factor) {
  const int in = lin.in_dim();
  std::vector<float> relu(ref.size()), silu(ref.size()), th(ref.size()), acc(ref.size(), 0.5f);
  std::vector<float> xc(static_cast<size_t>(rows) * in);
  for (int r = 0; r < rows; ++r) std::copy_n(x.data() + r * xs, in, xc.data() + r * in);
  lin.Forward(xc.data(), rows, relu.data(), Epilogue::kRelu);
  lin.Forward(xc.data(), rows, silu.data(), Epilogue::kSilu);
  lin.Forward(xc.data(), rows, th.data(), Epilogue::kTanh);
  lin.Forward(xc.data(), rows, acc.data(), Epilogue::kAccumulate);
  for (size_t i = 0; i < ref.size(); ++i) {
    const double v = ref[i];
    ASSERT_NEAR(relu[i], v > 0 ? v : 0, tol(i));
    ASSERT_NEAR(silu[i], v / (1 + std::exp(-v)), silu_factor * tol(i));
    ASSERT_NEAR(th[i], std::tanh(v), tol(i));
    ASSERT_NEAR(acc[i], 0.5 + v, tol(i));
  }
}

TEST(LinearTest, MatchesNaiveForManyShapesAndEpilogues) {
  std::mt19937 rng(3);
  for (auto [out, in] : {std::pair{5, 3}, {64, 64}, {100, 37}, {256, 192}}) {
    auto w = Random(static_cast<size_t>(out) * in, rng, 0.3f);
    auto b = Random(out, rng);
    Linear lin(w.data(), b.data(), out, in);
    EXPECT_EQ(lin.out_dim(), out);
    EXPECT_EQ(lin.in_dim(), in);
    for (int rows : {1, 2, 7, 33, 600}) {  // 600 > one call's row limit: split internally
      const int xs = in + 3;                // strided input rows
      auto x = Random(static_cast<size_t>(rows) * xs, rng);
      auto ref = Naive(x, xs, rows, w, b, out, in);
      std::vector<float> y(static_cast<size_t>(rows) * (out + 2), 7.0f);
      lin.Forward(x.data(), xs, rows, y.data(), out + 2);  // strided output rows
      for (int r = 0; r < rows; ++r) {
        for (int o = 0; o < out; ++o) ASSERT_NEAR(y[r * (out + 2) + o], ref[r * out + o], 1e-4) << rows;
        EXPECT_EQ(y[r * (out + 2) + out], 7.0f);  // padding untouched
      }
      ASSERT_NO_FATAL_FAILURE(ExpectEpilogues(lin, x, xs, rows, ref, [](size_t) { return 1e-4; }, 1.0));
    }
  }
}

TEST(LinearTest, PrimitivesAreCachedPerShape) {
  std::mt19937 rng(1);
  auto w = Random(32 * 16, rng);
  Linear lin(w.data(), nullptr, 32, 16);
  std::vector<float> x(16 * 8, 0.1f), y(32 * 8);
  for (int i = 0; i < 5; ++i) lin.Forward(x.data(), 8, y.data());
  EXPECT_EQ(lin.NumCachedPrimitives(), 1u);
  lin.Forward(x.data(), 4, y.data());
  lin.Forward(x.data(), 4, y.data(), Epilogue::kRelu);
  EXPECT_EQ(lin.NumCachedPrimitives(), 3u);
  for (float v : std::vector<float>(y.begin(), y.begin() + 32)) EXPECT_GE(v, 0.0f);
}

TEST(LinearTest, RowCountsShareABoundedSetOfPrimitives) {
  // Every row count from 1 to 600 is served by at most 44 primitives (row buckets), and the
  // split calls still give the exact result.
  std::mt19937 rng(12);
  const int out = 8, in = 8;
  auto w = Random(out * in, rng), b = Random(out, rng);
  Linear lin(w.data(), b.data(), out, in);
  auto x = Random(600 * in, rng);
  auto ref = Naive(x, in, 600, w, b, out, in);
  std::vector<float> y(600 * out);
  for (int rows = 1; rows <= 600; ++rows) {
    std::fill(y.begin(), y.end(), 0.0f);
    lin.Forward(x.data(), rows, y.data());
    for (int i = 0; i < rows * out; ++i) ASSERT_NEAR(y[i], ref[i], 1e-4) << rows;
    for (int i = rows * out; i < 600 * out; ++i) ASSERT_EQ(y[i], 0.0f) << "wrote past the rows";
  }
  EXPECT_LE(lin.NumCachedPrimitives(), 44u);
}

TEST(LinearTest, StackEqualsSeparateLayers) {
  std::mt19937 rng(2);
  auto w1 = Random(24 * 10, rng), b1 = Random(24, rng), w2 = Random(3 * 10, rng), b2 = Random(3, rng);
  Linear a(w1.data(), b1.data(), 24, 10), b(w2.data(), b2.data(), 3, 10);
  Linear both = Linear::Stack({&a, &b}, ComputeType::kF32);
  auto x = Random(5 * 10, rng);
  std::vector<float> ya(5 * 24), yb(5 * 3), y(5 * 27);
  a.Forward(x.data(), 5, ya.data());
  b.Forward(x.data(), 5, yb.data());
  both.Forward(x.data(), 5, y.data());
  for (int r = 0; r < 5; ++r) {
    for (int o = 0; o < 24; ++o) EXPECT_NEAR(y[r * 27 + o], ya[r * 24 + o], 1e-5);
    for (int o = 0; o < 3; ++o) EXPECT_NEAR(y[r * 27 + 24 + o], yb[r * 3 + o], 1e-5);
  }
}

TEST(LinearTest, Bf16IsCloseToF32) {
  if (!Bf16MatmulSupported()) GTEST_SKIP() << "no bf16 matmul kernels on this CPU";
  std::mt19937 rng(4);
  const int out = 128, in = 256, rows = 20;
  auto w = Random(static_cast<size_t>(out) * in, rng, 0.1f), b = Random(out, rng);
  auto x = Random(static_cast<size_t>(rows) * in, rng);
  Linear lin(w.data(), b.data(), out, in, ComputeType::kBF16);
  EXPECT_EQ(lin.compute_type(), ComputeType::kBF16);
  std::vector<float> y(static_cast<size_t>(rows) * out);
  lin.Forward(x.data(), rows, y.data());
  auto ref = Naive(x, in, rows, w, b, out, in);
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    max_err = std::max(max_err, std::fabs(y[i] - ref[i]));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  EXPECT_LT(max_err / max_ref, 2e-2);  // 8-bit mantissas, f32 accumulation
  EXPECT_GT(max_err, 0.0);             // it really ran in bf16
}

// Worst-case error of int8 rounding for y[r, o] = sum_i x[r, i] w[o, i]. Rows of x are
// quantized in steps sx = (max(x, 0) - min(x, 0)) / 255 (asymmetric u8), rows of w in steps
// sw = max|w| / 127 (symmetric s8): with x = sx * (qx - zx) + dx, |dx| <= sx / 2 and
// w = sw * qw + dw, |dw| <= sw / 2,
//   |y - xq wq sx sw| <= sx / 2 * sum|w| + sw / 2 * sum|x| + in * sx * sw / 4.
// The s32 accumulation is exact, so only f32 rounding of the dequantization comes on top.
struct Int8Bound {
  std::vector<double> worst;     // [rows, out]
  double predicted_rms = 0;      // rounding errors as independent uniforms: the typical error
};
Int8Bound Int8ErrorBound(const std::vector<float>& x, int xs, int rows, const std::vector<float>& w, int out,
                         int in) {
  std::vector<double> sx(rows), sw(out), sum_x(rows, 0), sum_w(out, 0), sq_x(rows, 0), sq_w(out, 0);
  for (int r = 0; r < rows; ++r) {
    double lo = 0, hi = 0;
    for (int i = 0; i < in; ++i) {
      const double v = x[r * xs + i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum_x[r] += std::fabs(v);
      sq_x[r] += v * v;
    }
    sx[r] = (hi - lo) / 255;
  }
  for (int o = 0; o < out; ++o) {
    double m = 0;
    for (int i = 0; i < in; ++i) {
      const double v = std::fabs(w[o * in + i]);
      m = std::max(m, v);
      sum_w[o] += v;
      sq_w[o] += v * v;
    }
    sw[o] = m / 127;
  }
  Int8Bound b;
  b.worst.resize(static_cast<size_t>(rows) * out);
  double var = 0;
  for (int r = 0; r < rows; ++r)
    for (int o = 0; o < out; ++o) {
      b.worst[r * out + o] = sx[r] / 2 * sum_w[o] + sw[o] / 2 * sum_x[r] + in * sx[r] * sw[o] / 4;
      var += (sx[r] * sx[r] * sq_w[o] + sw[o] * sw[o] * sq_x[r]) / 12;
    }
  b.predicted_rms = std::sqrt(var / (static_cast<double>(rows) * out));
  return b;
}

TEST(LinearTest, Int8WithinRoundingBoundsForShapesAndEpilogues) {
  if (!Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 matmul kernels on this CPU";
  std::mt19937 rng(8);
  for (auto [out, in] : {std::pair{5, 3}, {64, 64}, {100, 37}, {256, 192}, {259, 1024}}) {
    auto w = Random(static_cast<size_t>(out) * in, rng, 0.3f);
    auto b = Random(out, rng);
    Linear lin(w.data(), b.data(), out, in, ComputeType::kInt8);
    EXPECT_EQ(lin.compute_type(), ComputeType::kInt8);
    for (int rows : {1, 2, 7, 33, 600}) {  // 600: split into several calls
      const int xs = in + 3;
      auto x = Random(static_cast<size_t>(rows) * xs, rng);
      x[0] = 0;  // a row's max may sit anywhere; make one row all zero below
      if (rows > 1) std::fill_n(x.begin() + xs, in, 0.0f);
      // One-sided rows (zero point at either end of the u8 range), as SiLU outputs are.
      if (rows > 3) {
        for (int i = 0; i < in; ++i) {
          x[2 * xs + i] = std::fabs(x[2 * xs + i]);
          x[3 * xs + i] = -std::fabs(x[3 * xs + i]) - 0.5f;
        }
      }
      auto ref = Naive(x, xs, rows, w, b, out, in);
      const Int8Bound bound = Int8ErrorBound(x, xs, rows, w, out, in);
      auto tol = [&](size_t i) { return bound.worst[i] + 1e-5 * (1 + std::fabs(ref[i])); };
      std::vector<float> y(static_cast<size_t>(rows) * (out + 2), 7.0f);
      lin.Forward(x.data(), xs, rows, y.data(), out + 2);
      double sq_err = 0;
      for (int r = 0; r < rows; ++r) {
        for (int o = 0; o < out; ++o) {
          const double err = y[r * (out + 2) + o] - ref[r * out + o];
          ASSERT_LE(std::fabs(err), tol(r * out + o)) << out << "x" << in << " rows " << rows;
          sq_err += err * err;
        }
        EXPECT_EQ(y[r * (out + 2) + out], 7.0f);  // padding untouched
      }
      if (rows > 1) {
        for (int o = 0; o < out; ++o) ASSERT_EQ(y[(out + 2) + o], b[o]) << "an all-zero row gives the bias";
      }
      // Typical error: the rounding noise model, not the worst case. At least a few hundred
      // errors are averaged, so 1.5x the predicted RMS is a wide margin, and a real error above
      // the rounding (a wrong scale, a lost row) would be far outside it.
      const double rms = std::sqrt(sq_err / (static_cast<double>(rows) * out));
      if (rows * out >= 200) {
        EXPECT_LT(rms, 1.5 * bound.predicted_rms) << out << "x" << in << " rows " << rows;
        EXPECT_GT(rms, 0.0) << "it really ran in int8";
      }
      // relu and tanh are 1-Lipschitz, silu 1.1-Lipschitz: the rounding bound carries over.
      ASSERT_NO_FATAL_FAILURE(ExpectEpilogues(lin, x, xs, rows, ref, tol, 1.1));
    }
  }
}

TEST(LinearTest, Int8RowsDoNotDependOnTheirBatch) {
  // Per-row activation scales and exact integer accumulation: a row gives the same bits
  // alone, in any batch, in any row bucket (what makes int8 streaming equal one-shot).
  if (!Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 matmul kernels on this CPU";
  std::mt19937 rng(9);
  const int out = 96, in = 80, rows = 300;
  auto w = Random(static_cast<size_t>(out) * in, rng), b = Random(out, rng);
  Linear lin(w.data(), b.data(), out, in, ComputeType::kInt8);
  auto x = Random(static_cast<size_t>(rows) * in, rng);
  for (Epilogue ep : {Epilogue::kNone, Epilogue::kSilu, Epilogue::kAccumulate}) {
    std::vector<float> all(static_cast<size_t>(rows) * out, 0.25f), parts(all);
    lin.Forward(x.data(), rows, all.data(), ep);
    for (int r0 = 0, n = 1; r0 < rows; r0 += n, n = n % 37 + 3) {
      n = std::min(n, rows - r0);
      lin.Forward(x.data() + r0 * in, n, parts.data() + r0 * out, ep);
    }
    EXPECT_EQ(all, parts) << static_cast<int>(ep);
  }
}

TEST(LinearTest, Int8StackEqualsSeparateLayers) {
  if (!Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 matmul kernels on this CPU";
  std::mt19937 rng(10);
  auto w1 = Random(24 * 40, rng), b1 = Random(24, rng), w2 = Random(3 * 40, rng), b2 = Random(3, rng);
  Linear a(w1.data(), b1.data(), 24, 40, ComputeType::kInt8), b(w2.data(), b2.data(), 3, 40, ComputeType::kInt8);
  Linear both = Linear::Stack({&a, &b}, ComputeType::kInt8);
  auto x = Random(5 * 40, rng);
  std::vector<float> ya(5 * 24), yb(5 * 3), y(5 * 27);
  a.Forward(x.data(), 5, ya.data());
  b.Forward(x.data(), 5, yb.data());
  both.Forward(x.data(), 5, y.data());
  for (int r = 0; r < 5; ++r) {  // per-output-channel weight scales: stacking changes nothing
    for (int o = 0; o < 24; ++o) EXPECT_EQ(y[r * 27 + o], ya[r * 24 + o]);
    for (int o = 0; o < 3; ++o) EXPECT_EQ(y[r * 27 + 24 + o], yb[r * 3 + o]);
  }
}

TEST(LinearTest, ConcurrentCallsFromManyThreadsAgree) {
  // Distinct shapes and the same primitive at once, from several threads (the encoder's
  // per-thread stream groups and the decoder's joiner do this).
  std::mt19937 rng(6);
  const int out = 96, in = 64;
  auto w = Random(static_cast<size_t>(out) * in, rng), b = Random(out, rng);
  for (ComputeType type : {ComputeType::kF32, ComputeType::kInt8}) {
  if (type == ComputeType::kInt8 && !Int8MatmulSupported()) continue;
  Linear lin(w.data(), b.data(), out, in, type);
  std::vector<std::vector<float>> xs, want;
  for (int t = 0; t < 4; ++t) {
    const int rows = 1 + 13 * t;
    xs.push_back(Random(static_cast<size_t>(rows) * in, rng));
    want.emplace_back(static_cast<size_t>(rows) * out);
    lin.Forward(xs[t].data(), rows, want[t].data(), Epilogue::kSilu);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const int rows = 1 + 13 * t;
      std::vector<float> y(static_cast<size_t>(rows) * out);
      for (int rep = 0; rep < 200; ++rep) {
        lin.Forward(xs[t].data(), rows, y.data(), Epilogue::kSilu);
        mismatches[t] += y != want[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << t << " " << ComputeTypeName(type);
  }
}

TEST(LinearTest, ParseComputeType) {
  EXPECT_EQ(*ParseComputeType("bf16"), ComputeType::kBF16);
  EXPECT_EQ(*ParseComputeType("f32"), ComputeType::kF32);
  EXPECT_EQ(*ParseComputeType("int8"), ComputeType::kInt8);
  EXPECT_FALSE(ParseComputeType("int3").ok());
  EXPECT_EQ(ComputeTypeName(ComputeType::kBF16), "bf16");
  EXPECT_EQ(ComputeTypeName(ComputeType::kInt8), "int8");
  EXPECT_EQ(ComputeTypeName(ComputeType::kF32), "f32");
}

}  // namespace
}  // namespace ancat::asr::nn
