#include "asr/nn/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "asr/nn/internal/simd.h"

namespace ancat::asr::nn {


ANCAT_MULTIVERSION
void LayerNorm(const float* x, int x_stride, int rows, int d, const float* gamma, const float* beta, float eps,
               float* y, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * x_stride;
    float* yr = y + static_cast<int64_t>(r) * y_stride;
    const float mean = internal::Sum(xr, d) / d;
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= d; i += 16) {
      for (int k = 0; k < 16; ++k) {
        const float c = xr[i + k] - mean;
        acc[k] += c * c;
      }
    }
    float var = 0;
    for (; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    for (int k = 0; k < 16; ++k) var += acc[k];
    const float inv = 1.0f / std::sqrt(var / d + eps);
    for (int j = 0; j < d; ++j) yr[j] = (xr[j] - mean) * inv * gamma[j] + beta[j];
  }
}

ANCAT_MULTIVERSION
void Relu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0 ? x[i] : 0;
}

ANCAT_MULTIVERSION
void Silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + internal::Exp(-x[i]));
}

void Tanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

ANCAT_MULTIVERSION
void Softmax(float* x, int n) {
  if (n > 0) internal::Softmax(x, n);
}

void LogSoftmax(float* x, int n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i) m = std::max(m, x[i]);
  double s = 0;
  for (int i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i] - m));
  const float lse = m + static_cast<float>(std::log(s));
  for (int i = 0; i < n; ++i) x[i] -= lse;
}

Rope::Rope(int head_dim, float base, int table_positions)
    : head_dim_(head_dim), base_(base), table_positions_(table_positions) {
  const int half = head_dim / 2;
  inv_freq_.resize(half);
  // Same expression as the recipe: base ** (-2 i / dh) in float64 (base itself is float32 there).
  for (int i = 0; i < half; ++i) inv_freq_[i] = std::pow(static_cast<double>(base), -2.0 * i / head_dim);
  const size_t n = static_cast<size_t>(table_positions) * half;
  cos_.resize(n);
  sin_.resize(n);
  coarse_cos_.resize(n);
  coarse_sin_.resize(n);
  for (int p = 0; p < table_positions; ++p) {
    for (int i = 0; i < half; ++i) {
      const double a = static_cast<double>(p) * inv_freq_[i];
      const double c = static_cast<double>(p) * table_positions * inv_freq_[i];
      cos_[static_cast<size_t>(p) * half + i] = std::cos(a);
      sin_[static_cast<size_t>(p) * half + i] = std::sin(a);
      coarse_cos_[static_cast<size_t>(p) * half + i] = std::cos(c);
      coarse_sin_[static_cast<size_t>(p) * half + i] = std::sin(c);
    }
  }
}

void Rope::Angles(int64_t position, float* cbuf, float* sbuf) const {
  const int half = head_dim_ / 2;
  const int64_t t = table_positions_;
  if (position < t * t) {
    const size_t a = static_cast<size_t>(position / t) * half, b = static_cast<size_t>(position % t) * half;
    for (int i = 0; i < half; ++i) {
      // cos(A + B), sin(A + B)
      cbuf[i] = static_cast<float>(coarse_cos_[a + i] * cos_[b + i] - coarse_sin_[a + i] * sin_[b + i]);
      sbuf[i] = static_cast<float>(coarse_sin_[a + i] * cos_[b + i] + coarse_cos_[a + i] * sin_[b + i]);
    }
  } else {
    for (int i = 0; i < half; ++i) {
      const double ang = static_cast<double>(position) * inv_freq_[i];
      cbuf[i] = static_cast<float>(std::cos(ang));
      sbuf[i] = static_cast<float>(std::sin(ang));
    }
  }
}

void Rope::Rotate(float* x, int num_heads, const float* c, const float* s) const {
  const int half = head_dim_ / 2;
  for (int h = 0; h < num_heads; ++h) {
    float* a = x + h * head_dim_;
    float* b = a + half;
    for (int i = 0; i < half; ++i) {
      const float x1 = a[i], x2 = b[i];
      a[i] = x1 * c[i] - x2 * s[i];
      b[i] = x1 * s[i] + x2 * c[i];
    }
  }
}

namespace {

// One position's cos and sin for Rope::Apply, per thread: Apply runs inside parallel loops.
struct AngleScratch {
  std::vector<float> cos, sin;
};

AngleScratch& ScratchFor(int half) {
  thread_local AngleScratch a;
  if (a.cos.size() < static_cast<size_t>(half)) {
    a.cos.resize(half);
    a.sin.resize(half);
  }
  return a;
}

}  // namespace

void Rope::Apply(float* x, int num_heads, int64_t position) const {
  AngleScratch& a = ScratchFor(head_dim_ / 2);
  Angles(position, a.cos.data(), a.sin.data());
  Rotate(x, num_heads, a.cos.data(), a.sin.data());
}

void Rope::Apply(float* x, float* y, int num_heads, int64_t position) const {
  AngleScratch& a = ScratchFor(head_dim_ / 2);
  Angles(position, a.cos.data(), a.sin.data());
  Rotate(x, num_heads, a.cos.data(), a.sin.data());
  Rotate(y, num_heads, a.cos.data(), a.sin.data());
}

}  // namespace ancat::asr::nn
