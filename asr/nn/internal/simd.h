// Small vectorizable helpers for the hot loops of asr/nn (not a public header).
#ifndef ANCAT_ASR_NN_INTERNAL_SIMD_H_
#define ANCAT_ASR_NN_INTERNAL_SIMD_H_

#include <cmath>
#include <cstdint>
#include <cstring>

// Hot loops get AVX-512 and AVX2 clones picked at load time, so one binary runs fast on the
// build machines and still runs on any x86-64.
#if defined(__x86_64__) && !defined(__clang__)
#define ANCAT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ANCAT_MULTIVERSION
#endif

namespace ancat::asr::nn::internal {

// Dot product with 16 independent partial sums, so the compiler vectorizes it without
// -ffast-math (it never has to reassociate a single running sum).
inline __attribute__((always_inline)) float Dot(const float* a, const float* b, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int k = 0; k < 16; ++k) s += acc[k];
  return s;
}

inline __attribute__((always_inline)) float Sum(const float* a, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k];
  }
  float s = 0;
  for (; i < n; ++i) s += a[i];
  for (int k = 0; k < 16; ++k) s += acc[k];
  return s;
}

// exp(x) to ~1 ulp in float (Cephes' expf polynomial), branch-free so loops vectorize.
inline __attribute__((always_inline)) float Exp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// Softmax over n >= 1 values in place; inline so each CPU-specific clone of a caller gets a
// vectorized copy (attention calls it per head and query on short windows).
inline __attribute__((always_inline)) void Softmax(float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int i = 0; i < n; ++i) x[i] = Exp(x[i] - m);
  const float inv = 1.0f / Sum(x, n);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace ancat::asr::nn::internal

#endif  // ANCAT_ASR_NN_INTERNAL_SIMD_H_
