#include "asr/nn/linear.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "asr/nn/internal/simd.h"
#include "dnnl.hpp"

namespace ancat::asr::nn {
namespace {

using dnnl::memory;
using Dt = memory::data_type;
using Tag = memory::format_tag;

// A primitive costs ~70 KB and ~0.3-1 ms to create, so a long-running server must not make one
// per distinct row count (50 layers' Linears x 512 counts would be GBs). Calls use only the row
// counts below: 1..16, then steps of 4, 8 and 16 up to 256 (44 sizes); any other count is split
// greedily into at most two of them (plus whole 256-row chunks), e.g. 100 = 96 + 4.
constexpr int kMaxRowsPerCall = 256;

// Below this many FLOPs a matmul runs on one thread (~0.1 ms of one core).
constexpr double kMinFlopsForThreads = 16e6;

int LargestBucketAtMost(int rows) {
  if (rows >= kMaxRowsPerCall) return kMaxRowsPerCall;
  if (rows <= 16) return rows;
  if (rows <= 64) return rows / 4 * 4;
  if (rows <= 128) return rows / 8 * 8;
  return rows / 16 * 16;
}

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(Engine());
  return stream;
}

// Grows, never shrinks; 64-byte aligned for the JIT kernels.
void* ThreadScratch(size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer b;
  if (bytes > b.size) {
    std::free(b.p);
    b.size = (bytes + 63) / 64 * 64;
    b.p = std::aligned_alloc(64, b.size);
  }
  return b.p;
}

inline uint16_t ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even (inputs are finite)
  return static_cast<uint16_t>(bits >> 16);
}

// Rows of x rounded to bf16, packed (n floats per row). Its own function so that it gets the
// AVX-512 clone: inlined into Linear::Forward it ran 4 floats at a time, ~3% of a bf16 step.
ANCAT_MULTIVERSION
void RowsToBf16(const float* x, int x_stride, int rows, int n, uint16_t* out) {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + static_cast<size_t>(r) * x_stride;
    uint16_t* o = out + static_cast<size_t>(r) * n;
    for (int i = 0; i < n; ++i) o[i] = ToBf16(row[i]);
  }
}

// Round to nearest (even) for |v| < 2^22 without a libm call, so the loops vectorize.
inline __attribute__((always_inline)) float RoundNearest(float v) {
  return (v + 12582912.0f) - 12582912.0f;  // 1.5 * 2^23
}

// Symmetric s8 quantization of `rows` rows of n floats: q = round(x / scale), scale =
// max|x| / 127 (0 for an all-zero row, whose q is all zero).
ANCAT_MULTIVERSION
void QuantizeRows(const float* x, int x_stride, int rows, int n, int8_t* q, float* scale) {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + static_cast<size_t>(r) * x_stride;
    // max |x| as the largest bit pattern with the sign cleared: for non-negative floats the
    // integer order is the float order, and an integer max reduction vectorizes (a float one
    // does not without -ffinite-math-only).
    uint32_t mbits = 0;
    for (int i = 0; i < n; ++i) {
      uint32_t b;
      std::memcpy(&b, row + i, 4);
      b &= 0x7fffffffu;
      mbits = b > mbits ? b : mbits;
    }
    float amax;
    std::memcpy(&amax, &mbits, 4);
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    scale[r] = amax / 127.0f;
    int8_t* out = q + static_cast<size_t>(r) * n;
    for (int j = 0; j < n; ++j) out[j] = static_cast<int8_t>(static_cast<int>(RoundNearest(row[j] * inv)));
  }
}

