#include "asr/decoder/ngram_lm.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ancat::asr {
namespace {

constexpr float kLn10 = 2.302585092994046f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// ARPA writers put -99 (log10) on words that can never occur, such as <s>.
constexpr float kNeverLog10 = -98.0f;

// The n-grams of one order as read, before the compact layout is built.
struct RawOrder {
  int n = 0;
  std::vector<int32_t> ids;  // n ids per n-gram
  std::vector<float> logprob, backoff;
  size_t size() const { return logprob.size(); }
  const int32_t* at(size_t i) const { return ids.data() + i * n; }
};

bool LessIds(const int32_t* a, const int32_t* b, int n) {
  return std::lexicographical_compare(a, a + n, b, b + n);
}

// Sorts by ids and drops repeated n-grams (the first one wins).
void SortUnique(RawOrder* r) {
  std::vector<size_t> perm(r->size());
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(),
                   [&](size_t a, size_t b) { return LessIds(r->at(a), r->at(b), r->n); });
  RawOrder out;
  out.n = r->n;
  for (size_t i : perm) {
    if (!out.logprob.empty() &&
        std::equal(r->at(i), r->at(i) + r->n, out.ids.end() - r->n)) {
      continue;
    }
    out.ids.insert(out.ids.end(), r->at(i), r->at(i) + r->n);
    out.logprob.push_back(r->logprob[i]);
    out.backoff.push_back(r->backoff[i]);
  }
  *r = std::move(out);
}

