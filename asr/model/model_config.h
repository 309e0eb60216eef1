// model.json of a model folder (models/FORMAT.md), as plain structs.
#ifndef ANCAT_ASR_MODEL_MODEL_CONFIG_H_
#define ANCAT_ASR_MODEL_MODEL_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asr/frontend/fbank.h"

namespace ancat::asr {

struct SubsamplingOptions {
  std::string type = "causal-conv2d";
  int channels = 64;
  int factor = 4;
  // > 0: after the global CMVN, each stream's running feature mean is subtracted, with a prior
  // of this many zero frames (a causal per-utterance normalization; 0 = off).
  int online_mean_frames = 0;
};

struct EncoderOptions {
  int num_layers = 12;
  int d_model = 256;
  int num_heads = 4;
  int ffn_dim = 1024;
  int left_context = 32;
  std::vector<int> lookahead_frames = {0, 1, 2, 4};  // the lookahead set W, ascending
  float rope_base = 10000.0f;
  float norm_eps = 1e-5f;
  int head_dim() const { return d_model / num_heads; }
  int max_lookahead() const { return lookahead_frames.empty() ? 0 : lookahead_frames.back(); }
};

struct PredictorOptions {
  std::string type = "stateless";
  int context_size = 2;
  int embed_dim = 256;
  int dim = 256;
};

struct VocabOptions {
  int size = 500;
  int blank_id = 0;
  int unk_id = 1;
  std::string tokenizer = "bpe.model";
};

struct LmOptions {
  std::string file = "lm.arpa";
  float weight = 0.2f;
  float word_bonus = 0.5f;
};

struct ModelConfig {
  int format_version = 1;
  std::string name, version, architecture = "ancat-transducer";
  FbankConfig frontend;  // the frontend block, read by the frontend's own parser
  SubsamplingOptions subsampling;
  EncoderOptions encoder;
  PredictorOptions predictor;
  int joiner_dim = 256;
  VocabOptions vocab;
  std::optional<LmOptions> lm;  // null in model.json: no LM
  int max_symbols_per_frame = 3;
  // Subtracted from blank's log-probability at every beam-search step: a model trained mostly
  // on synthetic speech drops words on real speech, and this trades those deletions for
  // insertions. Tuned on dev with the LM by the recipe; 0 = the model's own posteriors.
  float blank_penalty = 0.0f;
  std::string weights_file = "weights.safetensors";
  std::string weights_dtype = "bf16";
  int frame_ms = 40;

  // Frequency bins after the two stride-2 3x3 convolutions (80 -> 39 -> 19).
  int subsampled_bins() const { return ((frontend.num_mel_bins - 3) / 2 + 1 - 3) / 2 + 1; }

  static absl::StatusOr<ModelConfig> FromJson(const std::string& text);
  static absl::StatusOr<ModelConfig> FromFile(const std::string& path);
  absl::Status Validate() const;  // names the bad field
  std::string ToString() const;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_MODEL_MODEL_CONFIG_H_
