// Parity of the streaming ANCAT encoder with the recipe's goldens (tests/data/tiny-model,
// written by models/recipe's export from PyTorch), and invariances of the executor: any
// chunking of the input and any batching of streams give the same frames.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "asr/encoder/encoder.h"
#include "asr/frontend/fbank.h"
#include "asr/model/safetensors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {
namespace {

const std::string kDir = std::string(ANCAT_SOURCE_DIR) + "/tests/data/tiny-model";

struct Golden {
  std::vector<float> waveform, features, out, out_beta;
  std::vector<int32_t> choices, choices_beta, latency, latency_beta;
  int num_feature_frames = 0, num_frames = 0;
  float beta = 0;
};

const Golden& GetGolden() {
  static Golden* g = [] {
    auto* g = new Golden;
    auto st = SafeTensors::Open(kDir + "/golden.safetensors");
    EXPECT_TRUE(st.ok()) << st.status();
    g->waveform = *st->ReadFloat("waveform");
    g->features = *st->ReadFloat("features");
    g->out = *st->ReadFloat("encoder_out");
    g->out_beta = *st->ReadFloat("encoder_out_beta");
    g->choices = *st->ReadInt32("arbiter_choices");
    g->choices_beta = *st->ReadInt32("arbiter_choices_beta");
    g->latency = *st->ReadInt32("latency_frames");
    if (st->Has("latency_frames_beta")) g->latency_beta = *st->ReadInt32("latency_frames_beta");
    g->num_feature_frames = static_cast<int>((*st->Info("features"))->shape[0]);
    g->num_frames = static_cast<int>((*st->Info("encoder_out"))->shape[0]);
    g->beta = std::stof(st->metadata().at("beta"));
    return g;
  }();
  return *g;
}

std::shared_ptr<const Model> TinyModel() {
  static auto m = [] {
    auto m = Model::Load(kDir);
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }();
  return m;
}

std::unique_ptr<Encoder> MakeEncoder(EncoderConfig config = {}) {
  auto e = Encoder::Create(TinyModel(), config);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

// max |a - b| / max(max |b|, tiny): relative to the tensor's scale, per frame.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, int d, double rel_tol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t f = 0; f * d < want.size(); ++f) {
    double scale = 1e-6, err = 0;
    for (int i = 0; i < d; ++i) {
      scale = std::max(scale, static_cast<double>(std::fabs(want[f * d + i])));
      err = std::max(err, static_cast<double>(std::fabs(got[f * d + i] - want[f * d + i])));
    }
    ASSERT_LE(err / scale, rel_tol) << what << " frame " << f;
  }
}

std::vector<int32_t> Flatten(const std::vector<std::vector<int>>& c) {
  std::vector<int32_t> out;
  for (auto& v : c) out.insert(out.end(), v.begin(), v.end());
  return out;
}

TEST(EncoderParityTest, FeaturesFromWaveformMatchGolden) {
  const Golden& g = GetGolden();
  std::ifstream in(kDir + "/model.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto frontend = nlohmann::json::parse(ss.str())["frontend"];
  auto config = FbankConfig::FromJson(frontend.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto feats = ComputeFbank(*config, g.waveform);
  ASSERT_TRUE(feats.ok()) << feats.status();
  ASSERT_EQ(feats->size(), g.features.size());
  double err = 0;
  for (size_t i = 0; i < g.features.size(); ++i) err = std::max(err, std::fabs(static_cast<double>((*feats)[i]) - g.features[i]));
  EXPECT_LE(err, 1e-3);
}

TEST(EncoderParityTest, OfflineMatchesGoldenAtBetaZero) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder();
  auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->num_frames, g.num_frames);
  EXPECT_EQ(Flatten(out->choices), g.choices);
  std::vector<int32_t> latency(out->latency.begin(), out->latency.end());
  EXPECT_EQ(latency, g.latency);
  ExpectClose(out->frames, g.out, enc->d_model(), 1e-3, "encoder_out");
}