// Float bits -> an unsigned key with the same order (negative floats reversed), so min/max
// reductions run on integers, which vectorize (float ones do not without -ffinite-math-only).
inline __attribute__((always_inline)) uint32_t OrderKey(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
inline float FromOrderKey(uint32_t k) {
  const uint32_t b = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Asymmetric u8 quantization of activation rows: the row's range [min(x, 0), max(x, 0)] in 255
// steps, x ~ scale * (q - zero). Twice the resolution of symmetric s8 for one-sided rows
// (SiLU outputs feeding ffn.w2 lie in [-0.28, max]). An all-zero row gets scale 0, q = zero = 0.
ANCAT_MULTIVERSION
void QuantizeRowsU8(const float* x, int x_stride, int rows, int n, uint8_t* q, float* scale, int32_t* zero) {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + static_cast<size_t>(r) * x_stride;
    uint32_t kmin = OrderKey(0.0f), kmax = kmin;
    for (int i = 0; i < n; ++i) {
      const uint32_t k = OrderKey(row[i]);
      kmin = k < kmin ? k : kmin;
      kmax = k > kmax ? k : kmax;
    }
    const float lo = FromOrderKey(kmin), hi = FromOrderKey(kmax);  // lo <= 0 <= hi
    const float range = hi - lo;
    const float inv = range > 0 ? 255.0f / range : 0.0f;
    const int32_t z = static_cast<int32_t>(RoundNearest(-lo * inv));  // in [0, 255]
    scale[r] = range / 255.0f;
    zero[r] = z;
    uint8_t* out = q + static_cast<size_t>(r) * n;
    for (int j = 0; j < n; ++j) {
      int32_t v = static_cast<int32_t>(RoundNearest(row[j] * inv)) + z;
      v = v < 0 ? 0 : v;
      v = v > 255 ? 255 : v;
      out[j] = static_cast<uint8_t>(v);
    }
  }
}

// The s32 accumulators may share memory with the f32 outputs (written in place).
typedef int32_t __attribute__((may_alias)) AliasedInt32;

// y = epilogue((acc - zero_x[r] * wsum[o]) * scale_x[r] * scale_w[o] + b[o]), row by row:
// acc = sum_i q_x[i] q_w[o, i], and x = scale_x (q_x - zero_x), so the zero point's share is
// zero_x * sum_i q_w[o, i], subtracted exactly in s32.
ANCAT_MULTIVERSION
void Dequantize(const AliasedInt32* acc_rows, int acc_stride, int rows, int out, const float* sx, const int32_t* zx,
                const float* sw, const int32_t* wsum, const float* b, Epilogue ep, float* y, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    const AliasedInt32* acc = acc_rows + static_cast<size_t>(r) * acc_stride;
    float* yr = y + static_cast<size_t>(r) * y_stride;
    const float s = sx[r];
    const int32_t z = zx[r];
    // Exact integer dot product of the centred quantized row with w's row o.
    auto centred = [&](int o) { return static_cast<float>(acc[o] - z * wsum[o]); };
    // acc and y may be the same memory (in place): a[o] is read before y[o] is written, in
    // the same iteration, so there is no dependence between iterations (ivdep), and the
    // loops must not fall back to scalar code on the runtime overlap check.
    switch (ep) {
      case Epilogue::kNone:
#pragma GCC ivdep
        for (int o = 0; o < out; ++o) yr[o] = centred(o) * (s * sw[o]) + b[o];
        break;
      case Epilogue::kRelu:
#pragma GCC ivdep
        for (int o = 0; o < out; ++o) yr[o] = std::max(centred(o) * (s * sw[o]) + b[o], 0.0f);
        break;
      case Epilogue::kSilu:
#pragma GCC ivdep
        for (int o = 0; o < out; ++o) {
          const float v = centred(o) * (s * sw[o]) + b[o];
          yr[o] = v / (1.0f + internal::Exp(-v));
        }
        break;
      case Epilogue::kTanh:
#pragma GCC ivdep
        for (int o = 0; o < out; ++o) {
          const float v = centred(o) * (s * sw[o]) + b[o];
          const float e = internal::Exp(-2.0f * std::fabs(v));  // in (0, 1]: no overflow
          yr[o] = std::copysign((1.0f - e) / (1.0f + e), v);
        }
        break;
      case Epilogue::kAccumulate:
#pragma GCC ivdep
        for (int o = 0; o < out; ++o) yr[o] += centred(o) * (s * sw[o]) + b[o];
        break;
    }
  }
}

}  // namespace

std::string ComputeTypeName(ComputeType t) {
  switch (t) {
    case ComputeType::kBF16: return "bf16";
    case ComputeType::kInt8: return "int8";
    case ComputeType::kF32: break;
  }
  return "f32";
}

