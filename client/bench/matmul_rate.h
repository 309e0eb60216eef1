// oneDNN's large-matmul rate on this machine, measured in the same run as the encoder: the
// ceiling the encoder's achieved GFLOP/s is compared against.
#ifndef ANCAT_CLIENT_BENCH_MATMUL_RATE_H_
#define ANCAT_CLIENT_BENCH_MATMUL_RATE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ancat::bench {

// f32: f32 x f32 -> f32. bf16: bf16 x bf16 -> f32 (f32 accumulation).
// int8: u8 activations x s8 weights -> s32 (VNNI).
enum class MatmulType { kF32, kBF16, kInt8 };
std::string MatmulTypeName(MatmulType type);

struct MatmulRateConfig {
  int m = 1024;           // rows of activations
  int k = 1024;           // inner dimension
  int n = 1024;           // output columns
  double seconds = 0.5;   // time each type at least this long (after one warm-up call)
  int threads = 1;        // OpenMP threads oneDNN uses
  absl::Status Validate() const;
  std::string ToString() const;
};

struct MatmulRate {
  MatmulType type = MatmulType::kF32;
  std::string impl;       // oneDNN's kernel name, e.g. "brg:avx512_core"
  double gflops = 0;      // 2*m*n*k per call, per second of wall time
  double gflops_cpu = 0;  // the same per second of process CPU time x threads (what the
                          // threads got of the cores; steadier on a shared machine)
};

// Weights are reordered once into oneDNN's preferred layout and the primitive is reused, as
// a well-built engine would; inputs hold random values (all-zero data can run faster).
absl::StatusOr<MatmulRate> MeasureMatmulRate(const MatmulRateConfig& config, MatmulType type);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_MATMUL_RATE_H_
