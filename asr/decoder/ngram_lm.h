// Word-level back-off n-gram language model read from an ARPA file, in a compact form that
// all streams share (immutable after Load).
//
// Layout: words get ids in byte order of their spelling, so the words that start with a
// given prefix form one id range (the LM vocabulary's prefix tree, flattened). Each order
// n >= 2 is one array of n-grams sorted by (id of the (n-1)-gram prefix, last word id);
// unigrams are indexed by word id. Lookups are binary searches; the children of a context
// whose last word lies in a prefix's id range are one contiguous slice, which is what the
// look-ahead over partial words needs.
//
// Scores are natural logs (ARPA's log10 values times ln 10), the unit of transducer scores.
#ifndef ANCAT_ASR_DECODER_NGRAM_LM_H_
#define ANCAT_ASR_DECODER_NGRAM_LM_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace ancat::asr {

class NgramLm {
 public:
  static constexpr int kMaxOrder = 8;
  static constexpr int32_t kNoWord = -1;  // a word the LM does not know

  // The words before the next one, oldest first, at most order-1 of them.
  struct State {
    int32_t words[kMaxOrder - 1];
    int32_t size = 0;
  };

  static absl::StatusOr<std::unique_ptr<NgramLm>> LoadArpa(const std::string& path);
  static absl::StatusOr<std::unique_ptr<NgramLm>> ParseArpa(absl::string_view text);

  int order() const { return static_cast<int>(orders_.size()) + 1; }
  int vocab_size() const { return static_cast<int>(words_.size()); }
  // Number of n-grams of order n (1-based) as stored, prefixes added for missing ones included.
  int64_t num_ngrams(int n) const;

  int32_t WordId(absl::string_view word) const;  // kNoWord if absent
  const std::string& Word(int32_t id) const { return words_[id]; }
  int32_t unk_id() const { return unk_id_; }  // kNoWord when the ARPA has no <unk>

  // The state at a sentence start: "<s>" when the LM has it, else empty.
  State BeginState() const;
  // log p(word | state) with back-off. word must be a valid id.
  float Score(const State& state, int32_t word) const;
  // log p(</s> | state), 0 if the LM has no </s>.
  float EndScore(const State& state) const;
  // The state after `word` (kNoWord allowed: it cuts the history).
  State Next(const State& state, int32_t word) const;

  // Ids [first, last) of the words that start with `prefix` (empty range if none).
  std::pair<int32_t, int32_t> PrefixRange(absl::string_view prefix) const;
  // An optimistic log p(w | state) over the words w in ids [first, last): the best
  // explicit n-gram at each back-off level plus the back-off weights walked to get there.
  // -inf for an empty range.
  float BestInRange(const State& state, int32_t first, int32_t last) const;

  float UnigramLogprob(int32_t word) const { return uni_logprob_[word]; }
  // Lowest unigram log-probability of a real word.
  float min_unigram() const { return min_unigram_; }

 private:
  struct Entry {       // one n-gram of order >= 2
    int32_t prefix;    // index of its (n-1)-gram prefix in the order below
    int32_t word;
    float logprob;     // NaN: not an n-gram of the ARPA, only the prefix of a longer one
    float backoff;
  };
  NgramLm() = default;

  // Index of the n-gram words[0..n) (n >= 1) or -1.
  int64_t Find(const int32_t* words, int n) const;
  int64_t FindChild(int n, int64_t prefix, int32_t word) const;  // in order n >= 2
  float Backoff(int n, int64_t index) const;
  float RangeMaxUnigram(int32_t first, int32_t last) const;

  std::vector<std::string> words_;      // sorted, id = position
  std::vector<float> uni_logprob_, uni_backoff_;
  std::vector<float> uni_max_tree_;     // segment tree over uni_logprob_ for range maxima
  std::vector<std::vector<Entry>> orders_;  // orders_[n-2] holds order n
  int32_t bos_id_ = kNoWord, eos_id_ = kNoWord, unk_id_ = kNoWord;
  float min_unigram_ = 0;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_NGRAM_LM_H_