absl::StatusOr<ComputeType> ParseComputeType(const std::string& name) {
  if (name == "f32") return ComputeType::kF32;
  if (name == "bf16") return ComputeType::kBF16;
  if (name == "int8") return ComputeType::kInt8;
  return absl::InvalidArgumentError(absl::StrCat("compute type '", name, "' is not f32, bf16 or int8"));
}

struct Linear::Impl {
  int out = 0, in = 0;
  ComputeType type = ComputeType::kF32;
  std::vector<float> w, b;
  memory bias_mem;
  // kInt8: the weights quantized per output channel, [out, in] row-major, their scales and
  // the sums of each output channel's quantized weights (for the activations' zero points).
  std::vector<int8_t> wq;
  std::vector<float> w_scale;
  std::vector<int32_t> w_sum;

  struct Entry {
    dnnl::matmul prim;
    memory::desc src_md, dst_md, scratch_md;
    memory weights;
  };
  using Key = std::tuple<int, int, int, int>;  // rows, x_stride, y_stride, epilogue
  std::mutex mu;
  std::map<Key, std::shared_ptr<const Entry>> cache;
  std::vector<std::pair<memory::desc, memory>> packed;  // weights per layout oneDNN asked for

  std::shared_ptr<const Entry> Get(int rows, int xs, int ys, Epilogue ep);
};

std::shared_ptr<const Linear::Impl::Entry> Linear::Impl::Get(int rows, int xs, int ys, Epilogue ep) {
  Key key{rows, xs, ys, static_cast<int>(ep)};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  const bool int8 = type == ComputeType::kInt8;
  const Dt dt = type == ComputeType::kBF16 ? Dt::bf16 : int8 ? Dt::s8 : Dt::f32;
  auto e = std::make_shared<Entry>();
  e->src_md = memory::desc({rows, in}, int8 ? Dt::u8 : dt, memory::dims{xs, 1});
  // int8: plain s32 accumulators; scales, bias and the epilogue are applied by Dequantize
  // (oneDNN 2.6 has no per-row source scales, and runtime output scales or a per-row binary
  // post-op leave its fast brgemm kernels for gemm:jit or a reference kernel).
  e->dst_md = memory::desc({rows, out}, int8 ? Dt::s32 : Dt::f32, memory::dims{ys, 1});
  memory::desc w_md({in, out}, dt, Tag::any);
  memory::desc b_md({1, out}, Dt::f32, Tag::ab);
  dnnl::post_ops po;
  switch (int8 ? Epilogue::kNone : ep) {
    case Epilogue::kRelu: po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f); break;
    case Epilogue::kSilu: po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f); break;
    case Epilogue::kTanh: po.append_eltwise(1.f, dnnl::algorithm::eltwise_tanh, 0.f, 0.f); break;
    case Epilogue::kAccumulate: po.append_sum(1.f); break;
    case Epilogue::kNone: break;
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  // Our own per-thread scratchpad: the library's default one is shared by all primitives, which
  // makes concurrent execution from several threads unsafe in Debian's build.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd = int8 ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(e->src_md, w_md, e->dst_md), attr, Engine())
                                         : dnnl::matmul::primitive_desc(dnnl::matmul::desc(e->src_md, w_md, b_md, e->dst_md), attr, Engine());
  e->prim = dnnl::matmul(pd);
  e->scratch_md = pd.scratchpad_desc();
  for (auto& [md, mem] : packed) {
    if (md == pd.weights_desc()) e->weights = mem;
  }
  if (!e->weights) {
    // The plain weights are [out, in] row-major = a [in, out] matrix in "ba" order.
    memory plain = int8 ? memory({{in, out}, Dt::s8, Tag::ba}, Engine(), const_cast<int8_t*>(wq.data()))
                        : memory({{in, out}, Dt::f32, Tag::ba}, Engine(), w.data());
    memory packed_mem(pd.weights_desc(), Engine());
    dnnl::reorder(plain, packed_mem).execute(ThreadStream(), plain, packed_mem);
    ThreadStream().wait();
    packed.emplace_back(pd.weights_desc(), packed_mem);
    e->weights = packed_mem;
  }
  cache.emplace(key, e);
  return e;
}

