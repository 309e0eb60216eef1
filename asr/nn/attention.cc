#include "asr/nn/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "asr/nn/internal/simd.h"

namespace ancat::asr::nn {
namespace {

inline float Load(float x) { return x; }
inline float Load(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
inline __attribute__((always_inline)) float DotT(const float* a, const T* b, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * Load(b[i + k]);
  }
  float s = 0;
  for (; i < n; ++i) s += a[i] * Load(b[i]);
  for (int k = 0; k < 16; ++k) s += acc[k];
  return s;
}

// out[h] += scores[h * score_stride] * v[h] for every head h: one value row weighted into the
// output, the step both attention paths repeat per key position.
template <typename T>
inline __attribute__((always_inline)) void AddWeightedValue(const float* scores, int64_t score_stride,
                                                            const T* v, int heads, int dh, float* out) {
  for (int h = 0; h < heads; ++h) {
    const float p = scores[h * score_stride];
    float* oh = out + h * dh;
    const T* vh = v + h * dh;
    for (int i = 0; i < dh; ++i) oh[i] += p * Load(vh[i]);
  }
}

// rows[j] points at the key row of position lo + j; the value row is at the same offset
// from `values` as the key row from `keys`. Keys and values are walked row by row (all heads of
// a row at once): in streaming the rows come from memory, not cache, and whole contiguous rows
// keep the hardware prefetchers busy. scores holds [num_heads, n].
template <typename T>
ANCAT_MULTIVERSION void AttendOne(const AttentionDims& dims, const float* q, const T* const* rows, int n,
                                  int64_t value_offset, float* out, float* scores) {
  const int dh = dims.head_dim, heads = dims.num_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int j = 0; j < n; ++j) {
    if (j + 1 < n) __builtin_prefetch(rows[j + 1]);
    for (int h = 0; h < heads; ++h) scores[h * n + j] = DotT(q + h * dh, rows[j] + h * dh, dh) * scale;
  }
  for (int h = 0; h < heads; ++h) internal::Softmax(scores + h * n, n);
  const int d = heads * dh;
  for (int i = 0; i < d; ++i) out[i] = 0;
  for (int j = 0; j < n; ++j) {
    if (j + 1 < n) __builtin_prefetch(rows[j + 1] + value_offset);
    AddWeightedValue(scores + j, n, rows[j] + value_offset, heads, dh, out);
  }
}

// Adds sum_c q[c] * column_c[r] to ss[r] for r < m (columns `cap` apart, q pre-scaled). `m`
// may be rounded up past the window (to whole vectors) where the columns have room: the extra
// scores are never read, and no scalar remainder loop runs.
template <typename T>
inline __attribute__((always_inline)) void ScoreRun(const float* qs, int dh, const T* col0, int64_t cap, int m,
                                                    float* ss) {
  int i = 0;
  for (; i + 4 <= dh; i += 4) {  // four channels per pass over the scores
    const float q0 = qs[i], q1 = qs[i + 1], q2 = qs[i + 2], q3 = qs[i + 3];
    const T *c0 = col0 + i * cap, *c1 = c0 + cap, *c2 = c1 + cap, *c3 = c2 + cap;
    for (int r = 0; r < m; ++r) ss[r] += q0 * Load(c0[r]) + q1 * Load(c1[r]) + q2 * Load(c2[r]) + q3 * Load(c3[r]);
  }
  for (; i < dh; ++i) {
    const T* col = col0 + i * cap;
    for (int r = 0; r < m; ++r) ss[r] += qs[i] * Load(col[r]);
  }
}

// Scores of up to 48 consecutive slots (three 16-float vectors) over all dh channels (dh even),
// accumulated in registers with two partial sums per vector (even and odd channels), so the
// adds do not wait on each other or on stores. Reads 48 slots of every column: the caller
// checks they lie inside the ring; results past the window are never read.
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));
inline __attribute__((always_inline)) void Score48(const float* qs, int dh, const float* col0, int64_t cap,
                                                   float* ss) {
  Vec16 e0 = {}, e1 = {}, e2 = {}, o0 = {}, o1 = {}, o2 = {};
  for (int i = 0; i + 2 <= dh; i += 2) {
    const float* c = col0 + i * cap;
    const float* d = c + cap;
    const float qa = qs[i], qb = qs[i + 1];
    e0 += qa * *reinterpret_cast<const Vec16*>(c);
    e1 += qa * *reinterpret_cast<const Vec16*>(c + 16);
    e2 += qa * *reinterpret_cast<const Vec16*>(c + 32);
    o0 += qb * *reinterpret_cast<const Vec16*>(d);
    o1 += qb * *reinterpret_cast<const Vec16*>(d + 16);
    o2 += qb * *reinterpret_cast<const Vec16*>(d + 32);
  }
  *reinterpret_cast<Vec16*>(ss) = e0 + o0;
  *reinterpret_cast<Vec16*>(ss + 16) = e1 + o1;
  *reinterpret_cast<Vec16*>(ss + 32) = e2 + o2;
}

