// Transducer searches over encoder frames: greedy (FORMAT.md's rule, the parity reference)
// and modified beam search (at most one token per frame per hypothesis, duplicates merged,
// optional shallow fusion of a word LM).
//
// A search advances in steps so that many streams can share one joiner call: the owner asks
// for the step's queries (one per live hypothesis), gets their log-probabilities scored in a
// batch with other streams' queries, and hands the rows back.
#ifndef ANCAT_ASR_DECODER_SEARCH_H_
#define ANCAT_ASR_DECODER_SEARCH_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "asr/decoder/lm_fusion.h"
#include "asr/decoder/scorer.h"

namespace ancat::asr {

struct SearchOptions {
  bool beam_search = true;        // false: greedy
  int beam = 4;                   // hypotheses kept
  int max_symbols_per_frame = 3;  // greedy only; beam search emits at most one per frame
  float lm_weight = 0;            // used when the fusion has an LM
  float word_bonus = 0;           // per word, also without an LM
  float blank_penalty = 0;        // subtracted from blank's log-prob at every step
};

struct DecodedToken {
  int32_t id;
  int32_t frame;    // encoder frame index (from the stream start) where it was emitted
  float logprob;    // joiner log-posterior of the token at that point
};

struct Hypothesis {
  std::vector<DecodedToken> tokens;  // non-blank tokens
  double am_score = 0;               // transducer log-probability (duplicates log-added)
  WordLmFusion::State lm;            // the LM part, kept apart
  uint64_t key = 0;                  // hash of the token ids, for merging duplicates
};

struct RankedHypothesis {
  Hypothesis hyp;
  double score;  // fused: am + lm_weight * lm + word_bonus * words
};

class Search {
 public:
  static std::unique_ptr<Search> Create(const SearchOptions& options,
                                        const TransducerScorer* scorer,
                                        const WordLmFusion* fusion);
  virtual ~Search() = default;

  // Queries of the next step on `frame` (a projected frame); pointers stay valid until
  // TakeScores.
  virtual int NumQueries() const = 0;
  virtual void MakeQueries(const float* frame, JoinQuery* out) = 0;
  // Rows of log-probabilities for those queries. Returns true when the frame is finished
  // (greedy may need several steps on one frame).
  virtual bool TakeScores(const float* logprobs, int frame_index) = 0;

  // The hypotheses, best first. `final` completes the word in progress and adds the LM's
  // sentence end to the ranking.
  virtual std::vector<RankedHypothesis> NBest(int n, bool final) const = 0;
  // The current best hypothesis (partial ranking).
  virtual const Hypothesis& Best() const = 0;
  // Tokens on which every kept hypothesis agrees.
  virtual int CommonPrefix() const = 0;
  // Back to the empty hypothesis (a new utterance); frames keep their stream indices.
  virtual void Reset() = 0;

 protected:
  static uint64_t ExtendKey(uint64_t key, int32_t token);
  static void FillContext(const Hypothesis& h, int context_size, int blank, int32_t* out);
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_SEARCH_H_