TEST(EncoderParityTest, OfflineMatchesGoldenWithBeta) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder();
  auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.beta = g.beta, .record_choices = true});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Flatten(out->choices), g.choices_beta);
  if (!g.latency_beta.empty()) {
    std::vector<int32_t> latency(out->latency.begin(), out->latency.end());
    EXPECT_EQ(latency, g.latency_beta);
  }
  ExpectClose(out->frames, g.out_beta, enc->d_model(), 1e-3, "encoder_out_beta");
  // beta trades accuracy for latency: never more lookahead on average than at beta = 0.
  double mean0 = 0, mean_beta = 0;
  for (int x : g.latency) mean0 += x;
  for (int x : out->latency) mean_beta += x;
  EXPECT_LE(mean_beta, mean0);
}

TEST(EncoderParityTest, FeaturesFromFrontendGiveGoldenEncoderOutput) {
  const Golden& g = GetGolden();
  std::ifstream in(kDir + "/model.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = FbankConfig::FromJson(nlohmann::json::parse(ss.str())["frontend"].dump());
  ASSERT_TRUE(config.ok());
  auto feats = ComputeFbank(*config, g.waveform);
  ASSERT_TRUE(feats.ok());
  auto enc = MakeEncoder();
  auto out = enc->EncodeOffline(feats->data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Flatten(out->choices), g.choices);
  ExpectClose(out->frames, g.out, enc->d_model(), 1e-3, "encoder_out from C++ features");
}

// Feeds features in random chunk sizes, advancing after each chunk; collects every frame.
EncoderOutput RunChunked(Encoder& enc, const std::vector<float>& feats, int num_frames, int bins, std::mt19937& rng,
                         const EncoderStreamOptions& options, int max_chunk) {
  auto stream = enc.CreateStream(options);
  EXPECT_TRUE(stream.ok());
  EncoderStream* s = stream->get();
  EncoderOutput out;
  out.d_model = enc.d_model();
  std::uniform_int_distribution<int> chunk(0, max_chunk);
  auto drain = [&] {
    EXPECT_EQ(s->FirstOutputIndex(), out.num_frames);
    for (int i = 0; i < s->NumOutputFrames(); ++i) {
      auto f = s->OutputFrame(i);
      out.frames.insert(out.frames.end(), f.begin(), f.end());
      out.latency.push_back(s->OutputLatency(i));
    }
    out.num_frames += s->NumOutputFrames();
    s->PopOutputFrames(s->NumOutputFrames());
  };
  int pos = 0;
  while (pos < num_frames) {
    int n = std::min(chunk(rng), num_frames - pos);
    s->AcceptFeatures(feats.data() + static_cast<size_t>(pos) * bins, n);
    pos += n;
    EXPECT_TRUE(enc.Advance({&s, 1}).ok());
    drain();
  }
  s->InputFinished();
  EXPECT_TRUE(s->IsReady() || s->IsDone());
  EXPECT_TRUE(enc.Advance({&s, 1}).ok());
  drain();
  EXPECT_TRUE(s->IsDone());
  EXPECT_FALSE(s->IsReady());
  for (int l = 0; l < enc.model().config().encoder.num_layers; ++l) out.choices.push_back(s->Choices(l));
  return out;
}

TEST(EncoderStreamingTest, RandomChunksEqualOneShot) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder();
  auto ref = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(ref.ok());
  std::mt19937 rng(7);
  for (int max_chunk : {1, 3, 8, 40}) {
    for (float beta : {0.0f, g.beta}) {
      auto want = beta == 0 ? *ref : *enc->EncodeOffline(g.features.data(), g.num_feature_frames,
                                                         {.beta = beta, .record_choices = true});
      auto got = RunChunked(*enc, g.features, g.num_feature_frames, 80, rng, {.beta = beta, .record_choices = true},
                            max_chunk);
      ASSERT_EQ(got.num_frames, want.num_frames) << max_chunk;
      EXPECT_EQ(got.choices, want.choices) << max_chunk;
      EXPECT_EQ(got.latency, want.latency) << max_chunk;
      ExpectClose(got.frames, want.frames, enc->d_model(), 1e-5, "chunked vs one-shot");
    }
  }
}

TEST(EncoderStreamingTest, SmallRoundsEqualLargeRounds) {
  // max_frames_per_round = 1 forces every frame through its own round: KV rings wrap, and
  // frames finish out of order across rounds.
  const Golden& g = GetGolden();
  auto big = MakeEncoder({.max_frames_per_round = 64});
  auto small = MakeEncoder({.max_frames_per_round = 1});
  auto a = big->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  auto b = small->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->choices, b->choices);
  EXPECT_EQ(a->latency, b->latency);
  ExpectClose(b->frames, a->frames, big->d_model(), 1e-5, "round size");
  ExpectClose(a->frames, g.out, big->d_model(), 1e-3, "vs golden");
}

