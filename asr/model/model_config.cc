#include "asr/model/model_config.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {
namespace {

using nlohmann::json;

// Reads j[key] into *out when present; a wrong type is an error naming the field.
template <typename T>
absl::Status Get(const json& j, const char* section, const char* key, T* out, bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("model.json: missing field ", section, key));
    return absl::OkStatus();
  }
  try {
    *out = j[key].get<T>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: field ", section, key, " has the wrong type: ", e.what()));
  }
  return absl::OkStatus();
}

#define ANCAT_RETURN_IF_ERROR(expr)      \
  do {                                   \
    absl::Status _s = (expr);            \
    if (!_s.ok()) return _s;             \
  } while (0)

absl::Status Section(const json& root, const char* name, const json** out, bool required = true) {
  if (!root.contains(name) || root[name].is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("model.json: missing section ", name));
    *out = nullptr;
    return absl::OkStatus();
  }
  if (!root[name].is_object()) return absl::InvalidArgumentError(absl::StrCat("model.json: ", name, " is not an object"));
  *out = &root[name];
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfig::FromJson(const std::string& text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return absl::InvalidArgumentError("model.json: top level is not an object");
  ModelConfig c;
  ANCAT_RETURN_IF_ERROR(Get(root, "", "format_version", &c.format_version, true));
  ANCAT_RETURN_IF_ERROR(Get(root, "", "name", &c.name));
  ANCAT_RETURN_IF_ERROR(Get(root, "", "version", &c.version));
  ANCAT_RETURN_IF_ERROR(Get(root, "", "architecture", &c.architecture));
  ANCAT_RETURN_IF_ERROR(Get(root, "", "frame_ms", &c.frame_ms));

  const json* s = nullptr;
  ANCAT_RETURN_IF_ERROR(Section(root, "frontend", &s));
  {
    // One parser for the frontend options: the frontend's, which also refuses unknown keys.
    auto f = FbankConfig::FromJson(s->dump());
    if (!f.ok()) return absl::InvalidArgumentError(absl::StrCat("model.json: frontend: ", f.status().message()));
    c.frontend = *std::move(f);
  }
  ANCAT_RETURN_IF_ERROR(Section(root, "subsampling", &s));
  ANCAT_RETURN_IF_ERROR(Get(*s, "subsampling.", "type", &c.subsampling.type));
  ANCAT_RETURN_IF_ERROR(Get(*s, "subsampling.", "channels", &c.subsampling.channels, true));
  ANCAT_RETURN_IF_ERROR(Get(*s, "subsampling.", "factor", &c.subsampling.factor));
  ANCAT_RETURN_IF_ERROR(Get(*s, "subsampling.", "online_mean_frames", &c.subsampling.online_mean_frames));
  ANCAT_RETURN_IF_ERROR(Section(root, "encoder", &s));
  {
    auto& e = c.encoder;
    const char* p = "encoder.";
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "num_layers", &e.num_layers, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "d_model", &e.d_model, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "num_heads", &e.num_heads, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "ffn_dim", &e.ffn_dim, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "left_context", &e.left_context, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "lookahead_frames", &e.lookahead_frames, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "rope_base", &e.rope_base));
    ANCAT_RETURN_IF_ERROR(Get(*s, p, "norm_eps", &e.norm_eps));
  }
  ANCAT_RETURN_IF_ERROR(Section(root, "predictor", &s));
  ANCAT_RETURN_IF_ERROR(Get(*s, "predictor.", "type", &c.predictor.type));
  ANCAT_RETURN_IF_ERROR(Get(*s, "predictor.", "context_size", &c.predictor.context_size));
  ANCAT_RETURN_IF_ERROR(Get(*s, "predictor.", "embed_dim", &c.predictor.embed_dim, true));
  ANCAT_RETURN_IF_ERROR(Get(*s, "predictor.", "dim", &c.predictor.dim, true));
  ANCAT_RETURN_IF_ERROR(Section(root, "joiner", &s));
  ANCAT_RETURN_IF_ERROR(Get(*s, "joiner.", "dim", &c.joiner_dim, true));
  ANCAT_RETURN_IF_ERROR(Section(root, "vocab", &s));
  ANCAT_RETURN_IF_ERROR(Get(*s, "vocab.", "size", &c.vocab.size, true));
  ANCAT_RETURN_IF_ERROR(Get(*s, "vocab.", "blank_id", &c.vocab.blank_id));
  ANCAT_RETURN_IF_ERROR(Get(*s, "vocab.", "unk_id", &c.vocab.unk_id));
  ANCAT_RETURN_IF_ERROR(Get(*s, "vocab.", "tokenizer", &c.vocab.tokenizer));
  ANCAT_RETURN_IF_ERROR(Section(root, "lm", &s, /*required=*/false));
  if (s != nullptr) {
    LmOptions lm;
    ANCAT_RETURN_IF_ERROR(Get(*s, "lm.", "file", &lm.file, true));
    ANCAT_RETURN_IF_ERROR(Get(*s, "lm.", "weight", &lm.weight));
    ANCAT_RETURN_IF_ERROR(Get(*s, "lm.", "word_bonus", &lm.word_bonus));
    c.lm = lm;
  }
  ANCAT_RETURN_IF_ERROR(Section(root, "decoding", &s, /*required=*/false));
  if (s != nullptr) {
    ANCAT_RETURN_IF_ERROR(Get(*s, "decoding.", "max_symbols_per_frame", &c.max_symbols_per_frame));
    ANCAT_RETURN_IF_ERROR(Get(*s, "decoding.", "blank_penalty", &c.blank_penalty));
  }
  ANCAT_RETURN_IF_ERROR(Section(root, "weights", &s, /*required=*/false));
  if (s != nullptr) {
    ANCAT_RETURN_IF_ERROR(Get(*s, "weights.", "file", &c.weights_file));
    ANCAT_RETURN_IF_ERROR(Get(*s, "weights.", "dtype", &c.weights_dtype));
  }
  ANCAT_RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::StatusOr<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open model config ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = FromJson(ss.str());
  if (!c.ok()) return absl::Status(c.status().code(), absl::StrCat(path, ": ", c.status().message()));
  return c;
}

