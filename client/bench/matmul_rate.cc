#include "client/bench/matmul_rate.h"

#include <omp.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/bench/system.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace ancat::bench {

std::string MatmulTypeName(MatmulType type) {
  switch (type) {
    case MatmulType::kF32: return "f32";
    case MatmulType::kBF16: return "bf16";
    case MatmulType::kInt8: return "int8";
  }
  return "?";
}

absl::Status MatmulRateConfig::Validate() const {
  if (m <= 0 || k <= 0 || n <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("MatmulRateConfig: m, k, n must be > 0 (got %d, %d, %d)", m, k, n));
  }
  if (!(seconds > 0)) return absl::InvalidArgumentError("MatmulRateConfig.seconds must be > 0");
  if (threads < 1) return absl::InvalidArgumentError("MatmulRateConfig.threads must be >= 1");
  return absl::OkStatus();
}

std::string MatmulRateConfig::ToString() const {
  return absl::StrFormat("MatmulRateConfig{m=%d, k=%d, n=%d, seconds=%.2f, threads=%d}", m, k, n,
                         seconds, threads);
}

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Fills memory with random bytes that are valid numbers of its type.
void FillRandom(const dnnl::memory& mem, dt type) {
  std::mt19937 rng(7);
  size_t bytes = mem.get_desc().get_size();
  auto* p = static_cast<uint8_t*>(mem.get_data_handle());
  if (type == dt::f32) {
    std::uniform_real_distribution<float> u(-1, 1);
    auto* f = reinterpret_cast<float*>(p);
    for (size_t i = 0; i < bytes / 4; ++i) f[i] = u(rng);
  } else if (type == dt::bf16) {
    std::uniform_real_distribution<float> u(-1, 1);
    auto* h = reinterpret_cast<uint16_t*>(p);
    for (size_t i = 0; i < bytes / 2; ++i) {
      float v = u(rng);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      h[i] = static_cast<uint16_t>(bits >> 16);
    }
  } else {
    std::uniform_int_distribution<int> u(0, 127);  // valid for both u8 and s8
    for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(u(rng));
  }
}

}  // namespace

absl::StatusOr<MatmulRate> MeasureMatmulRate(const MatmulRateConfig& config, MatmulType type) {
  if (auto s = config.Validate(); !s.ok()) return s;
  omp_set_num_threads(config.threads);
  dt src_t = dt::f32, wei_t = dt::f32, dst_t = dt::f32;
  if (type == MatmulType::kBF16) src_t = wei_t = dt::bf16;
  if (type == MatmulType::kInt8) src_t = dt::u8, wei_t = dt::s8, dst_t = dt::s32;
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    dnnl::memory::desc src({config.m, config.k}, src_t, tag::ab);
    dnnl::memory::desc wei({config.k, config.n}, wei_t, tag::any);
    dnnl::memory::desc dst({config.m, config.n}, dst_t, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), eng);
    dnnl::memory a(src, eng), b(pd.weights_desc(), eng), c(dst, eng);
    FillRandom(a, src_t);
    FillRandom(b, wei_t);
    dnnl::matmul mm(pd);
    auto run = [&] {
      mm.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
      strm.wait();
    };
    run();
    int64_t calls = 0;
    double start = WallSeconds(), cpu0 = ProcessCpuSeconds(), elapsed = 0;
    while (elapsed < config.seconds) {
      run();
      ++calls;
      elapsed = WallSeconds() - start;
    }
    MatmulRate rate;
    rate.type = type;
    rate.impl = pd.impl_info_str();
    const double flops = 2.0 * config.m * config.n * config.k * calls;
    rate.gflops = flops / elapsed * 1e-9;
    rate.gflops_cpu = flops / std::max(ProcessCpuSeconds() - cpu0, 1e-9) * config.threads * 1e-9;
    return rate;
  } catch (const dnnl::error& e) {
    return absl::UnavailableError(absl::StrFormat("oneDNN %s matmul: %s", MatmulTypeName(type), e.what()));
  }
}

}  // namespace ancat::bench
