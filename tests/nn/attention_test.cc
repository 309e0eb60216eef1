// The attention core against a naive reference written here: per-query windows over a ring
// buffer (the streaming encoder's KV cache) and the bidirectional mode (the reranker).
#include "asr/nn/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "gtest/gtest.h"

namespace ancat::asr::nn {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Reference: keys/values as a plain [n, d] array, query attends [lo, hi] per head, in double.
std::vector<double> NaiveAttend(const AttentionDims& dims, const float* q, const std::vector<float>& k,
                                const std::vector<float>& v, int64_t lo, int64_t hi) {
  const int d = dims.d(), dh = dims.head_dim;
  std::vector<double> out(d, 0.0);
  for (int h = 0; h < dims.num_heads; ++h) {
    std::vector<double> s;
    double m = -1e300;
    for (int64_t j = lo; j <= hi; ++j) {
      double dot = 0;
      for (int i = 0; i < dh; ++i) dot += static_cast<double>(q[h * dh + i]) * k[j * d + h * dh + i];
      s.push_back(dot / std::sqrt(static_cast<double>(dh)));
      m = std::max(m, s.back());
    }
    double z = 0;
    for (double& x : s) z += (x = std::exp(x - m));
    for (int64_t j = lo; j <= hi; ++j)
      for (int i = 0; i < dh; ++i) out[h * dh + i] += s[j - lo] / z * v[j * d + h * dh + i];
  }
  return out;
}

TEST(AttentionTest, WindowedOverRingMatchesNaive) {
  std::mt19937 rng(11);
  for (AttentionDims dims : {AttentionDims{1, 8}, AttentionDims{2, 32}, AttentionDims{4, 64}, AttentionDims{3, 10}}) {
    const int d = dims.d(), n = 90, cap = 23;  // the ring holds the last 23 positions
    auto k = Random(static_cast<size_t>(n) * d, rng, 2.0f), v = Random(static_cast<size_t>(n) * d, rng);
    std::vector<float> ring(static_cast<size_t>(cap) * 2 * d);  // rows [k | v], as the encoder keeps them
    for (int s = 0; s < n; ++s) {
      std::copy_n(k.data() + s * d, d, ring.data() + (s % cap) * 2 * d);
      std::copy_n(v.data() + s * d, d, ring.data() + (s % cap) * 2 * d + d);
      if (s < 30) continue;
      // Queries near position s with windows [t - left, t + right] inside the ring's live rows.
      const int nq = 3;
      auto q = Random(static_cast<size_t>(nq) * d, rng, 2.0f);
      int64_t lo[nq], hi[nq];
      for (int i = 0; i < nq; ++i) {
        hi[i] = s - i * 2;
        lo[i] = std::max<int64_t>(hi[i] - static_cast<int>(rng() % 20), s - cap + 1);
      }
      std::vector<float> out(static_cast<size_t>(nq) * (d + 1), 9.0f);
      KeyValueView view{ring.data(), ring.data() + d, 2 * d, cap};
      Attend(dims, q.data(), d, nq, view, lo, hi, out.data(), d + 1);
      for (int i = 0; i < nq; ++i) {
        auto ref = NaiveAttend(dims, q.data() + i * d, k, v, lo[i], hi[i]);
        for (int j = 0; j < d; ++j) ASSERT_NEAR(out[i * (d + 1) + j], ref[j], 2e-5) << "dh=" << dims.head_dim;
        EXPECT_EQ(out[i * (d + 1) + d], 9.0f);
      }
    }
  }
}

// The encoder's layout: keys column-wise [d][cap], values rows [cap][d]; f32 and bf16 stores.
TEST(AttentionTest, TransposedKeysOverRingMatchNaive) {
  std::mt19937 rng(21);
  for (KvType type : {KvType::kF32, KvType::kBF16}) {
    for (AttentionDims dims : {AttentionDims{2, 32}, AttentionDims{4, 64}, AttentionDims{3, 10}}) {
      const int d = dims.d(), n = 70, cap = 19;
      auto k = Random(static_cast<size_t>(n) * d, rng, 2.0f), v = Random(static_cast<size_t>(n) * d, rng);
      if (type == KvType::kBF16) {  // the reference sees the rounded keys/values
        std::vector<uint16_t> tmp(k.size());
        StoreKv(k.data(), static_cast<int>(k.size()), KvType::kBF16, tmp.data());
        for (size_t i = 0; i < k.size(); ++i) {
          uint32_t bits = static_cast<uint32_t>(tmp[i]) << 16;
          std::memcpy(&k[i], &bits, 4);
        }
        StoreKv(v.data(), static_cast<int>(v.size()), KvType::kBF16, tmp.data());
        for (size_t i = 0; i < v.size(); ++i) {
          uint32_t bits = static_cast<uint32_t>(tmp[i]) << 16;
          std::memcpy(&v[i], &bits, 4);
        }
      }
      const int elem = type == KvType::kBF16 ? 2 : 4;
      std::vector<std::byte> kt(static_cast<size_t>(d) * cap * elem), vr(static_cast<size_t>(cap) * d * elem);
      for (int s = 0; s < n; ++s) {
        for (int c = 0; c < d; ++c) StoreKv(&k[s * d + c], 1, type, kt.data() + (static_cast<size_t>(c) * cap + s % cap) * elem);
        StoreKv(&v[s * d], d, type, vr.data() + static_cast<size_t>(s % cap) * d * elem);
        if (s < 25) continue;
        auto q = Random(d, rng, 2.0f);
        int64_t hi = s - static_cast<int>(rng() % 3), lo = std::max<int64_t>(hi - static_cast<int>(rng() % 17), s - cap + 1);
        std::vector<float> out(d);
        KeyValueView view{kt.data(), vr.data(), d, cap, type, /*keys_transposed=*/true};
        Attend(dims, q.data(), d, 1, view, &lo, &hi, out.data(), d);
        auto ref = NaiveAttend(dims, q.data(), k, v, lo, hi);
        for (int j = 0; j < d; ++j) ASSERT_NEAR(out[j], ref[j], 5e-5) << "dh=" << dims.head_dim;
      }
    }
  }
}

// Streaming rings hold barely more than the window (left context 32 + lookahead 4 + 1 = 37 slots on
// the default model): windows of every length up to the ring, at every start, wrapping or not,
// scored in whole vectors with partial last vectors (f32 and bf16 keys).
TEST(AttentionTest, WindowsFillingAStreamingRingMatchNaive) {
  std::mt19937 rng(5);
  for (KvType type : {KvType::kF32, KvType::kBF16}) {
    for (AttentionDims dims : {AttentionDims{4, 64}, AttentionDims{2, 16}}) {
      const int d = dims.d(), cap = 37, n = 3 * cap, elem = type == KvType::kBF16 ? 2 : 4;
      auto k = Random(static_cast<size_t>(n) * d, rng, 2.0f), v = Random(static_cast<size_t>(n) * d, rng);
      if (type == KvType::kBF16) {  // the reference sees the rounded keys/values
        for (auto* x : {&k, &v}) {
          std::vector<uint16_t> tmp(x->size());
          StoreKv(x->data(), static_cast<int>(x->size()), KvType::kBF16, tmp.data());
          for (size_t i = 0; i < x->size(); ++i) {
            const uint32_t bits = static_cast<uint32_t>(tmp[i]) << 16;
            std::memcpy(&(*x)[i], &bits, 4);
          }
        }
      }
      std::vector<std::byte> kt(static_cast<size_t>(d) * cap * elem), vr(static_cast<size_t>(cap) * d * elem);
      for (int s = 0; s < n; ++s) {
        StoreKv(&k[s * d], d, type, kt.data() + static_cast<size_t>(s % cap) * elem, cap);  // column-wise
        StoreKv(&v[s * d], d, type, vr.data() + static_cast<size_t>(s % cap) * d * elem);
        if (s < cap) continue;
        for (int len = 1; len <= cap; ++len) {
          auto q = Random(d, rng, 2.0f);
          int64_t hi = s, lo = s - len + 1;
          std::vector<float> out(d);
          KeyValueView view{kt.data(), vr.data(), d, cap, type, /*keys_transposed=*/true};
          Attend(dims, q.data(), d, 1, view, &lo, &hi, out.data(), d);
          auto ref = NaiveAttend(dims, q.data(), k, v, lo, hi);
          for (int j = 0; j < d; ++j) {
            ASSERT_NEAR(out[j], ref[j], 5e-5) << "dh=" << dims.head_dim << " len=" << len << " s=" << s << " elem=" << elem;
          }
        }
      }
    }
  }
}

TEST(AttentionTest, SingleKeyReturnsItsValue) {
  AttentionDims dims{2, 4};
  std::vector<float> kv = {1, 2, 3, 4, 5, 6, 7, 8, /*v*/ 0.5f, -1, 2, 3, 4, 5, 6, 7};
  std::vector<float> q(8, 100.0f), out(8);
  int64_t lo = 0, hi = 0;
  Attend(dims, q.data(), 8, 1, {kv.data(), kv.data() + 8, 16, 1}, &lo, &hi, out.data(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(out[i], kv[8 + i]);
}

TEST(AttentionTest, LargeScoresDoNotOverflow) {
  AttentionDims dims{1, 4};
  std::vector<float> k = {100, 0, 0, 0, -100, 0, 0, 0}, v = {1, 1, 1, 1, -1, -1, -1, -1};
  std::vector<float> q = {100, 0, 0, 0}, out(4);
  std::vector<float> ring = {100, 0, 0, 0, 1, 1, 1, 1, -100, 0, 0, 0, -1, -1, -1, -1};
  int64_t lo = 0, hi = 1;
  Attend(dims, q.data(), 4, 1, {ring.data(), ring.data() + 4, 8, 2}, &lo, &hi, out.data(), 4);
  for (float x : out) EXPECT_NEAR(x, 1.0f, 1e-6);
}

TEST(AttentionTest, BidirectionalMatchesNaive) {
  std::mt19937 rng(5);
  AttentionDims dims{4, 16};
  const int d = dims.d(), n = 13;
  auto q = Random(static_cast<size_t>(n) * d, rng), k = Random(static_cast<size_t>(n) * d, rng),
       v = Random(static_cast<size_t>(n) * d, rng);
  std::vector<float> out(static_cast<size_t>(n) * d);
  // Interleave k and v as [k | v] rows with a shared stride.
  std::vector<float> kv(static_cast<size_t>(n) * 2 * d);
  for (int s = 0; s < n; ++s) {
    std::copy_n(k.data() + s * d, d, kv.data() + s * 2 * d);
    std::copy_n(v.data() + s * d, d, kv.data() + s * 2 * d + d);
  }
  AttendBidirectional(dims, q.data(), d, kv.data(), kv.data() + d, 2 * d, n, out.data(), d);
  for (int i = 0; i < n; ++i) {
    auto ref = NaiveAttend(dims, q.data() + i * d, k, v, 0, n - 1);
    for (int j = 0; j < d; ++j) ASSERT_NEAR(out[i * d + j], ref[j], 2e-5);
  }
}

TEST(AttentionTest, BidirectionalSelfAttentionBlock) {
  // y = out(attend(rope(q), rope(k), v)) with positions 0..n-1, checked against the pieces.
  std::mt19937 rng(8);
  AttentionDims dims{2, 8};
  const int d = dims.d(), n = 6;
  auto wqkv = Random(3 * d * d, rng, 0.3f), bqkv = Random(3 * d, rng), wo = Random(d * d, rng, 0.3f),
       bo = Random(d, rng), x = Random(n * d, rng);
  Linear qkv(wqkv.data(), bqkv.data(), 3 * d, d), out(wo.data(), bo.data(), d, d);
  BidirectionalSelfAttention block(qkv, out, dims, 10000.0f);
  std::vector<float> y(n * d);
  block.Forward(x.data(), n, y.data());

  std::vector<float> p(n * 3 * d);
  qkv.Forward(x.data(), n, p.data());
  Rope rope(dims.head_dim, 10000.0f);
  std::vector<float> k(n * d), v(n * d);
  for (int t = 0; t < n; ++t) {
    rope.Apply(p.data() + t * 3 * d, dims.num_heads, t);
    rope.Apply(p.data() + t * 3 * d + d, dims.num_heads, t);
    std::copy_n(p.data() + t * 3 * d + d, d, k.data() + t * d);
    std::copy_n(p.data() + t * 3 * d + 2 * d, d, v.data() + t * d);
  }
  std::vector<float> o(n * d);
  for (int t = 0; t < n; ++t) {
    auto r = NaiveAttend(dims, p.data() + t * 3 * d, k, v, 0, n - 1);
    for (int j = 0; j < d; ++j) o[t * d + j] = static_cast<float>(r[j]);
  }
  std::vector<float> want(n * d);
  out.Forward(o.data(), n, want.data());
  for (int i = 0; i < n * d; ++i) EXPECT_NEAR(y[i], want[i], 1e-4);
}

}  // namespace
}  // namespace ancat::asr::nn