class BatchedTest : public ::testing::TestWithParam<std::tuple<int, nn::ComputeType>> {};

// num_threads = 1: one batch for all streams; 2 and 3: streams split across threads. In f32
// and in int8 (per-row activation scales keep a stream's rows independent of its batch).
TEST_P(BatchedTest, BatchedStreamsEqualOneByOne) {
  const auto [threads, compute] = GetParam();
  if (compute == nn::ComputeType::kInt8 && !nn::Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 kernels";
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.num_threads = threads, .compute = compute});
  const int bins = 80;
  // Streams of different lengths (prefixes of the golden features, and different betas/caps).
  struct Spec {
    int frames;
    EncoderStreamOptions options;
  };
  std::vector<Spec> specs = {{g.num_feature_frames, {}},
                             {g.num_feature_frames - 37, {.beta = 0.5f}},
                             {61, {.max_lookahead_frames = 1}},
                             {5, {}},
                             {0, {}},
                             {g.num_feature_frames, {.beta = g.beta}},
                             {120, {.max_lookahead_frames = 0}}};
  std::vector<EncoderOutput> alone;
  for (auto& sp : specs) {
    sp.options.record_choices = true;
    auto out = enc->EncodeOffline(g.features.data(), sp.frames, sp.options);
    ASSERT_TRUE(out.ok());
    alone.push_back(*out);
  }
  // All streams advanced together, fed in lockstep chunks of 7 frames.
  std::vector<std::unique_ptr<EncoderStream>> streams;
  std::vector<EncoderStream*> ptrs;
  for (auto& sp : specs) {
    streams.push_back(*enc->CreateStream(sp.options));
    ptrs.push_back(streams.back().get());
  }
  std::vector<EncoderOutput> together(specs.size());
  for (int pos = 0;; pos += 7) {
    bool any = false;
    for (size_t i = 0; i < specs.size(); ++i) {
      int n = std::clamp(specs[i].frames - pos, 0, 7);
      if (n > 0) ptrs[i]->AcceptFeatures(g.features.data() + static_cast<size_t>(pos) * bins, n);
      if (pos + 7 >= specs[i].frames) ptrs[i]->InputFinished();
      any |= pos < specs[i].frames;
    }
    ASSERT_TRUE(enc->Advance(ptrs).ok());
    for (size_t i = 0; i < specs.size(); ++i) {
      for (int k = 0; k < ptrs[i]->NumOutputFrames(); ++k) {
        auto f = ptrs[i]->OutputFrame(k);
        together[i].frames.insert(together[i].frames.end(), f.begin(), f.end());
        together[i].latency.push_back(ptrs[i]->OutputLatency(k));
      }
      together[i].num_frames += ptrs[i]->NumOutputFrames();
      ptrs[i]->PopOutputFrames(ptrs[i]->NumOutputFrames());
    }
    if (!any) break;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_TRUE(ptrs[i]->IsDone()) << i;
    EXPECT_EQ(together[i].num_frames, alone[i].num_frames) << i;
    EXPECT_EQ(together[i].latency, alone[i].latency) << i;
    std::vector<std::vector<int>> choices;
    for (int l = 0; l < enc->model().config().encoder.num_layers; ++l) choices.push_back(ptrs[i]->Choices(l));
    EXPECT_EQ(choices, alone[i].choices) << i;
    ExpectClose(together[i].frames, alone[i].frames, enc->d_model(), 1e-5, "batched vs alone");
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, BatchedTest,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::Values(nn::ComputeType::kF32, nn::ComputeType::kInt8)),
                         [](const auto& info) {
                           return absl::StrCat(std::get<0>(info.param), "_",
                                               nn::ComputeTypeName(std::get<1>(info.param)));
                         });

TEST(EncoderStreamingTest, LookaheadCapBoundsLatency) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder();
  for (int cap : {0, 1, 2}) {
    auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames,
                                  {.max_lookahead_frames = cap, .record_choices = true});
    ASSERT_TRUE(out.ok());
    const auto& w = enc->model().config().encoder.lookahead_frames;
    for (auto& layer : out->choices)
      for (int c : layer) EXPECT_LE(w[c], cap);
    const int layers = enc->model().config().encoder.num_layers;
    for (int lat : out->latency) {
      EXPECT_GE(lat, 0);
      EXPECT_LE(lat, cap * layers);  // compounded over layers at most
    }
  }
  auto causal = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.max_lookahead_frames = 0});
  for (int lat : causal->latency) EXPECT_EQ(lat, 0);
}

