#include "asr/decoder/lm_fusion.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace ancat::asr {
namespace {

constexpr absl::string_view kWordStart = "\xE2\x96\x81";  // U+2581, sentencepiece's space

int CountChars(absl::string_view s) {  // UTF-8 code points
  return static_cast<int>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

PieceTable PieceTable::FromPieces(const std::vector<std::string>& pieces, int blank_id,
                                  int unk_id) {
  PieceTable t;
  const size_t n = pieces.size();
  t.text.resize(n);
  t.display.resize(n);
  t.starts_word.assign(n, 0);
  t.special.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    absl::string_view p = pieces[i];
    const bool control = p.size() > 2 && p.front() == '<' && p.back() == '>';
    if (static_cast<int>(i) == blank_id || static_cast<int>(i) == unk_id || control) {
      t.special[i] = 1;
      continue;
    }
    if (absl::ConsumePrefix(&p, kWordStart)) t.starts_word[i] = 1;
    t.display[i] = std::string(p);
    t.text[i] = absl::AsciiStrToLower(p);
  }
  return t;
}

WordLmFusion::WordLmFusion(const NgramLm* lm, const PieceTable* pieces, Options options)
    : lm_(lm), pieces_(pieces), options_(options) {}

WordLmFusion::State WordLmFusion::Begin() const {
  State s;
  if (lm_ != nullptr) s.history = lm_->BeginState();
  return s;
}

float WordLmFusion::UnknownScore(const NgramLm::State& /*history*/, absl::string_view word) const {
  const float base = lm_->unk_id() != NgramLm::kNoWord ? lm_->UnigramLogprob(lm_->unk_id())
                                                       : options_.oov_logprob;
  return base + options_.oov_char_logprob * static_cast<float>(CountChars(word));
}

float WordLmFusion::WordScore(const NgramLm::State& history, absl::string_view word,
                              NgramLm::State* next) const {
  const int32_t id = lm_->WordId(word);
  if (id != NgramLm::kNoWord && id != lm_->unk_id()) {
    const float score = lm_->Score(history, id);  // before *next: it may alias history
    *next = lm_->Next(history, id);
    return score;
  }
  const float score = UnknownScore(history, word);
  *next = lm_->Next(history, NgramLm::kNoWord);
  return score;
}

float WordLmFusion::Lookahead(const NgramLm::State& history, absl::string_view prefix) const {
  auto [first, last] = lm_->PrefixRange(prefix);
  return std::max(lm_->BestInRange(history, first, last), UnknownScore(history, prefix));
}

WordLmFusion::State WordLmFusion::Advance(const State& state, int token) const {
  if (token < 0 || token >= pieces_->size() || pieces_->special[token]) return state;
  State s = state;
  if (pieces_->starts_word[token]) {
    if (!s.partial.empty()) {
      if (lm_ != nullptr) s.committed += WordScore(s.history, s.partial, &s.history);
      ++s.complete_words;
      s.partial.clear();
    }
    s.lookahead = 0;
  }
  s.in_word = true;
  s.partial += pieces_->text[token];
  if (lm_ != nullptr && options_.lookahead) s.lookahead = Lookahead(s.history, s.partial);
  s.ranked_words = s.complete_words + (options_.lookahead && !s.partial.empty() ? 1 : 0);
  return s;
}

float WordLmFusion::FinalScore(const State& state) const {
  if (lm_ == nullptr) return 0.0f;
  float score = state.committed;
  NgramLm::State history = state.history;
  if (!state.partial.empty()) score += WordScore(state.history, state.partial, &history);
  return score + lm_->EndScore(history);
}

}  // namespace ancat::asr