Linear::Linear(const float* weight, const float* bias, int out_dim, int in_dim, ComputeType type)
    : impl_(std::make_shared<Impl>()) {
  impl_->out = out_dim;
  impl_->in = in_dim;
  impl_->type = type;
  impl_->w.assign(weight, weight + static_cast<size_t>(out_dim) * in_dim);
  impl_->b.assign(out_dim, 0.0f);
  if (bias != nullptr) std::copy(bias, bias + out_dim, impl_->b.begin());
  impl_->bias_mem = memory({{1, out_dim}, Dt::f32, Tag::ab}, Engine(), impl_->b.data());
  if (type == ComputeType::kInt8) {
    impl_->wq.resize(impl_->w.size());
    impl_->w_scale.resize(out_dim);
    QuantizeRows(impl_->w.data(), in_dim, out_dim, in_dim, impl_->wq.data(), impl_->w_scale.data());
    impl_->w_sum.assign(out_dim, 0);
    for (int o = 0; o < out_dim; ++o) {
      for (int i = 0; i < in_dim; ++i) impl_->w_sum[o] += impl_->wq[static_cast<size_t>(o) * in_dim + i];
    }
  }
}

Linear Linear::Stack(const std::vector<const Linear*>& parts, ComputeType type) {
  int in = parts.at(0)->in_dim(), out = 0;
  for (const Linear* p : parts) out += p->out_dim();
  std::vector<float> w, b;
  w.reserve(static_cast<size_t>(out) * in);
  for (const Linear* p : parts) {
    w.insert(w.end(), p->weight(), p->weight() + static_cast<size_t>(p->out_dim()) * in);
    b.insert(b.end(), p->bias(), p->bias() + p->out_dim());
  }
  return Linear(w.data(), b.data(), out, in, type);
}

int Linear::in_dim() const { return impl_->in; }
int Linear::out_dim() const { return impl_->out; }
ComputeType Linear::compute_type() const { return impl_->type; }
const float* Linear::weight() const { return impl_->w.data(); }
const float* Linear::bias() const { return impl_->b.data(); }

size_t Linear::NumCachedPrimitives() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->cache.size();
}

void Linear::Forward(const float* x, int rows, float* y, Epilogue ep) const {
  Forward(x, impl_->in, rows, y, impl_->out, ep);
}

void Linear::Forward(const float* x, int x_stride, int rows, float* y, int y_stride, Epilogue ep) const {
  const Impl& im = *impl_;
  if (im.type == ComputeType::kInt8) return ForwardInt8(x, x_stride, rows, y, y_stride, ep);
  const bool bf16 = im.type == ComputeType::kBF16;
  // Small products run on the calling thread alone: an OpenMP team for a few microseconds of
  // work costs more than it saves, and its spinning barriers stall on a busy machine.
  const int team = omp_get_max_threads();
  const bool alone = team > 1 && 2.0 * rows * im.in * im.out < kMinFlopsForThreads;
  if (alone) omp_set_num_threads(1);
  thread_local std::vector<uint16_t> xb;
  for (int r0 = 0, n = 0; r0 < rows; r0 += n) {
    n = LargestBucketAtMost(rows - r0);
    const float* xr = x + static_cast<size_t>(r0) * x_stride;
    float* yr = y + static_cast<size_t>(r0) * y_stride;
    void* src = const_cast<float*>(xr);
    int xs = x_stride;
    if (bf16) {
      xb.resize(static_cast<size_t>(n) * im.in);
      RowsToBf16(xr, x_stride, n, im.in, xb.data());
      src = xb.data();
      xs = im.in;
    }
    auto e = impl_->Get(n, xs, y_stride, ep);
    memory src_mem(e->src_md, Engine(), src);
    memory dst_mem(e->dst_md, Engine(), yr);
    memory scratch_mem(e->scratch_md, Engine(), ThreadScratch(e->scratch_md.get_size()));
    e->prim.execute(ThreadStream(), {{DNNL_ARG_SRC, src_mem},
                                     {DNNL_ARG_WEIGHTS, e->weights},
                                     {DNNL_ARG_BIAS, im.bias_mem},
                                     {DNNL_ARG_DST, dst_mem},
                                     {DNNL_ARG_SCRATCHPAD, scratch_mem}});
  }
  ThreadStream().wait();
  if (alone) omp_set_num_threads(team);
}