TEST(EncoderStreamingTest, FramesWaitForLookaheadUntilInputFinishes) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder();
  auto stream = *enc->CreateStream({});
  EncoderStream* s = stream.get();
  s->AcceptFeatures(g.features.data(), g.num_feature_frames);
  ASSERT_TRUE(enc->Advance({&s, 1}).ok());
  // Without the end of input, frames whose lookahead reaches past the last frame wait.
  const int produced = s->NumOutputFrames();
  EXPECT_LT(produced, g.num_frames);
  int64_t last_t = s->FirstOutputIndex() + produced - 1;
  for (int i = 0; i < produced; ++i) EXPECT_LE(s->FirstOutputIndex() + i + s->OutputLatency(i), g.num_frames - 1);
  (void)last_t;
  EXPECT_FALSE(s->IsReady());
  s->InputFinished();
  EXPECT_TRUE(s->IsReady());
  ASSERT_TRUE(enc->Advance({&s, 1}).ok());
  EXPECT_EQ(s->NumOutputFrames(), g.num_frames);
  EXPECT_TRUE(s->IsDone());
}

TEST(EncoderStreamingTest, Bf16StaysCloseToF32) {
  if (!nn::Bf16MatmulSupported()) GTEST_SKIP() << "no bf16 matmul kernels on this CPU";
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.compute = nn::ComputeType::kBF16});
  auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->num_frames, g.num_frames);
  // bf16 keeps 8 bits of mantissa: outputs agree to a few percent of the frame's scale.
  ExpectClose(out->frames, g.out, enc->d_model(), 0.1, "bf16 encoder_out");
  int same = 0;
  auto flat = Flatten(out->choices);
  for (size_t i = 0; i < flat.size(); ++i) same += flat[i] == g.choices[i];
  EXPECT_GE(same, static_cast<int>(0.8 * flat.size()));
}

TEST(EncoderStreamingTest, Int8StaysCloseToF32) {
  if (!nn::Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 matmul kernels on this CPU";
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.compute = nn::ComputeType::kInt8});
  auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->num_frames, g.num_frames);
  // Bound: each int8 matmul on a frame's path (subsampling conv2 and out, then qkv, out, w1,
  // w2 per layer) errs by about one quantization step, at most 1/127 of its operands' row
  // maxima; independent roundings add in quadrature, so the frame's error relative to its
  // scale is about sqrt(matmuls) / 127 (0.025 for the tiny model's 10). Measured on the tiny
  // model: 0.0117 worst frame, 0.0084 RMS over all values (bf16: 0.0044 and 0.0030).
  const int layers = enc->model().config().encoder.num_layers;
  const double bound = std::sqrt(2.0 + 4.0 * layers) / 127.0;
  ExpectClose(out->frames, g.out, enc->d_model(), bound, "int8 encoder_out");
  double sq_err = 0, sq_ref = 0;
  for (size_t i = 0; i < g.out.size(); ++i) {
    sq_err += std::pow(static_cast<double>(out->frames[i]) - g.out[i], 2);
    sq_ref += std::pow(static_cast<double>(g.out[i]), 2);
  }
  EXPECT_GT(sq_err, 0.0) << "it really ran in int8";
  EXPECT_LT(std::sqrt(sq_err / sq_ref), bound);
  // Arbiter choices are argmaxes of f32 logits over int8-computed inputs: near-ties may flip.
  int same = 0;
  auto flat = Flatten(out->choices);
  for (size_t i = 0; i < flat.size(); ++i) same += flat[i] == g.choices[i];
  EXPECT_GE(same, static_cast<int>(0.8 * flat.size()));
}

