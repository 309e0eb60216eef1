#include "asr/decoder/search.h"

#include <algorithm>
#include <cmath>
#include <numeric>


namespace ancat::asr {
namespace {

double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  return a + std::log1p(std::exp(b - a));
}

double Fused(const SearchOptions& o, double am, const WordLmFusion::State& lm, bool has_lm) {
  return am + (has_lm ? o.lm_weight * lm.score() : 0.0) + o.word_bonus * lm.ranked_words;
}

class GreedySearch : public Search {
 public:
  GreedySearch(const SearchOptions& o, const TransducerScorer* scorer, const WordLmFusion* fusion)
      : options_(o), scorer_(scorer), fusion_(fusion), context_(scorer->context_size()) {
    Reset();
  }

  int NumQueries() const override { return 1; }
  void MakeQueries(const float* frame, JoinQuery* out) override {
    FillContext(hyp_, static_cast<int>(context_.size()), scorer_->blank_id(), context_.data());
    out[0] = {frame, context_.data()};
  }
  bool TakeScores(const float* logprobs, int frame_index) override {
    const int v = scorer_->vocab_size();
    const int blank = scorer_->blank_id();
    const int k = ArgMax(logprobs, v, blank);
    if (k == blank) {
      hyp_.am_score += logprobs[k] - options_.blank_penalty;
      return FrameDone(frame_index);
    }
    hyp_.am_score += logprobs[k];
    hyp_.tokens.push_back({k, frame_index, logprobs[k]});
    hyp_.key = ExtendKey(hyp_.key, k);
    hyp_.lm = fusion_->Advance(hyp_.lm, k);
    if (++symbols_ >= options_.max_symbols_per_frame) return FrameDone(frame_index);
    return false;
  }
  std::vector<RankedHypothesis> NBest(int, bool) const override {
    return {{hyp_, hyp_.am_score}};
  }
  const Hypothesis& Best() const override { return hyp_; }
  int CommonPrefix() const override { return static_cast<int>(hyp_.tokens.size()); }
  void Reset() override {
    hyp_ = Hypothesis();
    hyp_.lm = fusion_->Begin();
    symbols_ = 0;
  }

 private:
  // The argmax with blank's log-prob lowered by the penalty.
  int ArgMax(const float* row, int v, int blank) const {
    int best = blank;
    float best_score = row[blank] - options_.blank_penalty;
    for (int i = 0; i < v; ++i) {
      if (i != blank && row[i] > best_score) best = i, best_score = row[i];
    }
    return best;
  }

  bool FrameDone(int /*frame_index*/) {
    symbols_ = 0;
    return true;
  }

  SearchOptions options_;
  const TransducerScorer* scorer_;
  const WordLmFusion* fusion_;
  std::vector<int32_t> context_;
  Hypothesis hyp_;
  int symbols_ = 0;
};

class BeamSearch : public Search {
 public:
  BeamSearch(const SearchOptions& o, const TransducerScorer* scorer, const WordLmFusion* fusion)
      : options_(o), scorer_(scorer), fusion_(fusion), context_size_(scorer->context_size()) {
    Reset();
  }

  int NumQueries() const override { return static_cast<int>(hyps_.size()); }
  void MakeQueries(const float* frame, JoinQuery* out) override {
    contexts_.resize(hyps_.size() * context_size_);
    for (size_t i = 0; i < hyps_.size(); ++i) {
      int32_t* c = contexts_.data() + i * context_size_;
      FillContext(hyps_[i], context_size_, scorer_->blank_id(), c);
      out[i] = {frame, c};
    }
  }
  bool TakeScores(const float* logprobs, int frame_index) override;

  std::vector<RankedHypothesis> NBest(int n, bool final) const override;
  const Hypothesis& Best() const override { return hyps_[0]; }  // kept sorted
  int CommonPrefix() const override;
  void Reset() override {
    hyps_.assign(1, Hypothesis());
    hyps_[0].lm = fusion_->Begin();
  }

 private:
  struct Candidate {
    int hyp;
    int token;  // -1: blank (the hypothesis stays as it is)
    float token_logprob;
    double am;
    double fused;
    uint64_t key;
    WordLmFusion::State lm;
  };
  bool SameTokens(const Candidate& a, const Candidate& b) const;

