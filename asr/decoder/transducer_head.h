// The model's stateless predictor and joiner (models/FORMAT.md) as a TransducerScorer:
//   p      = relu(predictor.proj(concat(embed[y_{u-2}], embed[y_{u-1}])))
//   logits = joiner.out(tanh(joiner.enc(e_t) + joiner.pred(p)))     then log-softmax.
// joiner.pred(p) depends on the context only, so it is computed once per context and cached
// (shared by all streams); joiner.enc(e_t) once per frame (ProjectFrames). Each Score call
// is then one [n, J] x [J, V] matmul over all queries.
#ifndef ANCAT_ASR_DECODER_TRANSDUCER_HEAD_H_
#define ANCAT_ASR_DECODER_TRANSDUCER_HEAD_H_

#include <memory>
#include <shared_mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "asr/decoder/scorer.h"
#include "asr/model/model.h"
#include "asr/nn/linear.h"

namespace ancat::asr {

class TransducerHead : public TransducerScorer {
 public:
  static absl::StatusOr<std::unique_ptr<TransducerHead>> Create(
      const Model& model, nn::ComputeType type = nn::ComputeType::kF32);

  int vocab_size() const override { return vocab_; }
  int blank_id() const override { return blank_; }
  int context_size() const override { return context_; }
  int encoder_dim() const override { return joiner_enc_.in_dim(); }
  int frame_dim() const override { return joiner_enc_.out_dim(); }
  void ProjectFrames(const float* encoder_out, int n, float* out) const override;
  void Score(absl::Span<const JoinQuery> queries, float* logprobs) const override;

  size_t cached_contexts() const;

 private:
  TransducerHead() = default;
  uint64_t Key(const int32_t* context) const;
  // joiner.pred(predictor(context)) for each context, rows [n, J].
  void PredictorOut(const std::vector<const int32_t*>& contexts, float* out) const;

  int vocab_ = 0, blank_ = 0, context_ = 0, embed_dim_ = 0;
  std::vector<float> embed_;  // [V, E]
  nn::Linear proj_, joiner_enc_, joiner_pred_, joiner_out_;
  mutable std::shared_mutex mu_;
  mutable absl::flat_hash_map<uint64_t, std::vector<float>> cache_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_TRANSDUCER_HEAD_H_