TEST(EncoderStreamingTest, Int8RandomChunksEqualOneShot) {
  // As RandomChunksEqualOneShot in f32: same choices and latencies, frames within 1e-5 (the
  // f32 path is not bit-exact across chunkings either: its attention and f32 matmuls see
  // different row counts, about 1e-6 apart; int8 chunked vs one-shot measured 4.8e-7).
  if (!nn::Int8MatmulSupported()) GTEST_SKIP() << "no VNNI int8 matmul kernels on this CPU";
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.compute = nn::ComputeType::kInt8});
  std::mt19937 rng(11);
  for (float beta : {0.0f, g.beta}) {
    auto want = *enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.beta = beta, .record_choices = true});
    for (int max_chunk : {1, 3, 8, 40}) {
      auto got = RunChunked(*enc, g.features, g.num_feature_frames, 80, rng, {.beta = beta, .record_choices = true},
                            max_chunk);
      ASSERT_EQ(got.num_frames, want.num_frames) << max_chunk;
      EXPECT_EQ(got.choices, want.choices) << max_chunk;
      EXPECT_EQ(got.latency, want.latency) << max_chunk;
      ExpectClose(got.frames, want.frames, enc->d_model(), 1e-5, "int8 chunked vs one-shot");
    }
  }
}

TEST(EncoderStreamingTest, Bf16KeyValueCacheStaysClose) {
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.kv_cache = nn::KvType::kBF16});
  auto f32 = MakeEncoder();
  auto out = enc->EncodeOffline(g.features.data(), g.num_feature_frames, {.record_choices = true});
  ASSERT_TRUE(out.ok());
  ExpectClose(out->frames, g.out, enc->d_model(), 1e-2, "bf16 kv encoder_out");
  // Same stream fed in chunks, streamed: rings wrap in bf16 storage too.
  std::mt19937 rng(3);
  auto chunked = RunChunked(*enc, g.features, g.num_feature_frames, 80, rng, {.record_choices = true}, 5);
  ExpectClose(chunked.frames, out->frames, enc->d_model(), 1e-5, "bf16 kv chunked vs one-shot");
  // Half the cache bytes of an f32 stream after the same audio.
  auto a = *enc->CreateStream({});
  auto b = *f32->CreateStream({});
  a->AcceptFeatures(g.features.data(), 100);
  b->AcceptFeatures(g.features.data(), 100);
  EncoderStream* pa = a.get();
  EncoderStream* pb = b.get();
  ASSERT_TRUE(enc->Advance({&pa, 1}).ok());
  ASSERT_TRUE(f32->Advance({&pb, 1}).ok());
  EXPECT_LT(a->MemoryBytes(), b->MemoryBytes());
}

TEST(EncoderStreamingTest, BacklogMemoryIsGivenBack) {
  // A stream handed seconds of audio at once grows its rings for the big round, then shrinks
  // back to the size of a stream that got the same audio in 40 ms chunks.
  const Golden& g = GetGolden();
  auto enc = MakeEncoder({.round_rows = 1024});
  auto burst = *enc->CreateStream({});
  auto paced = *enc->CreateStream({});
  EncoderStream* b = burst.get();
  EncoderStream* p = paced.get();
  b->AcceptFeatures(g.features.data(), g.num_feature_frames);
  ASSERT_TRUE(enc->Advance({&b, 1}).ok());
  for (int pos = 0; pos + 4 <= g.num_feature_frames; pos += 4) {
    p->AcceptFeatures(g.features.data() + pos * 80, 4);
    ASSERT_TRUE(enc->Advance({&p, 1}).ok());
  }
  b->PopOutputFrames(b->NumOutputFrames());
  p->PopOutputFrames(p->NumOutputFrames());
  ASSERT_TRUE(enc->Advance({&b, 1}).ok());
  EXPECT_LE(b->MemoryBytes(), p->MemoryBytes() * 3 / 2) << p->MemoryBytes();
  // And it still computes the same frames afterwards.
  b->InputFinished();
  p->AcceptFeatures(g.features.data() + (g.num_feature_frames / 4) * 4 * 80, g.num_feature_frames % 4);
  p->InputFinished();
  ASSERT_TRUE(enc->Advance({&b, 1}).ok());
  ASSERT_TRUE(enc->Advance({&p, 1}).ok());
  ASSERT_EQ(b->NumOutputFrames(), p->NumOutputFrames());
  for (int i = 0; i < b->NumOutputFrames(); ++i) {
    auto x = b->OutputFrame(i), y = p->OutputFrame(i);
    for (size_t k = 0; k < x.size(); ++k) ASSERT_NEAR(x[k], y[k], 1e-4 * (1 + std::fabs(y[k])));
  }
}

