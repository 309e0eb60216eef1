// Google Benchmark kernels behind ancat-bench's figures, on one thread:
//   BM_Matmul      oneDNN matmul f32 / bf16 / int8 at the peak-rate size and at encoder shapes
//   BM_Linear      the engine's nn::Linear (the encoder's matmuls) at encoder shapes, f32/bf16/int8
//   BM_Attend      the attention core over a streaming KV window
// FLOPS counters are 2 per multiply-add. Run: build-x/tests/bench/bench_kernels
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "asr/nn/attention.h"
#include "asr/nn/linear.h"
#include "benchmark/benchmark.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// type: 0 f32, 1 bf16 (f32 out), 2 int8 (u8 x s8 -> s32). Args: m, k, n, type.
void BM_Matmul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const int type = static_cast<int>(state.range(3));
  dt src_t = type == 0 ? dt::f32 : type == 1 ? dt::bf16 : dt::u8;
  dt wei_t = type == 0 ? dt::f32 : type == 1 ? dt::bf16 : dt::s8;
  dt dst_t = type == 2 ? dt::s32 : dt::f32;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  dnnl::memory::desc src({m, k}, src_t, tag::ab), dst({m, n}, dst_t, tag::ab);
  dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(src, dnnl::memory::desc({k, n}, wei_t, tag::any), dst), eng);
  dnnl::memory a(src, eng), b(pd.weights_desc(), eng), c(dst, eng);
  // Small values valid for every type (bytes 0x01..0x3f are small positive numbers / ints).
  std::memset(a.get_data_handle(), 0x3c, src.get_size());
  std::memset(b.get_data_handle(), 0x3c, pd.weights_desc().get_size());
  dnnl::matmul mm(pd);
  for (auto _ : state) {
    mm.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    strm.wait();
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * m * k * n, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(type == 0 ? "f32 " : type == 1 ? "bf16 " : "int8 ") + pd.impl_info_str());
}
BENCHMARK(BM_Matmul)
    ->ArgNames({"m", "k", "n", "type"})
    ->Args({1024, 1024, 1024, 0})->Args({1024, 1024, 1024, 1})->Args({1024, 1024, 1024, 2})
    // The encoder's qkv, ffn.w1 and ffn.w2 at 1, 16, 128 and 256 rows (streams x frames).
    ->ArgsProduct({{1, 16, 128, 256}, {256}, {768, 1024}, {0, 1, 2}})
    ->ArgsProduct({{1, 16, 128, 256}, {1024}, {256}, {0, 1, 2}});

// The engine's Linear (y = x W^T + b, fused epilogue none). Args: rows, in, out, type
// (0 f32, 1 bf16, 2 int8: includes quantizing the input rows and dequantizing the output).
void BM_Linear(benchmark::State& state) {
  using ancat::asr::nn::ComputeType;
  const int rows = static_cast<int>(state.range(0)), in = static_cast<int>(state.range(1)),
            out = static_cast<int>(state.range(2));
  const ComputeType type = state.range(3) == 2 ? ComputeType::kInt8 : state.range(3) == 1 ? ComputeType::kBF16 : ComputeType::kF32;
  if ((type == ComputeType::kInt8 && !ancat::asr::nn::Int8MatmulSupported()) ||
      (type == ComputeType::kBF16 && !ancat::asr::nn::Bf16MatmulSupported())) {
    state.SkipWithError("no kernels for this type on this CPU");
    return;
  }
  std::vector<float> w = Random(static_cast<size_t>(out) * in, 1), b = Random(out, 2);
  std::vector<float> x = Random(static_cast<size_t>(rows) * in, 3), y(static_cast<size_t>(rows) * out);
  ancat::asr::nn::Linear lin(w.data(), b.data(), out, in, type);
  for (auto _ : state) {
    lin.Forward(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * rows * in * out, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ancat::asr::nn::ComputeTypeName(type));
}
BENCHMARK(BM_Linear)
    ->ArgNames({"rows", "in", "out", "type"})
    ->ArgsProduct({{1, 16, 128, 256}, {256}, {768, 1024}, {0, 1, 2}})
    ->ArgsProduct({{1, 16, 128, 256}, {1024}, {256}, {0, 1, 2}});

// Streaming attention: `queries` consecutive frames, each seeing left context 32 and lookahead
// up to 4 over a ring of 64 rows; 4 heads x 64. Args: queries.
void BM_Attend(benchmark::State& state) {
  const int queries = static_cast<int>(state.range(0));
  ancat::asr::nn::AttentionDims dims{.num_heads = 4, .head_dim = 64};
  const int d = dims.d(), capacity = 64, left = 32, ahead = 4;
  std::vector<float> q = Random(static_cast<size_t>(queries) * d, 1);
  std::vector<float> k = Random(static_cast<size_t>(capacity) * d, 2);
  std::vector<float> v = Random(static_cast<size_t>(capacity) * d, 3);
  std::vector<float> out(static_cast<size_t>(queries) * d);
  std::vector<int64_t> lo(queries), hi(queries);
  const int64_t t0 = 1000;  // deep into a stream: full left context, ring wraps
  double keys = 0;
  for (int i = 0; i < queries; ++i) {
    lo[i] = t0 + i - left;
    hi[i] = t0 + i + (i % (ahead + 1));
    keys += hi[i] - lo[i] + 1;
  }
  // Rows t0 - left .. t0 + queries + ahead must be live in the ring.
  if (queries + left + ahead + 1 > capacity) {
    state.SkipWithError("queries too many for the ring");
    return;
  }
  ancat::asr::nn::KeyValueView kv{.keys = k.data(), .values = v.data(), .stride = d, .capacity = capacity};
  for (auto _ : state) {
    ancat::asr::nn::Attend(dims, q.data(), d, queries, kv, lo.data(), hi.data(), out.data(), d);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * 2 * keys * d, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Attend)->ArgName("queries")->Arg(1)->Arg(4)->Arg(16)->Arg(27);

}  // namespace

int main(int argc, char** argv) {
  ancat::asr::nn::SetNumThreads(1);  // per-core figures
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