  SearchOptions options_;
  const TransducerScorer* scorer_;
  const WordLmFusion* fusion_;
  int context_size_;
  std::vector<Hypothesis> hyps_;  // best first
  std::vector<int32_t> contexts_;
  // Buffers reused across frames.
  std::vector<int> order_;
  std::vector<Candidate> cands_, merged_;
};

bool BeamSearch::TakeScores(const float* logprobs, int frame_index) {
  const int v = scorer_->vocab_size();
  const int blank = scorer_->blank_id();
  const bool has_lm = fusion_->has_lm() && options_.lm_weight != 0;
  const int per_hyp = std::min(options_.beam, v - 1);
  std::vector<Candidate>& cands = cands_;
  cands.clear();
  order_.resize(v);
  for (size_t i = 0; i < hyps_.size(); ++i) {
    const Hypothesis& h = hyps_[i];
    const float* row = logprobs + i * v;
    const double am_blank = h.am_score + row[blank] - options_.blank_penalty;
    cands.push_back({static_cast<int>(i), -1, row[blank], am_blank,
                     Fused(options_, am_blank, h.lm, has_lm), h.key, h.lm});
    // Only the acoustically best tokens of each hypothesis are worth an LM look-up.
    std::iota(order_.begin(), order_.end(), 0);
    std::swap(order_[blank], order_[v - 1]);
    std::partial_sort(order_.begin(), order_.begin() + per_hyp, order_.end() - 1,
                      [&](int a, int b) { return row[a] > row[b]; });
    for (int j = 0; j < per_hyp; ++j) {
      const int tok = order_[j];
      const double am = h.am_score + row[tok];
      WordLmFusion::State lm = fusion_->Advance(h.lm, tok);
      const double fused = Fused(options_, am, lm, has_lm);
      cands.push_back({static_cast<int>(i), tok, row[tok], am, fused, ExtendKey(h.key, tok),
                       std::move(lm)});
    }
  }
  // Merge candidates with the same tokens: their transducer scores log-add; the LM part is
  // a function of the tokens, so it is the same for both. A beam has few candidates
  // (beam * (beam + 1)), so a linear scan beats a hash map.
  std::vector<Candidate>& merged = merged_;
  merged.clear();
  for (Candidate& c : cands) {
    auto same = std::find_if(merged.begin(), merged.end(), [&](const Candidate& m) {
      return m.key == c.key && SameTokens(m, c);
    });
    if (same == merged.end()) {
      merged.push_back(std::move(c));
      continue;
    }
    Candidate& m = *same;
    const double am = LogAdd(m.am, c.am);
    if (c.am > m.am) m = std::move(c);  // keep the token timing of the likelier path
    m.fused += am - m.am;
    m.am = am;
  }
  const size_t keep = std::min<size_t>(options_.beam, merged.size());
  std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(),
                    [](const Candidate& a, const Candidate& b) { return a.fused > b.fused; });
  std::vector<Hypothesis> next(keep);
  for (size_t i = 0; i < keep; ++i) {
    Candidate& c = merged[i];
    Hypothesis& h = next[i];
    h.tokens.reserve(hyps_[c.hyp].tokens.size() + 1);
    h.tokens = hyps_[c.hyp].tokens;
    if (c.token >= 0) h.tokens.push_back({c.token, frame_index, c.token_logprob});
    h.am_score = c.am;
    h.lm = std::move(c.lm);
    h.key = c.key;
  }
  hyps_ = std::move(next);
  return true;
}

bool BeamSearch::SameTokens(const Candidate& a, const Candidate& b) const {
  const auto& ta = hyps_[a.hyp].tokens;
  const auto& tb = hyps_[b.hyp].tokens;
  const size_t na = ta.size() + (a.token >= 0), nb = tb.size() + (b.token >= 0);
  if (na != nb) return false;
  auto at = [](const std::vector<DecodedToken>& t, int extra, size_t k) {
    return k < t.size() ? t[k].id : extra;
  };
  for (size_t k = 0; k < na; ++k) {
    if (at(ta, a.token, k) != at(tb, b.token, k)) return false;
  }
  return true;
}

std::vector<RankedHypothesis> BeamSearch::NBest(int n, bool final) const {
  const bool has_lm = fusion_->has_lm() && options_.lm_weight != 0;
  std::vector<RankedHypothesis> out;
  for (const Hypothesis& h : hyps_) {
    double score = Fused(options_, h.am_score, h.lm, has_lm);
    if (final) {  // the word in progress completed, </s> added
      score = h.am_score + (has_lm ? options_.lm_weight * fusion_->FinalScore(h.lm) : 0.0) +
              options_.word_bonus * h.lm.num_words();
    }
    out.push_back({h, score});
  }
  std::stable_sort(out.begin(), out.end(), [](const RankedHypothesis& a,
                                              const RankedHypothesis& b) {
    return a.score > b.score;
  });
  if (static_cast<int>(out.size()) > n) out.resize(std::max(n, 1));
  return out;
}

int BeamSearch::CommonPrefix() const {
  size_t n = hyps_[0].tokens.size();
  for (const Hypothesis& h : hyps_) {
    size_t k = 0;
    while (k < n && k < h.tokens.size() && h.tokens[k].id == hyps_[0].tokens[k].id) ++k;
    n = k;
  }
  return static_cast<int>(n);
}

}  // namespace

uint64_t Search::ExtendKey(uint64_t key, int32_t token) {
  // splitmix64 of the running key and the token: collisions are checked anyway.
  uint64_t z = key + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(token) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Search::FillContext(const Hypothesis& h, int context_size, int blank, int32_t* out) {
  const int n = static_cast<int>(h.tokens.size());
  for (int k = 0; k < context_size; ++k) {
    const int idx = n - context_size + k;
    out[k] = idx >= 0 ? h.tokens[idx].id : blank;
  }
}

std::unique_ptr<Search> Search::Create(const SearchOptions& options,
                                       const TransducerScorer* scorer,
                                       const WordLmFusion* fusion) {
  if (options.beam_search) return std::make_unique<BeamSearch>(options, scorer, fusion);
  return std::make_unique<GreedySearch>(options, scorer, fusion);
}

}  // namespace ancat::asr
