// The transducer decoder of many streams: encoder frames in, partial and final results out.
// A stream keeps its search, endpointing state and results; the decoder, shared and
// immutable, holds the network (a TransducerScorer), the piece spellings and the LM, and
// advances many streams at once so that their joiner work runs as one batch per step.
#ifndef ANCAT_ASR_DECODER_DECODER_H_
#define ANCAT_ASR_DECODER_DECODER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "asr/decoder/endpoint.h"
#include "asr/decoder/lm_fusion.h"
#include "asr/decoder/ngram_lm.h"
#include "asr/decoder/scorer.h"
#include "asr/decoder/search.h"
#include "asr/recognizer.h"

namespace ancat::asr {

struct DecoderStreamOptions {
  SearchOptions search;  // lm_weight / word_bonus already resolved against the model's
  int max_alternatives = 1;
  EndpointConfig endpoint;
  bool interim_results = true;
  bool single_utterance = false;
  bool word_time_offsets = false;
  bool word_confidence = false;
};

class DecoderStream;

class TransducerDecoder {
 public:
  // scorer and lm (may be null) must outlive the decoder.
  TransducerDecoder(const TransducerScorer* scorer, const NgramLm* lm, PieceTable pieces,
                    int frame_ms, WordLmFusion::Options fusion_options = {});
  TransducerDecoder(const TransducerDecoder&) = delete;  // fusion_ points into pieces_
  TransducerDecoder& operator=(const TransducerDecoder&) = delete;

  std::unique_ptr<DecoderStream> CreateStream(const DecoderStreamOptions& options) const;
  // Decodes every frame the streams hold. Each step scores the queries of all streams in
  // one scorer call. Streams must come from this decoder.
  void Decode(absl::Span<DecoderStream* const> streams) const;

  const TransducerScorer& scorer() const { return *scorer_; }
  const PieceTable& pieces() const { return pieces_; }
  const NgramLm* lm() const { return lm_; }
  int frame_ms() const { return frame_ms_; }
  const WordLmFusion& fusion() const { return fusion_; }

 private:
  const TransducerScorer* scorer_;
  const NgramLm* lm_;
  PieceTable pieces_;
  int frame_ms_;
  WordLmFusion fusion_;
};

class DecoderStream {
 public:
  // Encoder output rows [n, encoder_dim] and each frame's algorithmic latency in frames
  // (R_L(t) - t); latency may be null (taken as 0).
  void AcceptFrames(const float* encoder_out, int n, const int32_t* latency_frames);
  // No more frames: the next Decode finishes the last utterance.
  void InputFinished() { input_finished_ = true; }

  // Frames accepted but not yet decoded.
  int pending_frames() const { return static_cast<int>(latency_.size()); }
  bool IsReady() const;
  // Input finished, every frame decoded and the last final result made (or single
  // utterance mode got its result).
  bool IsDone() const { return done_; }
  std::vector<Result> TakeResults();

  // Encoder frames decoded since the stream started.
  int frames_decoded() const { return frames_decoded_; }
  // Algorithmic latency (ms) of each token of the current best hypothesis: the latency of
  // the encoder frame it was emitted at.
  std::vector<float> TokenLatenciesMs() const;
  const Search& search() const { return *search_; }

 private:
  friend class TransducerDecoder;
  DecoderStream(const TransducerDecoder* decoder, const DecoderStreamOptions& options);

  void FrameDone();  // bookkeeping after a frame; may end the utterance
  void Finalize(bool endpoint);
  void MaybePartial();
  Result MakeResult(bool final) const;

  const TransducerDecoder* decoder_;
  DecoderStreamOptions options_;
  std::unique_ptr<Search> search_;
  std::vector<float> raw_;        // accepted encoder rows not yet projected
  std::vector<float> projected_;  // projected frames; the first `head_` are consumed
  size_t head_ = 0;
  std::deque<int32_t> latency_;   // latency of the frames not yet decoded (front first)
  std::vector<int32_t> utterance_latency_;  // per decoded frame of the current utterance
  int frames_decoded_ = 0;
  int utterance_start_ = 0;
  bool input_finished_ = false;
  bool stopped_ = false;  // single utterance got its final result
  bool done_ = false;
  int finals_made_ = 0;
  std::vector<int32_t> last_partial_;  // tokens of the last partial result
  std::vector<Result> results_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_DECODER_H_