absl::Status ModelConfig::Validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: ", field, " ", why));
  };
  if (format_version != 1) return bad("format_version", absl::StrCat("is ", format_version, "; this runtime reads version 1"));
  if (architecture != "ancat-transducer") return bad("architecture", absl::StrCat("is '", architecture, "', expected 'ancat-transducer'"));
  if (auto s = frontend.Validate(); !s.ok()) return bad("frontend:", std::string(s.message()));
  if (frontend.num_mel_bins < 7) return bad("frontend.num_mel_bins", "must be >= 7 (two 3x3 stride-2 convolutions)");
  if (subsampling.type != "causal-conv2d") return bad("subsampling.type", absl::StrCat("is '", subsampling.type, "', expected 'causal-conv2d'"));
  if (subsampling.factor != 4) return bad("subsampling.factor", "must be 4");
  if (subsampling.channels <= 0) return bad("subsampling.channels", "must be > 0");
  if (subsampling.online_mean_frames < 0) return bad("subsampling.online_mean_frames", "must be >= 0 (0: off)");
  const auto& e = encoder;
  if (e.num_layers <= 0) return bad("encoder.num_layers", "must be > 0");
  if (e.d_model <= 0) return bad("encoder.d_model", "must be > 0");
  if (e.num_heads <= 0 || e.d_model % e.num_heads != 0) return bad("encoder.num_heads", "must divide encoder.d_model");
  if (e.head_dim() % 2 != 0) return bad("encoder.num_heads", "must leave an even head dim for RoPE");
  if (e.ffn_dim <= 0) return bad("encoder.ffn_dim", "must be > 0");
  if (e.left_context < 0) return bad("encoder.left_context", "must be >= 0");
  if (e.lookahead_frames.empty()) return bad("encoder.lookahead_frames", "must not be empty");
  for (size_t i = 0; i < e.lookahead_frames.size(); ++i) {
    if (e.lookahead_frames[i] < 0) return bad("encoder.lookahead_frames", "must be >= 0");
    if (i > 0 && e.lookahead_frames[i] <= e.lookahead_frames[i - 1]) return bad("encoder.lookahead_frames", "must be strictly ascending");
  }
  if (e.rope_base <= 0) return bad("encoder.rope_base", "must be > 0");
  if (e.norm_eps <= 0) return bad("encoder.norm_eps", "must be > 0");
  if (predictor.type != "stateless") return bad("predictor.type", absl::StrCat("is '", predictor.type, "', expected 'stateless'"));
  if (predictor.context_size != 2) return bad("predictor.context_size", "must be 2");
  if (predictor.embed_dim <= 0) return bad("predictor.embed_dim", "must be > 0");
  if (predictor.dim <= 0) return bad("predictor.dim", "must be > 0");
  if (joiner_dim <= 0) return bad("joiner.dim", "must be > 0");
  if (vocab.size <= 1) return bad("vocab.size", "must be > 1");
  if (vocab.blank_id != 0) return bad("vocab.blank_id", "must be 0");
  if (vocab.unk_id < 0 || vocab.unk_id >= vocab.size) return bad("vocab.unk_id", "out of range");
  if (vocab.tokenizer.empty()) return bad("vocab.tokenizer", "must name a file");
  if (lm && lm->file.empty()) return bad("lm.file", "must name a file");
  if (max_symbols_per_frame <= 0) return bad("decoding.max_symbols_per_frame", "must be > 0");
  if (!(blank_penalty >= 0 && blank_penalty <= 20)) return bad("decoding.blank_penalty", "must be in [0, 20]");
  if (weights_file.empty()) return bad("weights.file", "must name a file");
  if (weights_dtype != "bf16" && weights_dtype != "f32") return bad("weights.dtype", absl::StrCat("is '", weights_dtype, "', expected bf16 or f32"));
  if (frame_ms <= 0) return bad("frame_ms", "must be > 0");
  return absl::OkStatus();
}

std::string ModelConfig::ToString() const {
  return absl::StrCat(
      "ModelConfig(name=", name, ", version=", version, ", format_version=", format_version,
      ", sample_rate=", frontend.sample_rate, ", num_mel_bins=", frontend.num_mel_bins,
      ", channels=", subsampling.channels, ", online_mean_frames=", subsampling.online_mean_frames,
      ", num_layers=", encoder.num_layers, ", d_model=", encoder.d_model,
      ", num_heads=", encoder.num_heads, ", ffn_dim=", encoder.ffn_dim, ", left_context=", encoder.left_context,
      ", lookahead_frames=[", absl::StrJoin(encoder.lookahead_frames, ","), "], rope_base=", encoder.rope_base,
      ", embed_dim=", predictor.embed_dim, ", predictor_dim=", predictor.dim, ", joiner_dim=", joiner_dim,
      ", vocab_size=", vocab.size, ", tokenizer=", vocab.tokenizer, ", lm=", lm ? lm->file : "none", ", blank_penalty=", blank_penalty,
      ", weights=", weights_file, " (", weights_dtype, "), frame_ms=", frame_ms, ")");
}

}  // namespace ancat::asr
