// The pieces of ancat-bench that turn times into figures: FLOP counting, percentiles, child
// processes for the peers, the matmul rate probe. No timing is asserted.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "asr/model/model_config.h"
#include "client/bench/encoder_flops.h"
#include "client/bench/matmul_rate.h"
#include "client/bench/peers.h"
#include "client/bench/system.h"
#include "gtest/gtest.h"

namespace ancat::bench {
namespace {

std::string TinyModelJson() {
  return std::string(ANCAT_SOURCE_DIR) + "/tests/data/tiny-model/model.json";
}

TEST(EncoderFlops, CountsTheTinyModelByHand) {
  auto mc = asr::ModelConfig::FromFile(TinyModelJson());
  ASSERT_TRUE(mc.ok()) << mc.status();
  // tiny-model: C=8, 80 -> 39 -> 19 bins, d=64, F=128, L=2, left=8, K=4, 40 ms frames.
  ASSERT_EQ(mc->subsampling.channels, 8);
  ASSERT_EQ(mc->encoder.d_model, 64);
  EncoderFlops f = CountEncoderFlops(*mc);
  const double conv1 = 2 * 8 * 39 * 9, conv2 = 8 * 19 * 8 * 9, out = 8 * 19 * 64;
  EXPECT_DOUBLE_EQ(f.subsampling, 2 * (conv1 + conv2 + out));
  const double layer = 64 * 4 + 3 * 64 * 64 + 64 * 64 + 2 * 64 * 128;
  EXPECT_DOUBLE_EQ(f.dense, 2 * 2 * layer);
  EXPECT_DOUBLE_EQ(f.attention, 2 * 2 * 2 * 9 * 64);
  EXPECT_DOUBLE_EQ(f.per_audio_second, f.per_frame() * 25);
  EXPECT_NE(f.ToString().find("MFLOP/frame"), std::string::npos);
}

TEST(EncoderFlops, ScalesWithLayers) {
  auto mc = asr::ModelConfig::FromFile(TinyModelJson());
  ASSERT_TRUE(mc.ok());
  EncoderFlops one = CountEncoderFlops(*mc);
  mc->encoder.num_layers *= 3;
  EncoderFlops three = CountEncoderFlops(*mc);
  EXPECT_DOUBLE_EQ(three.dense, 3 * one.dense);
  EXPECT_DOUBLE_EQ(three.subsampling, one.subsampling);
}

TEST(Percentile, InterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(Percentile({3, 1, 2}, 50), 2);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4, 5}, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4, 5}, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile({0, 10}, 95), 9.5);
}

TEST(System, ReadsProcessFacts) {
  EXPECT_GT(ResidentBytes(), 0);
  EXPECT_GE(HeapBytesInUse(), 0);
  EXPECT_FALSE(AllowedCpus().empty());
  EXPECT_FALSE(CpuModel().empty());
  std::vector<int> cpus = AllowedCpus();
  int quiet = QuietestCpu(cpus, 0.01);
  EXPECT_NE(std::find(cpus.begin(), cpus.end(), quiet), cpus.end());
}

TEST(System, PinsAndUnpinsTheProcess) {
  std::vector<int> cpus = AllowedCpus();
  ASSERT_TRUE(PinProcess({cpus.front()}).ok());
  EXPECT_EQ(AllowedCpus(), std::vector<int>{cpus.front()});
  ASSERT_TRUE(PinProcess(cpus).ok());
  EXPECT_EQ(AllowedCpus(), cpus);
}

TEST(RunChild, CapturesOutputExitCodeEnvironmentAndAffinity) {
  std::string log = (std::filesystem::temp_directory_path() / "bench_core_test_child.log").string();
  std::vector<int> cpus = AllowedCpus();
  auto r = RunChild({"/bin/sh", "-c",
                     "echo out $BENCH_X; echo err >&2; grep Cpus_allowed_list /proc/self/status; exit 3"},
                    {"BENCH_X=42"}, {cpus.back()}, log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->out.find("out 42"), std::string::npos);
  EXPECT_NE(r->out.find("Cpus_allowed_list:\t" + std::to_string(cpus.back())), std::string::npos)
      << r->out;
  EXPECT_EQ(r->err_tail, "err");
  auto missing = RunChild({"/nonexistent/program"}, {}, {}, log);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 127);
}

TEST(PeerConfig, ValidateNamesTheField) {
  PeerConfig c;
  c.repo_dir = ANCAT_SOURCE_DIR;
  c.model_dir = "m";
  c.audio_wav = "a.wav";
  c.work_dir = "/tmp";
  EXPECT_TRUE(c.Validate().ok()) << c.Validate();
  c.threads = 0;
  EXPECT_NE(c.Validate().message().find("threads"), std::string::npos);
  c.threads = 1;
  c.repo_dir = "/nonexistent";
  EXPECT_NE(c.Validate().message().find("repo_dir"), std::string::npos);
  EXPECT_NE(c.ToString().find("PeerConfig{"), std::string::npos);
}

TEST(MatmulRate, MeasuresEveryTypeOnASmallProblem) {
  MatmulRateConfig c{.m = 64, .k = 64, .n = 64, .seconds = 0.01, .threads = 1};
  for (MatmulType t : {MatmulType::kF32, MatmulType::kBF16, MatmulType::kInt8}) {
    auto r = MeasureMatmulRate(c, t);
    if (!r.ok()) {  // a CPU without bf16/VNNI kernels: oneDNN says so, which is fine
      EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
      continue;
    }
    EXPECT_GT(r->gflops, 0) << MatmulTypeName(t);
    EXPECT_FALSE(r->impl.empty());
  }
}

TEST(MatmulRate, ValidateNamesTheField) {
  MatmulRateConfig c;
  c.k = 0;
  EXPECT_NE(c.Validate().message().find("m, k, n"), std::string::npos);
  c = {};
  c.threads = 0;
  EXPECT_NE(c.Validate().message().find("threads"), std::string::npos);
  EXPECT_FALSE(MeasureMatmulRate(c, MatmulType::kF32).ok());
}

}  // namespace
}  // namespace ancat::bench