bool Contains(const RawOrder& r, const int32_t* ids) {
  size_t lo = 0, hi = r.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (LessIds(r.at(mid), ids, r.n)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < r.size() && std::equal(ids, ids + r.n, r.at(lo));
}

absl::Status ParseError(int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("ARPA line ", line, ": ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NgramLm>> NgramLm::LoadArpa(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open LM file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto lm = ParseArpa(buf.str());
  if (!lm.ok()) {
    return absl::Status(lm.status().code(), absl::StrCat(path, ": ", lm.status().message()));
  }
  return lm;
}

absl::StatusOr<std::unique_ptr<NgramLm>> NgramLm::ParseArpa(absl::string_view text) {
  std::vector<int64_t> counts;  // from \data\, counts[n-1]
  struct Uni {
    absl::string_view word;
    float logprob, backoff;
  };
  std::vector<Uni> unigrams;
  std::vector<RawOrder> raw;  // raw[n-2] = order n
  auto lm = std::unique_ptr<NgramLm>(new NgramLm());
  absl::flat_hash_map<absl::string_view, int32_t> word_ids;

  int section = -1;  // -1 before \data\, 0 in \data\, n in \n-grams:, -2 after \end\.
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (line == "\\data\\") {
      section = 0;
      continue;
    }
    if (line == "\\end\\") {
      section = -2;
      break;
    }
    if (section == -1) continue;  // text before \data\ is a comment
    if (line[0] == '\\') {
      int n = 0;
      if (!absl::ConsumeSuffix(&line, "-grams:") || !absl::ConsumePrefix(&line, "\\") ||
          !absl::SimpleAtoi(line, &n) || n < 1 || n > static_cast<int>(counts.size())) {
        return ParseError(line_no, "bad section header");
      }
      if (n != section + 1) return ParseError(line_no, "n-gram sections out of order");
      section = n;
      if (n == 2) {  // all words are known now: give them ids in byte order
        std::sort(unigrams.begin(), unigrams.end(),
                  [](const Uni& a, const Uni& b) { return a.word < b.word; });
        for (const Uni& u : unigrams) {
          if (!lm->words_.empty() && lm->words_.back() == u.word) continue;
          word_ids[u.word] = static_cast<int32_t>(lm->words_.size());
          lm->words_.emplace_back(u.word);
          lm->uni_logprob_.push_back(u.logprob);
          lm->uni_backoff_.push_back(u.backoff);
        }
      }
      if (n >= 2) raw.push_back(RawOrder{.n = n});
      continue;
    }
    if (section == 0) {
      int n = 0;
      int64_t count = 0;
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, '=');
      absl::string_view key = absl::StripAsciiWhitespace(kv.first);
      if (!absl::ConsumePrefix(&key, "ngram ") ||
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(key), &n) ||
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.second), &count) ||
          n != static_cast<int>(counts.size()) + 1 || count < 0) {
        return ParseError(line_no, absl::StrCat("bad \\data\\ line '", line, "'"));
      }
      if (n > kMaxOrder) {
        return ParseError(line_no, absl::StrCat("order ", n, " exceeds the supported ", kMaxOrder));
      }
      counts.push_back(count);
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"),
                                                     absl::SkipEmpty());
    const int n = section;
    // A back-off weight on the top order means nothing; some writers emit one anyway.
    if (static_cast<int>(f.size()) != n + 1 && static_cast<int>(f.size()) != n + 2) {
      return ParseError(line_no, absl::StrCat("expected ", n, " words in a ", n, "-gram"));
    }
    float lp = 0, bo = 0;
    if (!absl::SimpleAtof(f[0], &lp) ||
        (static_cast<int>(f.size()) == n + 2 && !absl::SimpleAtof(f[n + 1], &bo))) {
      return ParseError(line_no, "bad number");
    }
    lp *= kLn10;
    bo *= kLn10;
    if (n == 1) {
      unigrams.push_back({f[1], lp, bo});
      continue;
    }
    RawOrder& r = raw.back();
    for (int k = 0; k < n; ++k) {
      auto it = word_ids.find(f[1 + k]);
      if (it == word_ids.end()) {
        return ParseError(line_no, absl::StrCat("word '", f[1 + k], "' is not a unigram"));
      }
      r.ids.push_back(it->second);
    }
    r.logprob.push_back(lp);
    r.backoff.push_back(bo);
  }
  if (section != -2) return absl::InvalidArgumentError("ARPA: no \\end\\ (truncated file?)");
  if (counts.empty() || unigrams.empty()) return absl::InvalidArgumentError("ARPA: no unigrams");
  if (counts.size() == 1) {  // unigram-only LM: the vocabulary was not built above
    std::sort(unigrams.begin(), unigrams.end(),
              [](const Uni& a, const Uni& b) { return a.word < b.word; });
    for (const Uni& u : unigrams) {
      if (!lm->words_.empty() && lm->words_.back() == u.word) continue;
      lm->words_.emplace_back(u.word);
      lm->uni_logprob_.push_back(u.logprob);
      lm->uni_backoff_.push_back(u.backoff);
    }
  }
  if (raw.size() + 1 != counts.size()) {
    return absl::InvalidArgumentError("ARPA: fewer n-gram sections than \\data\\ announces");
  }

  // Every prefix of an n-gram must be a context entry; add the missing ones (no probability
  // of their own, back-off 0), top order first so added prefixes get their prefixes too.
  for (auto& r : raw) SortUnique(&r);
  for (int i = static_cast<int>(raw.size()) - 1; i >= 1; --i) {
    RawOrder& below = raw[i - 1];
    RawOrder missing{.n = below.n};
    for (size_t j = 0; j < raw[i].size(); ++j) {
      if (!Contains(below, raw[i].at(j))) {
        missing.ids.insert(missing.ids.end(), raw[i].at(j), raw[i].at(j) + below.n);
        missing.logprob.push_back(std::numeric_limits<float>::quiet_NaN());
        missing.backoff.push_back(0.0f);
      }
    }
    if (missing.size() > 0) {
      below.ids.insert(below.ids.end(), missing.ids.begin(), missing.ids.end());
      below.logprob.insert(below.logprob.end(), missing.logprob.begin(), missing.logprob.end());
      below.backoff.insert(below.backoff.end(), missing.backoff.begin(), missing.backoff.end());
      SortUnique(&below);
    }
  }
  // Sorted by ids, each order is also sorted by (prefix index, last word).
  for (const RawOrder& r : raw) {
    std::vector<Entry> entries(r.size());
    for (size_t j = 0; j < r.size(); ++j) {
      const int64_t prefix = lm->Find(r.at(j), r.n - 1);
      if (prefix < 0) return absl::InternalError("ARPA: prefix lost while building");
      entries[j] = {static_cast<int32_t>(prefix), r.at(j)[r.n - 1], r.logprob[j], r.backoff[j]};
    }
    lm->orders_.push_back(std::move(entries));
  }

  lm->bos_id_ = lm->WordId("<s>");
  lm->eos_id_ = lm->WordId("</s>");
  lm->unk_id_ = lm->WordId("<unk>");
  const int32_t v = lm->vocab_size();
  lm->min_unigram_ = 0;
  lm->uni_max_tree_.assign(2 * v, kNegInf);
  for (int32_t i = 0; i < v; ++i) {
    const float lp = lm->uni_logprob_[i];
    const bool real = lp > kNeverLog10 * kLn10 && i != lm->bos_id_;
    if (real) {
      lm->min_unigram_ = std::min(lm->min_unigram_, lp);
      lm->uni_max_tree_[v + i] = lp;
    }
  }
  for (int32_t i = v - 1; i >= 1; --i) {
    lm->uni_max_tree_[i] = std::max(lm->uni_max_tree_[2 * i], lm->uni_max_tree_[2 * i + 1]);
  }
  return lm;
}

