// What a transducer search needs from the network: log-probabilities over the vocabulary
// for (encoder frame, predictor context) pairs. The real one is TransducerHead (predictor +
// joiner of the model); tests plug in synthetic ones whose best paths are known.
#ifndef ANCAT_ASR_DECODER_SCORER_H_
#define ANCAT_ASR_DECODER_SCORER_H_

#include <cstdint>

#include "absl/types/span.h"

namespace ancat::asr {

struct JoinQuery {
  const float* frame;       // one projected encoder frame (frame_dim() floats)
  const int32_t* context;   // context_size() token ids, oldest first; blank pads the start
};

class TransducerScorer {
 public:
  virtual ~TransducerScorer() = default;
  virtual int vocab_size() const = 0;
  virtual int blank_id() const = 0;
  virtual int context_size() const = 0;
  virtual int encoder_dim() const = 0;  // floats per encoder output frame
  virtual int frame_dim() const = 0;    // floats per projected frame

  // Projects encoder output rows [n, encoder_dim] to [n, frame_dim] (the joiner's encoder
  // side, done once per frame however many hypotheses look at it).
  virtual void ProjectFrames(const float* encoder_out, int n, float* out) const = 0;
  // Log-softmax rows [queries.size(), vocab_size]. Safe to call from several threads.
  virtual void Score(absl::Span<const JoinQuery> queries, float* logprobs) const = 0;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_SCORER_H_