TEST(EncoderStreamingTest, IdleStreamIsSmall) {
  auto enc = MakeEncoder();
  auto s = *enc->CreateStream({});
  EXPECT_LT(s->MemoryBytes(), 16u * 1024);
}

// An idle stream of the shipped model holds what its next frames need and little more, however
// its audio arrived (40 ms chunks, 500 ms chunks, or seconds at once): per layer, a KV ring of
// left_context + max lookahead + 1 frames (key and value, d values each, and P) with the 4
// frames of slack ShrinkRings allows; slots (residual and query, 2d floats, and three small
// fields) only in layers that still have frames waiting for their lookahead, at most one ring
// of max lookahead + 1 (+ slack) slots per such layer (a layer whose frames were all handed on
// parks its ring in the encoder's workspace); the subsampling's fbank rows (its Trim keeps
// capacity below 4x its <= 10 live rows + 32); an output buffer of at most 8 rows; and the
// structs. Of this, the left_context frames of keys and values per layer are needed by any
// exact executor: in f32, 12 x 32 x 2 KiB = 768 KiB on the default size, of the ~0.93 MB the
// stream holds; EncoderConfig::kv_cache = bf16 halves them.
TEST(EncoderMemoryTest, IdleStreamOfShippedModelStaysNearItsSteadyState) {
  const std::string dir = std::string(ANCAT_SOURCE_DIR) + "/models/ancat-en";
  if (!std::filesystem::exists(dir + "/golden.safetensors")) GTEST_SKIP() << "no " << dir;
  auto model = Model::Load(dir, {.load_tokenizer = false});
  ASSERT_TRUE(model.ok()) << model.status();
  auto g = SafeTensors::Open(dir + "/golden.safetensors");
  ASSERT_TRUE(g.ok()) << g.status();
  const auto feats = *g->ReadFloat("features");
  const ModelConfig& c = (*model)->config();
  const int bins = c.frontend.num_mel_bins, d = c.encoder.d_model, L = c.encoder.num_layers;
  const int total_rows = std::min<int>(static_cast<int>(feats.size()) / bins, 300);  // 3 s
  ASSERT_GE(total_rows, 300);
  const size_t max_w = *std::max_element(c.encoder.lookahead_frames.begin(), c.encoder.lookahead_frames.end());
  const size_t slack = 2;  // kRingSlack
  const size_t kv_frames = c.encoder.left_context + max_w + 1 + slack;
  const size_t slot_row = 2 * d * sizeof(float) + 2 + sizeof(int32_t);
  const size_t rest = (4 * 10 + 32) * bins * sizeof(float) + 8 * (d + 1) * sizeof(float) + 16 * 1024;
  for (const nn::KvType kv : {nn::KvType::kF32, nn::KvType::kBF16}) {
    auto enc = Encoder::Create(*model, {.num_threads = 1, .kv_cache = kv});
    ASSERT_TRUE(enc.ok()) << enc.status();
    const size_t elem = kv == nn::KvType::kF32 ? sizeof(float) : 2;
    const size_t kv_row = 2 * d * elem + sizeof(int32_t);
    const size_t kv_bound = L * kv_frames * kv_row;
    for (const int audio_rows : {50, total_rows}) {
      for (const int chunk : {4, 50, total_rows}) {
        auto s = (*enc)->CreateStream({});
        ASSERT_TRUE(s.ok());
        EncoderStream* p = s->get();
        int64_t produced = 0;
        for (int pos = 0; pos < audio_rows; pos += chunk) {
          p->AcceptFeatures(feats.data() + static_cast<size_t>(pos) * bins, std::min(chunk, audio_rows - pos));
          ASSERT_TRUE((*enc)->Advance({&p, 1}).ok());
          produced += p->NumOutputFrames();
          p->PopOutputFrames(p->NumOutputFrames());
        }
        if (audio_rows == total_rows) EXPECT_GT(produced, 0);  // every layer has its rings
        const std::string what = absl::StrCat(kv == nn::KvType::kF32 ? "f32" : "bf16", ", ", audio_rows,
                                              " fbank rows in chunks of ", chunk);
        size_t bound = rest;
        for (const auto& m : p->MemoryByLayer()) {
          // The ring has room for what queries still read, and a few frames more at most.
          EXPECT_LE(m.kv_live, static_cast<int64_t>(c.encoder.left_context + max_w)) << what;
          EXPECT_GE(m.kv_capacity, m.kv_live) << what;
          EXPECT_LE(m.kv_capacity, static_cast<int64_t>(kv_frames)) << what;
          // After 0.5 s a ring is young: it grew by doubling, so it holds at most twice its
          // frames, not yet the steady left_context + max_w + 1.
          if (audio_rows == 50) EXPECT_LE(m.kv_capacity, 2 * m.kv_live) << what;
          // Slots only where frames wait: a layer with none holds none.
          EXPECT_LE(m.waiting, static_cast<int64_t>(max_w)) << what;
          if (m.waiting == 0) EXPECT_EQ(m.slot_capacity, 0) << what;
          EXPECT_LE(m.slot_capacity, static_cast<int64_t>(max_w + 1 + slack)) << what;
          bound += m.kv_capacity * kv_row + m.slot_capacity * slot_row;
        }
        EXPECT_LE(p->MemoryBytes(), bound) << what;
        EXPECT_LE(p->MemoryBytes(), kv_bound + rest + L * (max_w + 1 + slack) * slot_row) << what;
      }
    }
  }
}