int64_t NgramLm::num_ngrams(int n) const {
  if (n == 1) return vocab_size();
  if (n < 1 || n > order()) return 0;
  return static_cast<int64_t>(orders_[n - 2].size());
}

int32_t NgramLm::WordId(absl::string_view word) const {
  auto it = std::lower_bound(words_.begin(), words_.end(), word);
  if (it == words_.end() || *it != word) return kNoWord;
  return static_cast<int32_t>(it - words_.begin());
}

NgramLm::State NgramLm::BeginState() const {
  State s;
  if (bos_id_ != kNoWord && order() > 1) s.words[s.size++] = bos_id_;
  return s;
}

int64_t NgramLm::FindChild(int n, int64_t prefix, int32_t word) const {
  const std::vector<Entry>& e = orders_[n - 2];
  auto it = std::lower_bound(e.begin(), e.end(), std::make_pair(prefix, word),
                             [](const Entry& a, const std::pair<int64_t, int32_t>& key) {
                               return a.prefix < key.first ||
                                      (a.prefix == key.first && a.word < key.second);
                             });
  if (it == e.end() || it->prefix != prefix || it->word != word) return -1;
  return it - e.begin();
}

int64_t NgramLm::Find(const int32_t* words, int n) const {
  if (n < 1 || n > order() || words[0] < 0) return -1;
  int64_t index = words[0];
  for (int k = 1; k < n && index >= 0; ++k) {
    index = words[k] < 0 ? -1 : FindChild(k + 1, index, words[k]);
  }
  return index;
}

float NgramLm::Backoff(int n, int64_t index) const {
  return n == 1 ? uni_backoff_[index] : orders_[n - 2][index].backoff;
}

float NgramLm::Score(const State& state, int32_t word) const {
  float acc = 0;
  for (int m = state.size; m >= 1; --m) {
    const int64_t ctx = Find(state.words + state.size - m, m);
    if (ctx < 0) continue;  // an unseen context backs off for free
    const int64_t child = FindChild(m + 1, ctx, word);
    if (child >= 0 && !std::isnan(orders_[m - 1][child].logprob)) {
      return acc + orders_[m - 1][child].logprob;
    }
    acc += Backoff(m, ctx);
  }
  return acc + uni_logprob_[word];
}

float NgramLm::EndScore(const State& state) const {
  return eos_id_ == kNoWord ? 0.0f : Score(state, eos_id_);
}

NgramLm::State NgramLm::Next(const State& state, int32_t word) const {
  State s;
  if (word == kNoWord) return s;
  const int keep = std::min<int>(state.size, order() - 2);
  for (int k = 0; k < keep; ++k) s.words[k] = state.words[state.size - keep + k];
  s.size = keep;
  if (order() > 1) s.words[s.size++] = word;
  return s;
}

std::pair<int32_t, int32_t> NgramLm::PrefixRange(absl::string_view prefix) const {
  auto first = std::lower_bound(words_.begin(), words_.end(), prefix);
  auto last = std::partition_point(
      first, words_.end(), [&](const std::string& w) { return absl::StartsWith(w, prefix); });
  return {static_cast<int32_t>(first - words_.begin()), static_cast<int32_t>(last - words_.begin())};
}

float NgramLm::RangeMaxUnigram(int32_t first, int32_t last) const {
  const int32_t v = vocab_size();
  float best = kNegInf;
  for (int32_t l = first + v, r = last + v; l < r; l >>= 1, r >>= 1) {
    if (l & 1) best = std::max(best, uni_max_tree_[l++]);
    if (r & 1) best = std::max(best, uni_max_tree_[--r]);
  }
  return best;
}

float NgramLm::BestInRange(const State& state, int32_t first, int32_t last) const {
  if (first >= last) return kNegInf;
  float best = kNegInf, acc = 0;
  for (int m = state.size; m >= 1; --m) {
    const int64_t ctx = Find(state.words + state.size - m, m);
    if (ctx < 0) continue;
    const std::vector<Entry>& e = orders_[m - 1];
    auto less = [](const Entry& a, const std::pair<int64_t, int32_t>& key) {
      return a.prefix < key.first || (a.prefix == key.first && a.word < key.second);
    };
    auto lo = std::lower_bound(e.begin(), e.end(), std::make_pair(ctx, first), less);
    auto hi = std::lower_bound(lo, e.end(), std::make_pair(ctx, last), less);
    for (auto it = lo; it != hi; ++it) {
      if (!std::isnan(it->logprob)) best = std::max(best, acc + it->logprob);
    }
    acc += Backoff(m, ctx);
  }
  return std::max(best, acc + RangeMaxUnigram(first, last));
}

}  // namespace ancat::asr
