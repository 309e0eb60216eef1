#include "asr/model/model.h"

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "asr/model/safetensors.h"
#include "spdlog/spdlog.h"

namespace ancat::asr {

std::map<std::string, std::vector<int64_t>> Model::ExpectedShapes(const ModelConfig& c) {
  const int64_t d = c.encoder.d_model, ch = c.subsampling.channels, f = c.encoder.ffn_dim;
  const int64_t k = static_cast<int64_t>(c.encoder.lookahead_frames.size());
  const int64_t v = c.vocab.size, e = c.predictor.embed_dim, p = c.predictor.dim, j = c.joiner_dim;
  const int64_t bins = c.frontend.num_mel_bins;
  std::map<std::string, std::vector<int64_t>> s = {
      {"frontend.cmvn_mean", {bins}},
      {"frontend.cmvn_istd", {bins}},
      {"subsample.conv1.weight", {ch, 1, 3, 3}},
      {"subsample.conv1.bias", {ch}},
      {"subsample.conv2.weight", {ch, ch, 3, 3}},
      {"subsample.conv2.bias", {ch}},
      {"subsample.out.weight", {d, ch * c.subsampled_bins()}},
      {"subsample.out.bias", {d}},
      {"encoder.final_norm.weight", {d}},
      {"encoder.final_norm.bias", {d}},
      {"predictor.embed.weight", {v, e}},
      {"predictor.proj.weight", {p, 2 * e}},
      {"predictor.proj.bias", {p}},
      {"joiner.enc.weight", {j, d}},
      {"joiner.enc.bias", {j}},
      {"joiner.pred.weight", {j, p}},
      {"joiner.pred.bias", {j}},
      {"joiner.out.weight", {v, j}},
      {"joiner.out.bias", {v}},
  };
  for (int l = 0; l < c.encoder.num_layers; ++l) {
    std::string pre = absl::StrCat("encoder.layers.", l, ".");
    s[pre + "norm1.weight"] = {d};
    s[pre + "norm1.bias"] = {d};
    s[pre + "arbiter.weight"] = {k, d};
    s[pre + "arbiter.bias"] = {k};
    s[pre + "attn.qkv.weight"] = {3 * d, d};
    s[pre + "attn.qkv.bias"] = {3 * d};
    s[pre + "attn.out.weight"] = {d, d};
    s[pre + "attn.out.bias"] = {d};
    s[pre + "norm2.weight"] = {d};
    s[pre + "norm2.bias"] = {d};
    s[pre + "ffn.w1.weight"] = {f, d};
    s[pre + "ffn.w1.bias"] = {f};
    s[pre + "ffn.w2.weight"] = {d, f};
    s[pre + "ffn.w2.bias"] = {d};
  }
  return s;
}

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(const std::string& dir, const ModelLoadOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) return absl::NotFoundError(absl::StrCat("model folder ", dir, " does not exist"));
  std::shared_ptr<Model> m(new Model());
  m->dir_ = dir;
  auto config = ModelConfig::FromFile((fs::path(dir) / "model.json").string());
  if (!config.ok()) return config.status();
  m->config_ = *std::move(config);

  auto st = SafeTensors::Open((fs::path(dir) / m->config_.weights_file).string());
  if (!st.ok()) return st.status();
  for (const auto& [name, shape] : ExpectedShapes(m->config_)) {
    auto data = st->ReadFloat(name, &shape);
    if (!data.ok()) return data.status();
    m->weights_[name] = FloatTensor{shape, *std::move(data)};
  }
  for (const auto& [name, info] : st->tensors()) {
    if (m->weights_.count(name) == 0) spdlog::warn("{}: ignoring unknown tensor '{}'", st->path(), name);
  }
  for (float x : m->weights_.at("frontend.cmvn_istd").data) {
    if (!(x > 0) || !std::isfinite(x)) return absl::InvalidArgumentError(absl::StrCat(st->path(), ": frontend.cmvn_istd has a non-positive or non-finite value"));
  }

  if (options.load_tokenizer) {
    auto tok = Tokenizer::Load((fs::path(dir) / m->config_.vocab.tokenizer).string());
    if (!tok.ok()) return tok.status();
    if ((*tok)->VocabSize() != m->config_.vocab.size) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": tokenizer ", m->config_.vocab.tokenizer, " has ",
                                                     (*tok)->VocabSize(), " pieces, model.json vocab.size is ",
                                                     m->config_.vocab.size));
    }
    m->tokenizer_ = *std::move(tok);
  }
  return std::shared_ptr<const Model>(std::move(m));
}

std::string Model::lm_path() const {
  if (!config_.lm) return "";
  return (std::filesystem::path(dir_) / config_.lm->file).string();
}

const FloatTensor& Model::Weight(const std::string& name) const {
  static const FloatTensor kEmpty;
  auto it = weights_.find(name);
  return it == weights_.end() ? kEmpty : it->second;
}

}  // namespace ancat::asr