// Every model folder in the repository that carries goldens (the tiny test model, its twin with
// the online mean normalization, and the shipped models under models/ once the recipe exports
// them): choices, latency and encoder outputs at beta = 0 and at the golden beta, from the C++
// executor streaming in 40 ms chunks.
std::vector<std::string> ModelsWithGoldens() {
  namespace fs = std::filesystem;
  std::vector<std::string> dirs = {kDir, kDir + "-online-mean"};
  const fs::path models = fs::path(ANCAT_SOURCE_DIR) / "models";
  if (fs::is_directory(models)) {
    for (const auto& e : fs::directory_iterator(models)) {
      if (fs::exists(e.path() / "model.json") && fs::exists(e.path() / "golden.safetensors")) {
        dirs.push_back(e.path().string());
      }
    }
  }
  return dirs;
}

class ModelParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParityTest, StreamingMatchesGoldens) {
  const std::string dir = GetParam();
  auto model = Model::Load(dir, {.load_tokenizer = false});
  ASSERT_TRUE(model.ok()) << model.status();
  auto enc = Encoder::Create(*model, {});
  ASSERT_TRUE(enc.ok());
  auto g = SafeTensors::Open(dir + "/golden.safetensors");
  ASSERT_TRUE(g.ok()) << g.status();
  const auto feats = *g->ReadFloat("features");
  const int bins = (*model)->config().frontend.num_mel_bins;
  const int t = static_cast<int>(feats.size()) / bins;
  const float beta = std::stof(g->metadata().at("beta"));
  for (const std::string suffix : {"", "_beta"}) {
    const std::string out_name = "encoder_out" + suffix, choices_name = "arbiter_choices" + suffix;
    std::mt19937 rng(1);
    auto got = RunChunked(**enc, feats, t, bins, rng, {.beta = suffix.empty() ? 0.0f : beta, .record_choices = true}, 4);
    EXPECT_EQ(Flatten(got.choices), *g->ReadInt32(choices_name)) << dir << suffix;
    const std::string latency_name = "latency_frames" + suffix;
    if (g->Has(latency_name)) {
      EXPECT_EQ(std::vector<int32_t>(got.latency.begin(), got.latency.end()), *g->ReadInt32(latency_name)) << dir;
    }
    ExpectClose(got.frames, *g->ReadFloat(out_name), (*enc)->d_model(), 1e-3, dir + " " + out_name);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelParityTest, ::testing::ValuesIn(ModelsWithGoldens()),
                         [](const auto& info) {
                           std::string name = std::filesystem::path(info.param).filename().string();
                           for (char& c : name)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(EncoderConfigTest, ValidateNamesTheField) {
  EXPECT_NE(EncoderConfig{.num_threads = 0}.Validate().message().find("num_threads"), std::string::npos);
  EXPECT_NE(EncoderStreamOptions{.beta = -1}.Validate().message().find("beta"), std::string::npos);
  EXPECT_FALSE(MakeEncoder()->CreateStream({.max_lookahead_frames = -2}).ok());
}

}  // namespace
}  // namespace ancat::asr
