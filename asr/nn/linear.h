// Linear layers on oneDNN matmul (v2 API): y = x W^T + b, with optional fused epilogue.
// Primitives are created once per (rows, strides, epilogue) and reused; weights are reordered
// once into the layout oneDNN prefers. Thread-safe: one Linear may run from many threads.
#ifndef ANCAT_ASR_NN_LINEAR_H_
#define ANCAT_ASR_NN_LINEAR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ancat::asr::nn {

// Arithmetic of the matmuls; inputs, outputs, bias and epilogues are f32 in every case.
// kBF16 rounds activations and weights to bfloat16 and accumulates in f32 (oneDNN's avx512_bf16
// kernels). Use it only where Bf16MatmulSupported() says so.
// kInt8 quantizes the weights once, symmetric per output channel (s8, scale max|w_o| / 127), and
// each input row on every call, asymmetric per row (u8 over [min(x_r, 0), max(x_r, 0)], scale
// and zero point per row); oneDNN's VNNI kernels (u8 x s8) accumulate exactly in s32, and
// y = (acc - zero_r * sum_i q_w[o, i]) * scale_x[r] * scale_w[o] + b[o] is formed before the
// epilogue. Per-row scales make a row's result independent of the other rows in the call, so
// batching and chunking do not change outputs (a per-tensor scale would).
// Use it only where Int8MatmulSupported() says so.
enum class ComputeType { kF32, kBF16, kInt8 };
std::string ComputeTypeName(ComputeType t);
absl::StatusOr<ComputeType> ParseComputeType(const std::string& name);  // "f32" | "bf16" | "int8"

// What happens to x W^T + b before it lands in y.
enum class Epilogue {
  kNone,        // y = xW^T + b
  kRelu,        // y = relu(xW^T + b)
  kSilu,        // y = silu(xW^T + b)
  kTanh,        // y = tanh(xW^T + b)
  kAccumulate,  // y += xW^T + b   (residual connections)
};

class Linear {
 public:
  Linear() = default;
  // weight: [out_dim, in_dim] row-major (PyTorch's layout); bias: [out_dim] or null (zeros).
  Linear(const float* weight, const float* bias, int out_dim, int in_dim,
         ComputeType type = ComputeType::kF32);
  // Stacks several [out_i, in] layers sharing the input into one (outputs concatenated in order),
  // so one matmul computes them all (e.g. qkv and the arbiter).
  static Linear Stack(const std::vector<const Linear*>& parts, ComputeType type);

  bool empty() const { return impl_ == nullptr; }
  int in_dim() const;
  int out_dim() const;
  ComputeType compute_type() const;
  const float* weight() const;  // [out, in], f32 as given
  const float* bias() const;    // [out]

  // y[r, :] for r < rows; x rows are x_stride floats apart (>= in_dim), y rows y_stride apart.
  void Forward(const float* x, int rows, float* y, Epilogue ep = Epilogue::kNone) const;
  void Forward(const float* x, int x_stride, int rows, float* y, int y_stride,
               Epilogue ep = Epilogue::kNone) const;

  // Distinct primitives created so far (tests, diagnostics).
  size_t NumCachedPrimitives() const;

 private:
  void ForwardInt8(const float* x, int x_stride, int rows, float* y, int y_stride, Epilogue ep) const;

  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// True when this CPU runs bf16 matmuls in oneDNN's optimized kernels (avx512_bf16 / AMX);
// elsewhere oneDNN has no fast bf16 path, and ComputeType::kBF16 is refused by the encoder.
bool Bf16MatmulSupported();

// True when this CPU has oneDNN's VNNI (avx512_core_vnni / AMX) int8 matmul kernels. Without
// VNNI, u8 x s8 products go through 16-bit intermediate sums that can saturate (u8 up to 255
// here), so kInt8 is refused by the encoder there rather than run inexactly or slowly.
bool Int8MatmulSupported();

// Threads used by oneDNN (OpenMP) and by the library's own loops on the calling thread.
void SetNumThreads(int n);

// Rate of a large f32/bf16/int8 matmul ([m, k] x [k, n]) on this machine, GFLOP/s, measured now with
// the same library: the peer figure for "encoder at X% of the matmul rate".
double MeasureMatmulGflops(int m, int k, int n, ComputeType type, double seconds);

}  // namespace ancat::asr::nn

#endif  // ANCAT_ASR_NN_LINEAR_H_
