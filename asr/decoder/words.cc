#include "asr/decoder/words.h"

#include <cmath>

#include "absl/strings/str_join.h"

namespace ancat::asr {

AssembledText AssembleWords(absl::Span<const DecodedToken> tokens, const PieceTable& pieces,
                            double frame_s) {
  AssembledText out;
  std::vector<int> counts;  // tokens per word, for the mean posterior
  double logprob_sum = 0;
  int scored = 0;
  bool open = false;  // a word is in progress
  for (size_t i = 0; i < tokens.size(); ++i) {
    const DecodedToken& t = tokens[i];
    if (t.id < 0 || t.id >= pieces.size() || pieces.special[t.id]) continue;
    logprob_sum += t.logprob;
    ++scored;
    if (pieces.starts_word[t.id] || !open) {
      // A bare '▁' followed by letters makes one word; an empty word is dropped later.
      if (!open || !out.words.back().text.empty()) {
        out.words.push_back(Word{.start_s = t.frame * frame_s});
        out.first_token.push_back(static_cast<int>(i));
        counts.push_back(0);
      }
      open = true;
    }
    Word& w = out.words.back();
    if (w.text.empty()) {
      w.start_s = t.frame * frame_s;
      out.first_token.back() = static_cast<int>(i);
    }
    w.text += pieces.display[t.id];
    w.end_s = (t.frame + 1) * frame_s;
    w.confidence += std::exp(t.logprob);
    ++counts.back();
  }
  std::vector<Word> words;
  std::vector<int> first;
  for (size_t k = 0; k < out.words.size(); ++k) {
    if (out.words[k].text.empty()) continue;
    out.words[k].confidence /= static_cast<float>(counts[k]);
    words.push_back(std::move(out.words[k]));
    first.push_back(out.first_token[k]);
  }
  out.words = std::move(words);
  out.first_token = std::move(first);
  out.transcript = absl::StrJoin(out.words, " ", [](std::string* s, const Word& w) {
    s->append(w.text);
  });
  out.confidence = scored > 0 ? static_cast<float>(std::exp(logprob_sum / scored)) : 0.0f;
  return out;
}

}  // namespace ancat::asr
