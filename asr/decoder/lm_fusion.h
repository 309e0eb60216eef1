// Shallow fusion of a word-level n-gram LM into a search over BPE pieces.
//
// A hypothesis grows piece by piece, but the LM scores whole words. Words that are complete
// (a later piece started a new word with '▁') get their exact LM score. The word in progress
// gets a look-ahead score: the best LM word reachable from its spelling so far (the LM's
// prefix tree, see NgramLm::BestInRange), or, if no LM word starts that way, the score of an
// unknown word. Unknown words pay <unk>'s probability plus a cost per character, so that
// gluing pieces into long made-up words is never cheaper than ending a word. (Without the
// look-ahead and that cost, a beam avoids word boundaries; a trial showed it.)
#ifndef ANCAT_ASR_DECODER_LM_FUSION_H_
#define ANCAT_ASR_DECODER_LM_FUSION_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "asr/decoder/ngram_lm.h"

namespace ancat::asr {

// The spelling of each token id: whether it starts a word and its text without the marker.
struct PieceTable {
  std::vector<std::string> text;     // lower case, '▁' removed; empty for special pieces
  std::vector<std::string> display;  // as spelled, '▁' removed; empty for special pieces
  std::vector<char> starts_word;     // piece began with '▁'
  std::vector<char> special;         // blank, <unk>, control pieces: not part of any word

  // `pieces` are the tokenizer's pieces by id (sentencepiece spelling, '▁' = U+2581).
  static PieceTable FromPieces(const std::vector<std::string>& pieces, int blank_id, int unk_id);
  int size() const { return static_cast<int>(text.size()); }
};

class WordLmFusion {
 public:
  // An unknown word scores base + oov_char_logprob * characters, where base is the LM's
  // <unk> unigram log-probability, or oov_logprob when the LM has no <unk>. The defaults
  // are those of the recipe's evaluation decoder (models/recipe/decode.py: --oov-logprob
  // -12, letter cost 0.5), so weights tuned there carry over.
  struct Options {
    float oov_logprob = -12.0f;
    float oov_char_logprob = -0.5f;
    // Score the word in progress by its best reachable LM word (and count it for the word
    // bonus) while the search runs. false = decode.py's behaviour: a word is scored and
    // counted only once complete (kept for comparisons; it glues words, see above).
    bool lookahead = true;
  };

  // The LM part of one hypothesis, kept apart from its transducer score.
  struct State {
    NgramLm::State history;  // complete words
    std::string partial;     // lower-case spelling of the word in progress
    bool in_word = false;
    float committed = 0;     // log p of the complete words
    float lookahead = 0;     // optimistic log p of the word in progress
    int complete_words = 0;
    int ranked_words = 0;    // words the search's word bonus counts now
    float score() const { return committed + lookahead; }
    // Words of the finished hypothesis (the word in progress included).
    int num_words() const { return complete_words + (partial.empty() ? 0 : 1); }
  };

  // lm may be null: then only words are counted (for the word bonus) and scores stay 0.
  WordLmFusion(const NgramLm* lm, const PieceTable* pieces, Options options);

  bool has_lm() const { return lm_ != nullptr; }
  State Begin() const;
  State Advance(const State& state, int token) const;
  // The LM score of a finished hypothesis: the word in progress completed, then </s>.
  float FinalScore(const State& state) const;

  // Exact score of a complete word after `history`, and the history after it (an unknown
  // word cuts the history: no n-gram holds it).
  float WordScore(const NgramLm::State& history, absl::string_view word,
                  NgramLm::State* next) const;
  // Best score a word starting with `prefix` can reach after `history`.
  float Lookahead(const NgramLm::State& history, absl::string_view prefix) const;

 private:
  float UnknownScore(const NgramLm::State& history, absl::string_view word) const;

  const NgramLm* lm_;
  const PieceTable* pieces_;
  Options options_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_LM_FUSION_H_