void Linear::ForwardInt8(const float* x, int x_stride, int rows, float* y, int y_stride, Epilogue ep) const {
  const Impl& im = *impl_;
  const int team = omp_get_max_threads();
  const bool alone = team > 1 && 2.0 * rows * im.in * im.out < kMinFlopsForThreads;
  if (alone) omp_set_num_threads(1);
  thread_local std::vector<uint8_t> xq;
  thread_local std::vector<float> sx;
  thread_local std::vector<int32_t> zx, acc;
  for (int r0 = 0, n = 0; r0 < rows; r0 += n) {
    n = LargestBucketAtMost(rows - r0);
    const float* xr = x + static_cast<size_t>(r0) * x_stride;
    float* yr = y + static_cast<size_t>(r0) * y_stride;
    xq.resize(static_cast<size_t>(n) * im.in);
    sx.resize(n);
    zx.resize(n);
    QuantizeRowsU8(xr, x_stride, n, im.in, xq.data(), sx.data(), zx.data());
    // Accumulators go straight into y's rows (then turned into floats in place), except when
    // y's contents are still needed (kAccumulate).
    void* dst = yr;
    int ds = y_stride;
    if (ep == Epilogue::kAccumulate) {
      acc.resize(static_cast<size_t>(n) * im.out);
      dst = acc.data();
      ds = im.out;
    }
    auto e = impl_->Get(n, im.in, ds, Epilogue::kNone);
    memory src_mem(e->src_md, Engine(), xq.data());
    memory dst_mem(e->dst_md, Engine(), dst);
    memory scratch_mem(e->scratch_md, Engine(), ThreadScratch(e->scratch_md.get_size()));
    e->prim.execute(ThreadStream(), {{DNNL_ARG_SRC, src_mem},
                                     {DNNL_ARG_WEIGHTS, e->weights},
                                     {DNNL_ARG_DST, dst_mem},
                                     {DNNL_ARG_SCRATCHPAD, scratch_mem}});
    ThreadStream().wait();
    Dequantize(static_cast<const AliasedInt32*>(dst), ds, n, im.out, sx.data(), zx.data(), im.w_scale.data(),
               im.w_sum.data(), im.b.data(), ep, yr, y_stride);
  }
  if (alone) omp_set_num_threads(team);
}

bool Bf16MatmulSupported() {
  static const bool supported = [] {
    try {
      memory::desc a({16, 64}, Dt::bf16, Tag::ab), b({64, 64}, Dt::bf16, Tag::any), c({16, 64}, Dt::f32, Tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), Engine());
      const std::string impl = pd.impl_info_str();
      return impl.find("ref") == std::string::npos;  // a reference kernel is no real support
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

bool Int8MatmulSupported() {
  static const bool supported = [] {
    try {
      memory::desc a({16, 64}, Dt::u8, Tag::ab), b({64, 64}, Dt::s8, Tag::any), c({16, 64}, Dt::s32, Tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), Engine());
      const std::string impl = pd.impl_info_str();
      return impl.find("vnni") != std::string::npos || impl.find("amx") != std::string::npos;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

void SetNumThreads(int n) { omp_set_num_threads(std::max(1, n)); }

double MeasureMatmulGflops(int m, int k, int n, ComputeType type, double seconds) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> w(static_cast<size_t>(n) * k), x(static_cast<size_t>(m) * k), y(static_cast<size_t>(m) * n);
  for (float& v : w) v = u(rng);
  for (float& v : x) v = u(rng);
  Linear lin(w.data(), nullptr, n, k, type);
  lin.Forward(x.data(), m, y.data());  // creates the primitive, packs weights
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  long iters = 0;
  double elapsed = 0;
  do {
    lin.Forward(x.data(), m, y.data());
    ++iters;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * m * n * k * iters / elapsed / 1e9;
}

}  // namespace ancat::asr::nn
