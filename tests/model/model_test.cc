#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "asr/model/model.h"
#include "asr/model/safetensors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {
namespace {

namespace fs = std::filesystem;

std::string TinyModelDir() {
  return std::string(ANCAT_SOURCE_DIR) + "/tests/data/tiny-model";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A scratch copy of the tiny model that a test may damage.
class ScratchModel {
 public:
  ScratchModel() {
    dir_ = fs::temp_directory_path() / ("ancat_model_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (auto& e : fs::directory_iterator(TinyModelDir())) fs::copy(e.path(), dir_ / e.path().filename());
  }
  ~ScratchModel() { fs::remove_all(dir_); }
  std::string dir() const { return dir_.string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

// Builds a safetensors file from (name, dtype, shape, bytes).
std::string MakeSafeTensors(const std::vector<std::tuple<std::string, std::string, std::vector<int64_t>, std::string>>& ts,
                            const std::map<std::string, std::string>& meta = {}) {
  nlohmann::json h;
  std::string data;
  for (auto& [name, dtype, shape, bytes] : ts) {
    h[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  if (!meta.empty()) h["__metadata__"] = meta;
  std::string header = h.dump();
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

TEST(SafeTensorsTest, ReadsF32Bf16AndI32) {
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f};
  std::vector<uint16_t> b;
  for (float x : f) b.push_back(FloatToBf16(x));
  std::vector<int32_t> i = {7, -3};
  auto st = SafeTensors::FromBuffer(MakeSafeTensors({{"a", "F32", {2, 2}, Bytes(f)},
                                                     {"b", "BF16", {4}, Bytes(b)},
                                                     {"c", "I32", {2}, Bytes(i)}},
                                                    {{"beta", "1.0"}}),
                                    "mem");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->metadata().at("beta"), "1.0");
  auto a = st->ReadFloat("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, f);
  auto bb = st->ReadFloat("b");
  ASSERT_TRUE(bb.ok());
  EXPECT_EQ(*bb, f);  // all exactly representable in bf16
  auto c = st->ReadInt32("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, i);
  std::vector<int64_t> wrong = {4};
  auto bad = st->ReadFloat("a", &wrong);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'a' has shape [2, 2], expected [4]"), std::string::npos) << bad.status();
  EXPECT_FALSE(st->ReadFloat("c").ok());  // I32 is not a float tensor
  EXPECT_EQ(st->ReadFloat("zzz").status().code(), absl::StatusCode::kNotFound);
}

TEST(SafeTensorsTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 lies exactly between two bf16 values: ties to even (1.0).
  EXPECT_EQ(FloatToBf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(FloatToBf16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_FLOAT_EQ(Bf16ToFloat(0x4049), 3.140625f);
}

TEST(SafeTensorsTest, RejectsTruncatedAndCorruptFiles) {
  std::vector<float> f(16, 1.0f);
  std::string good = MakeSafeTensors({{"w", "F32", {4, 4}, Bytes(f)}});
  EXPECT_TRUE(SafeTensors::FromBuffer(good, "good").ok());
  for (size_t cut : {size_t{0}, size_t{5}, size_t{20}, good.size() - 1}) {
    auto st = SafeTensors::FromBuffer(good.substr(0, cut), "cut");
    ASSERT_FALSE(st.ok()) << cut;
    EXPECT_EQ(st.status().code(), absl::StatusCode::kDataLoss) << st.status();
    EXPECT_NE(st.status().message().find("truncated"), std::string::npos) << st.status();
  }
  std::string bad_json = good;
  bad_json[9] = '#';
  EXPECT_EQ(SafeTensors::FromBuffer(bad_json, "bad").status().code(), absl::StatusCode::kDataLoss);
  // Offsets that disagree with dtype x shape.
  auto mismatch = SafeTensors::FromBuffer(MakeSafeTensors({{"w", "F32", {4, 5}, Bytes(f)}}), "mm");
  EXPECT_FALSE(mismatch.ok());
  EXPECT_EQ(SafeTensors::Open("/nonexistent/x.safetensors").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelConfigTest, ParsesTinyModel) {
  auto c = ModelConfig::FromFile(TinyModelDir() + "/model.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encoder.num_layers, 2);
  EXPECT_EQ(c->encoder.d_model, 64);
  EXPECT_EQ(c->encoder.lookahead_frames, (std::vector<int>{0, 1, 2, 4}));
  EXPECT_FALSE(c->lm.has_value());
  EXPECT_EQ(c->subsampled_bins(), 19);
  EXPECT_EQ(c->subsampling.online_mean_frames, 0) << "absent: off";
  EXPECT_EQ(c->blank_penalty, 0.0f) << "absent: none";
  EXPECT_NE(c->ToString().find("num_layers=2"), std::string::npos);
  auto j = nlohmann::json::parse(ReadAll(TinyModelDir() + "/model.json"));
  j["decoding"]["blank_penalty"] = 0.75;
  auto bp = ModelConfig::FromJson(j.dump());
  ASSERT_TRUE(bp.ok()) << bp.status();
  EXPECT_FLOAT_EQ(bp->blank_penalty, 0.75f);
  EXPECT_NE(bp->ToString().find("blank_penalty=0.75"), std::string::npos);
  auto om = ModelConfig::FromFile(TinyModelDir() + "-online-mean/model.json");
  ASSERT_TRUE(om.ok()) << om.status();
  EXPECT_EQ(om->subsampling.online_mean_frames, 25);
}

TEST(ModelConfigTest, ValidateNamesTheBadField) {
  std::string text = ReadAll(TinyModelDir() + "/model.json");
  auto j = nlohmann::json::parse(text);
  auto expect_bad = [&](nlohmann::json m, const std::string& field) {
    auto c = ModelConfig::FromJson(m.dump());
    ASSERT_FALSE(c.ok()) << field;
    EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status();
  };
  auto m = j;
  m["format_version"] = 2;
  expect_bad(m, "format_version");
  m = j;
  m["encoder"]["num_heads"] = 3;
  expect_bad(m, "encoder.num_heads");
  m = j;
  m["encoder"]["lookahead_frames"] = {0, 4, 2};
  expect_bad(m, "encoder.lookahead_frames");
  m = j;
  m["encoder"].erase("d_model");
  expect_bad(m, "encoder.d_model");
  m = j;
  m["vocab"]["size"] = "many";
  expect_bad(m, "vocab.size");
  m = j;
  m["weights"]["dtype"] = "int4";
  expect_bad(m, "weights.dtype");
  m = j;
  m["subsampling"]["online_mean_frames"] = -1;
  expect_bad(m, "subsampling.online_mean_frames");
  m = j;
  m["subsampling"]["online_mean_frames"] = "yes";
  expect_bad(m, "subsampling.online_mean_frames");
  for (const nlohmann::json& v : {nlohmann::json(-0.5), nlohmann::json(25.0), nlohmann::json("a")}) {
    m = j;
    m["decoding"]["blank_penalty"] = v;
    expect_bad(m, "decoding.blank_penalty");
  }
  EXPECT_FALSE(ModelConfig::FromJson("{not json").ok());
}

TEST(ModelTest, LoadsTinyModel) {
  auto m = Model::Load(TinyModelDir());
  ASSERT_TRUE(m.ok()) << m.status();
  const Model& model = **m;
  EXPECT_EQ(model.Weight("encoder.layers.1.attn.qkv.weight").shape, (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(model.Weight("encoder.layers.1.attn.qkv.weight").data.size(), 192u * 64);
  EXPECT_TRUE(model.Weight("no.such.tensor").data.empty());
  ASSERT_NE(model.tokenizer(), nullptr);
  EXPECT_EQ(model.tokenizer()->VocabSize(), 64);
  EXPECT_EQ(model.lm_path(), "");
  // Pieces round-trip through ids.
  for (int id = 2; id < 64; ++id) EXPECT_EQ(model.tokenizer()->PieceToId(model.tokenizer()->IdToPiece(id)), id);
}

TEST(ModelTest, TokenizerDecodesGoldenTranscript) {
  auto m = Model::Load(TinyModelDir());
  ASSERT_TRUE(m.ok()) << m.status();
  auto golden = SafeTensors::Open(TinyModelDir() + "/golden.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.status();
  auto tokens = golden->ReadInt32("greedy_tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*m)->tokenizer()->Decode(*tokens), golden->metadata().at("text"));
}

TEST(ModelTest, ClearErrorsForBrokenFolders) {
  EXPECT_EQ(Model::Load("/nonexistent-model").status().code(), absl::StatusCode::kNotFound);
  {
    ScratchModel s;
    fs::remove(s.file("model.json"));
    auto m = Model::Load(s.dir());
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("model.json"), std::string::npos) << m.status();
  }
  {
    ScratchModel s;
    std::string w = ReadAll(s.file("weights.safetensors"));
    WriteAll(s.file("weights.safetensors"), w.substr(0, w.size() / 2));
    auto m = Model::Load(s.dir());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << m.status();
    EXPECT_NE(m.status().message().find("truncated"), std::string::npos) << m.status();
  }
  {
    ScratchModel s;  // the config promises a bigger model than the weights hold
    auto j = nlohmann::json::parse(ReadAll(s.file("model.json")));
    j["encoder"]["ffn_dim"] = 256;
    WriteAll(s.file("model.json"), j.dump());
    auto m = Model::Load(s.dir());
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("ffn.w1.bias' has shape [128], expected [256]"), std::string::npos)
        << m.status();
  }
  {
    ScratchModel s;  // one more layer than exported: a missing tensor
    auto j = nlohmann::json::parse(ReadAll(s.file("model.json")));
    j["encoder"]["num_layers"] = 3;
    WriteAll(s.file("model.json"), j.dump());
    auto m = Model::Load(s.dir());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound) << m.status();
    EXPECT_NE(m.status().message().find("missing tensor 'encoder.layers.2."), std::string::npos) << m.status();
  }
  {
    ScratchModel s;
    fs::remove(s.file("bpe.model"));
    auto m = Model::Load(s.dir());
    EXPECT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("bpe.model"), std::string::npos) << m.status();
  }
  {
    ScratchModel s;  // vocabulary size disagreement
    auto j = nlohmann::json::parse(ReadAll(s.file("model.json")));
    j["vocab"]["size"] = 65;
    WriteAll(s.file("model.json"), j.dump());
    EXPECT_FALSE(Model::Load(s.dir()).ok());
  }
}

}  // namespace
}  // namespace ancat::asr
