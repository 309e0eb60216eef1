// A loaded model folder (models/FORMAT.md): config, every weight as f32, tokenizer.
// Loaded once and shared (read-only) by all streams.
#ifndef ANCAT_ASR_MODEL_MODEL_H_
#define ANCAT_ASR_MODEL_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "asr/model/model_config.h"
#include "asr/model/tokenizer.h"

namespace ancat::asr {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major
};

struct ModelLoadOptions {
  bool load_tokenizer = true;  // tests of the encoder alone may skip it
};

class Model {
 public:
  // Reads DIR/model.json, the weights file and the tokenizer it names. Every tensor FORMAT.md
  // lists must be present with the shape the config implies (errors name the file and tensor).
  static absl::StatusOr<std::shared_ptr<const Model>> Load(const std::string& dir,
                                                           const ModelLoadOptions& options = {});

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  // Null when loaded with load_tokenizer = false.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // Path of the n-gram LM file, empty when model.json has "lm": null.
  std::string lm_path() const;

  // A FORMAT.md tensor (always present after Load), e.g. "encoder.layers.3.attn.qkv.weight".
  // Returns an empty tensor for a name FORMAT.md does not list.
  const FloatTensor& Weight(const std::string& name) const;
  bool HasWeight(const std::string& name) const { return weights_.count(name) > 0; }

  // The tensor names and shapes FORMAT.md requires for a config.
  static std::map<std::string, std::vector<int64_t>> ExpectedShapes(const ModelConfig& config);

 private:
  Model() = default;
  std::string dir_;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::map<std::string, FloatTensor> weights_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_MODEL_MODEL_H_
