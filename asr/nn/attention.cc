#include "asr/nn/attention.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "asr/nn/internal/simd.h"

namespace ancat::asr::nn {
namespace {

ANCAT_MULTIVERSION
void AttendOne(const AttentionDims& dims, const float* q, const KeyValueView& kv, int64_t lo, int64_t hi,
               float* out, float* scores) {
  const int dh = dims.head_dim;
  const int n = static_cast<int>(hi - lo + 1);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int h = 0; h < dims.num_heads; ++h) {
    const float* qh = q + h * dh;
    float m = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < n; ++j) {
      const int64_t row = (lo + j) % kv.capacity;
      const float s = internal::Dot(qh, kv.keys + row * kv.stride + h * dh, dh) * scale;
      scores[j] = s;
      m = s > m ? s : m;
    }
    float sum = 0;
    for (int j = 0; j < n; ++j) {
      scores[j] = internal::Exp(scores[j] - m);
      sum += scores[j];
    }
    const float inv = 1.0f / sum;
    float* oh = out + h * dh;
    for (int i = 0; i < dh; ++i) oh[i] = 0;
    for (int j = 0; j < n; ++j) {
      const int64_t row = (lo + j) % kv.capacity;
      const float* vh = kv.values + row * kv.stride + h * dh;
      const float p = scores[j] * inv;
      for (int i = 0; i < dh; ++i) oh[i] += p * vh[i];
    }
  }
}

}  // namespace

void Attend(const AttentionDims& dims, const float* q, int64_t q_stride, int num_queries, const KeyValueView& kv,
            const int64_t* lo, const int64_t* hi, float* out, int64_t out_stride) {
  thread_local std::vector<float> scores;
  for (int i = 0; i < num_queries; ++i) {
    const size_t n = static_cast<size_t>(hi[i] - lo[i] + 1);
    if (scores.size() < n) scores.resize(n);
    AttendOne(dims, q + i * q_stride, kv, lo[i], hi[i], out + i * out_stride, scores.data());
  }
}

void AttendBidirectional(const AttentionDims& dims, const float* q, int64_t q_stride, const float* k, const float* v,
                         int64_t kv_stride, int n, float* out, int64_t out_stride) {
  if (n <= 0) return;
  KeyValueView kv{k, v, kv_stride, n};
  thread_local std::vector<float> scores;
  if (scores.size() < static_cast<size_t>(n)) scores.resize(n);
  for (int i = 0; i < n; ++i) AttendOne(dims, q + i * q_stride, kv, 0, n - 1, out + i * out_stride, scores.data());
}

BidirectionalSelfAttention::BidirectionalSelfAttention(Linear qkv, Linear out, AttentionDims dims, float rope_base)
    : qkv_(std::move(qkv)), out_(std::move(out)), dims_(dims), rope_(dims.head_dim, rope_base, 512) {}

void BidirectionalSelfAttention::Forward(const float* x, int n, float* y) const {
  const int d = dims_.d();
  thread_local std::vector<float> qkv, o;
  qkv.resize(static_cast<size_t>(n) * 3 * d);
  o.resize(static_cast<size_t>(n) * d);
  qkv_.Forward(x, n, qkv.data());
  for (int t = 0; t < n; ++t) {
    rope_.Apply(qkv.data() + static_cast<size_t>(t) * 3 * d, dims_.num_heads, t);      // q
    rope_.Apply(qkv.data() + static_cast<size_t>(t) * 3 * d + d, dims_.num_heads, t);  // k
  }
  AttendBidirectional(dims_, qkv.data(), 3 * d, qkv.data() + d, qkv.data() + 2 * d, 3 * d, n, o.data(), d);
  out_.Forward(o.data(), n, y);
}

}  // namespace ancat::asr::nn
