#include "asr/decoder/transducer_head.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "asr/nn/internal/simd.h"

namespace ancat::asr {
namespace {

// Bounds the context cache (J floats per entry); a full cache starts over.
constexpr size_t kMaxCachedContexts = 1 << 15;

// out = tanh(a + b). tanh(x) = 1 - 2 / (exp(2x) + 1), with asr/nn's branch-free exp so the
// loop vectorizes (libm's tanhf does not); |x| > 9 is +-1 in float anyway.
ANCAT_MULTIVERSION void AddTanh(const float* a, const float* b, float* out, int n) {
  for (int i = 0; i < n; ++i) {
    float x = a[i] + b[i];
    x = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
    out[i] = 1.0f - 2.0f / (nn::internal::Exp(2.0f * x) + 1.0f);
  }
}

// In-place log-softmax of one joiner row, vectorized the same way.
ANCAT_MULTIVERSION void LogSoftmaxRow(float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) acc[k] += nn::internal::Exp(x[i + k] - m);
  }
  float s = 0;
  for (; i < n; ++i) s += nn::internal::Exp(x[i] - m);
  for (int k = 0; k < 16; ++k) s += acc[k];
  const float lse = m + std::log(s);
  for (int j = 0; j < n; ++j) x[j] -= lse;
}

nn::Linear MakeLinear(const Model& model, const std::string& name, nn::ComputeType type) {
  const FloatTensor& w = model.Weight(name + ".weight");
  const FloatTensor& b = model.Weight(name + ".bias");
  return nn::Linear(w.data.data(), b.data.data(), static_cast<int>(w.shape[0]),
                    static_cast<int>(w.shape[1]), type);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TransducerHead>> TransducerHead::Create(const Model& model,
                                                                       nn::ComputeType type) {
  const ModelConfig& c = model.config();
  if (c.predictor.type != "stateless") {
    return absl::UnimplementedError(
        absl::StrCat("predictor.type '", c.predictor.type, "': only 'stateless' is supported"));
  }
  if (c.predictor.context_size < 1 || c.predictor.context_size > 4) {
    return absl::InvalidArgumentError(absl::StrCat("predictor.context_size ",
                                                   c.predictor.context_size, " not in [1, 4]"));
  }
  if (c.vocab.size > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("vocab.size ", c.vocab.size, " > 65535"));
  }
  auto head = std::unique_ptr<TransducerHead>(new TransducerHead());
  head->vocab_ = c.vocab.size;
  head->blank_ = c.vocab.blank_id;
  head->context_ = c.predictor.context_size;
  head->embed_dim_ = c.predictor.embed_dim;
  head->embed_ = model.Weight("predictor.embed.weight").data;
  head->proj_ = MakeLinear(model, "predictor.proj", type);
  head->joiner_enc_ = MakeLinear(model, "joiner.enc", type);
  head->joiner_pred_ = MakeLinear(model, "joiner.pred", type);
  head->joiner_out_ = MakeLinear(model, "joiner.out", type);
  if (head->embed_.size() != static_cast<size_t>(head->vocab_) * head->embed_dim_ ||
      head->proj_.in_dim() != head->context_ * head->embed_dim_ ||
      head->joiner_pred_.in_dim() != head->proj_.out_dim() ||
      head->joiner_out_.out_dim() != head->vocab_ ||
      head->joiner_out_.in_dim() != head->joiner_enc_.out_dim() ||
      head->joiner_pred_.out_dim() != head->joiner_enc_.out_dim()) {
    return absl::InvalidArgumentError("predictor/joiner tensor shapes do not fit together");
  }
  return head;
}

uint64_t TransducerHead::Key(const int32_t* context) const {
  uint64_t key = 0;
  for (int k = 0; k < context_; ++k) key = (key << 16) | static_cast<uint16_t>(context[k]);
  return key;
}

void TransducerHead::ProjectFrames(const float* encoder_out, int n, float* out) const {
  if (n > 0) joiner_enc_.Forward(encoder_out, n, out);
}

void TransducerHead::PredictorOut(const std::vector<const int32_t*>& contexts, float* out) const {
  const int n = static_cast<int>(contexts.size());
  std::vector<float> x(static_cast<size_t>(n) * context_ * embed_dim_);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < context_; ++k) {
      const float* e = embed_.data() + static_cast<size_t>(contexts[i][k]) * embed_dim_;
      std::copy(e, e + embed_dim_, x.data() + (static_cast<size_t>(i) * context_ + k) * embed_dim_);
    }
  }
  std::vector<float> p(static_cast<size_t>(n) * proj_.out_dim());
  proj_.Forward(x.data(), n, p.data(), nn::Epilogue::kRelu);
  joiner_pred_.Forward(p.data(), n, out);
}

void TransducerHead::Score(absl::Span<const JoinQuery> queries, float* logprobs) const {
  const int n = static_cast<int>(queries.size());
  if (n == 0) return;
  const int j = frame_dim();
  std::vector<float> hidden(static_cast<size_t>(n) * j);
  std::vector<int> missing;
  {
    std::shared_lock lock(mu_);
    for (int i = 0; i < n; ++i) {
      auto it = cache_.find(Key(queries[i].context));
      if (it == cache_.end()) {
        missing.push_back(i);
      } else {
        std::copy(it->second.begin(), it->second.end(), hidden.data() + static_cast<size_t>(i) * j);
      }
    }
  }
  if (!missing.empty()) {
    // One predictor run for the distinct new contexts of this call.
    absl::flat_hash_map<uint64_t, int> row_of;
    std::vector<const int32_t*> contexts;
    for (int i : missing) {
      if (row_of.try_emplace(Key(queries[i].context), static_cast<int>(contexts.size())).second) {
        contexts.push_back(queries[i].context);
      }
    }
    std::vector<float> pred(contexts.size() * j);
    PredictorOut(contexts, pred.data());
    for (int i : missing) {
      const float* row = pred.data() + static_cast<size_t>(row_of[Key(queries[i].context)]) * j;
      std::copy(row, row + j, hidden.data() + static_cast<size_t>(i) * j);
    }
    std::unique_lock lock(mu_);
    if (cache_.size() + contexts.size() > kMaxCachedContexts) cache_.clear();
    for (size_t r = 0; r < contexts.size(); ++r) {
      cache_.try_emplace(Key(contexts[r]), pred.begin() + r * j, pred.begin() + (r + 1) * j);
    }
  }
  for (int i = 0; i < n; ++i) {
    float* h = hidden.data() + static_cast<size_t>(i) * j;
    AddTanh(h, queries[i].frame, h, j);
  }
  joiner_out_.Forward(hidden.data(), n, logprobs);
  for (int i = 0; i < n; ++i) LogSoftmaxRow(logprobs + static_cast<size_t>(i) * vocab_, vocab_);
}

size_t TransducerHead::cached_contexts() const {
  std::shared_lock lock(mu_);
  return cache_.size();
}

}  // namespace ancat::asr