// 16 consecutive keys of one column as f32 (bf16: the high half of an f32, as Load).
typedef uint16_t Bf16x16 __attribute__((vector_size(32), aligned(2)));
typedef uint32_t U32x16 __attribute__((vector_size(64)));
// (Vectors by reference, not by value: no vector ABI question for the non-AVX-512 clones.)
inline __attribute__((always_inline)) void Load16(const float* p, Vec16& v) { v = *reinterpret_cast<const Vec16*>(p); }
inline __attribute__((always_inline)) void Load16(const uint16_t* p, Vec16& v) {
  v = (Vec16)(__builtin_convertvector(*reinterpret_cast<const Bf16x16*>(p), U32x16) << 16);
}

// Scores of 16 consecutive slots (inside the ring) over dh % 4 == 0 channels, accumulated in
// registers four channels per step in ScoreRun's order (the compiler may fuse the multiply-adds
// differently, so scores can differ from ScoreRun's in the last bits).

template <typename T>
inline __attribute__((always_inline)) void Score16(const float* qs, int dh, const T* col0, int64_t cap, Vec16& acc) {
  acc = Vec16{};
  for (int i = 0; i + 4 <= dh; i += 4) {
    const T* c0 = col0 + i * cap;
    Vec16 k0, k1, k2, k3;
    Load16(c0, k0);
    Load16(c0 + cap, k1);
    Load16(c0 + 2 * cap, k2);
    Load16(c0 + 3 * cap, k3);
    acc += qs[i] * k0 + qs[i + 1] * k1 + qs[i + 2] * k2 + qs[i + 3] * k3;
  }
}

// The scores of a run of `count` slots from `slot` (cap >= 16, dh % 4 == 0) into ss, in
// whole vectors: streaming rings hold barely more than the window (37 slots on the default
// model), so ScoreRun cannot pad, and its scalar remainder (up to 15 slots per channel pass) was
// most of the scoring. A partial last vector is computed over the 16 slots that end the run
// (still inside the column) and only its new lanes are kept.
template <typename T>
inline __attribute__((always_inline)) void ScoreRunInRegisters(const float* qs, int dh, const T* col0,
                                                               int64_t cap, int64_t slot, int count, float* ss) {
  const int full = count / 16;
  for (int b = 0; b < full; ++b) Score16(qs, dh, col0 + slot + 16 * b, cap, *reinterpret_cast<Vec16*>(ss + 16 * b));
  const int rest = count - 16 * full;
  if (rest == 0) return;
  const int64_t end = slot + count;
  const int64_t from = end >= 16 ? end - 16 : 0;  // 16 slots [from, from + 16) inside the column
  Vec16 v;
  Score16(qs, dh, col0 + from, cap, v);
  const int64_t first = slot + 16 * full;  // the first slot not yet scored
  for (int64_t k = first; k < end; ++k) ss[16 * full + (k - first)] = v[k - from];
}

// Transposed keys: the window's scores for all its slots at once (vertical FMAs over the ring
// slots the window covers: one run, or two where it wraps), in position order. Only the
// window is scored: in offline runs the ring holds a whole round of frames, many times the
// window. Scores of head h start at scores + h * ns (ns >= n + 47: a padded run, or Score48,
// may write past the window); qs holds dh
// floats of scratch. Values are rows as in AttendOne.
template <typename T>
ANCAT_MULTIVERSION void AttendTransposed(const AttentionDims& dims, const float* q, const T* keys_t,
                                         const T* values, int64_t stride, int64_t cap, int64_t lo, int n,
                                         float* out, float* scores, int ns, float* qs) {
  const int dh = dims.head_dim, heads = dims.num_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  const int64_t start = lo % cap;
  // Slots [start, start + n1) hold positions lo.., then [0, n - n1) if the window wraps.
  const int n1 = static_cast<int>(std::min<int64_t>(n, cap - start));
  const struct {
    int64_t slot;
    int count, offset;
  } runs[2] = {{start, n1, 0}, {0, n - n1, n1}};
  constexpr int kVec = 16;
  for (int h = 0; h < heads; ++h) {
    float* sh = scores + h * ns;
    for (int j = 0; j < ns; ++j) sh[j] = 0;
    const T* kh = keys_t + static_cast<int64_t>(h * dh) * cap;
    for (int i = 0; i < dh; ++i) qs[i] = q[h * dh + i] * scale;
    for (const auto& run : runs) {
      if (run.count == 0) continue;
      // Whole vectors where the ring's columns extend that far. The padding lands past the
      // window: a first run that wraps ends at the ring's end and is never padded.
      const int padded = (run.count + kVec - 1) / kVec * kVec;
      if constexpr (std::is_same_v<T, float>) {
        // Offline rings are longer than the window: one register-blocked pass (f32 keys).
        if (run.count <= 48 && run.slot + 48 <= cap && dh % 2 == 0) {
          Score48(qs, dh, kh + run.slot, cap, sh + run.offset);
          continue;
        }
      }
      if (cap >= 16 && dh % 4 == 0) {
        ScoreRunInRegisters(qs, dh, kh, cap, run.slot, run.count, sh + run.offset);
        continue;
      }
      if (run.slot + padded <= cap) {
        ScoreRun(qs, dh, kh + run.slot, cap, padded, sh + run.offset);
      } else {
        ScoreRun(qs, dh, kh + run.slot, cap, run.count, sh + run.offset);
      }
    }
    internal::Softmax(sh, n);
  }
  const int d = heads * dh;
  for (int i = 0; i < d; ++i) out[i] = 0;
  int64_t r = start;
  int j = 0;
  for (; j + 2 <= n; j += 2) {  // two value rows per pass over the output
    const T* v0 = values + r * stride;
    if (++r == cap) r = 0;
    const T* v1 = values + r * stride;
    if (++r == cap) r = 0;
    for (int h = 0; h < heads; ++h) {
      const float p0 = scores[h * ns + j], p1 = scores[h * ns + j + 1];
      float* oh = out + h * dh;
      const T *a = v0 + h * dh, *b = v1 + h * dh;
      for (int i = 0; i < dh; ++i) oh[i] += p0 * Load(a[i]) + p1 * Load(b[i]);
    }
  }
  for (; j < n; ++j) {
    AddWeightedValue(scores + j, ns, values + r * stride, heads, dh, out);
    if (++r == cap) r = 0;
  }
}

template <typename T>
void AttendT(const AttentionDims& dims, const float* q, int64_t q_stride, int num_queries, const KeyValueView& kv,
             const int64_t* lo, const int64_t* hi, float* out, int64_t out_stride) {
  thread_local std::vector<float> scores;
  thread_local std::vector<const T*> rows;
  const T* keys = static_cast<const T*>(kv.keys);
  if (kv.keys_transposed) {
    thread_local std::vector<float> qs;
    if (qs.size() < static_cast<size_t>(dims.head_dim)) qs.resize(dims.head_dim);
    for (int i = 0; i < num_queries; ++i) {
      const int n = static_cast<int>(hi[i] - lo[i] + 1);
      // Per-head stride: room for whole-vector score runs (a run may write 15, or with
      // Score48 up to 47, floats past the window).
      const int ns = (n + 15) / 16 * 16 + 48;
      if (scores.size() < static_cast<size_t>(ns) * dims.num_heads) scores.resize(static_cast<size_t>(ns) * dims.num_heads);
      AttendTransposed<T>(dims, q + i * q_stride, keys, static_cast<const T*>(kv.values), kv.stride, kv.capacity, lo[i],
                          n, out + i * out_stride, scores.data(), ns, qs.data());
    }
    return;
  }
  const int64_t value_offset = static_cast<const T*>(kv.values) - keys;
  for (int i = 0; i < num_queries; ++i) {
    const int n = static_cast<int>(hi[i] - lo[i] + 1);
    if (rows.size() < static_cast<size_t>(n)) rows.resize(n);
    if (scores.size() < static_cast<size_t>(n) * dims.num_heads) scores.resize(static_cast<size_t>(n) * dims.num_heads);
    int64_t row = lo[i] % kv.capacity;  // one division per query, not per key
    for (int j = 0; j < n; ++j) {
      rows[j] = keys + row * kv.stride;
      if (++row == kv.capacity) row = 0;
    }
    AttendOne<T>(dims, q + i * q_stride, rows.data(), n, value_offset, out + i * out_stride, scores.data());
  }
}

}  // namespace

void Attend(const AttentionDims& dims, const float* q, int64_t q_stride, int num_queries, const KeyValueView& kv,
            const int64_t* lo, const int64_t* hi, float* out, int64_t out_stride) {
  if (kv.type == KvType::kBF16) {
    AttendT<uint16_t>(dims, q, q_stride, num_queries, kv, lo, hi, out, out_stride);
  } else {
    AttendT<float>(dims, q, q_stride, num_queries, kv, lo, hi, out, out_stride);
  }
}

void StoreKv(const float* src, int n, KvType type, void* dst, int64_t dst_stride) {
  if (type == KvType::kF32) {
    auto* out = static_cast<float*>(dst);
    if (dst_stride == 1) {
      std::memcpy(out, src, sizeof(float) * n);
    } else {
      for (int i = 0; i < n; ++i) out[i * dst_stride] = src[i];
    }
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  for (int i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &src[i], 4);
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
    out[i * dst_stride] = static_cast<uint16_t>(bits >> 16);
  }
}

void AttendBidirectional(const AttentionDims& dims, const float* q, int64_t q_stride, const float* k, const float* v,
                         int64_t kv_stride, int n, float* out, int64_t out_stride) {
  if (n <= 0) return;
  thread_local std::vector<float> scores;
  thread_local std::vector<const float*> rows;
  scores.resize(static_cast<size_t>(n) * dims.num_heads);
  rows.resize(n);
  for (int j = 0; j < n; ++j) rows[j] = k + j * kv_stride;
  for (int i = 0; i < n; ++i) {
    AttendOne<float>(dims, q + i * q_stride, rows.data(), n, v - k, out + i * out_stride, scores.data());
  }
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
