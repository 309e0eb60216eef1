// Greedy and modified beam search on synthetic scorers whose answers are known, with and
// without shallow fusion of a word LM.
#include "asr/decoder/search.h"

#include <cmath>
#include <map>
#include <random>

#include "asr/decoder/lm_fusion.h"
#include "asr/decoder/ngram_lm.h"
#include "gtest/gtest.h"
#include "tests/decoder/synthetic_scorer.h"

namespace ancat::asr {
namespace {

using testing::SyntheticScorer;

// Runs a search over frames 0..T-1 (one search, one query batch per step).
void RunFrames(Search* search, const TransducerScorer& scorer, int num_frames) {
  const int v = scorer.vocab_size();
  for (int t = 0; t < num_frames; ++t) {
    const float frame = static_cast<float>(t);
    for (;;) {
      std::vector<JoinQuery> q(search->NumQueries());
      search->MakeQueries(&frame, q.data());
      std::vector<float> lp(q.size() * v);
      scorer.Score(q, lp.data());
      if (search->TakeScores(lp.data(), t)) break;
    }
  }
}

std::vector<int> Ids(const Hypothesis& h) {
  std::vector<int> ids;
  for (const auto& t : h.tokens) ids.push_back(t.id);
  return ids;
}

PieceTable Pieces(int v) {
  std::vector<std::string> p = {"<blk>", "<unk>"};
  for (int i = 2; i < v; ++i) p.push_back("\xE2\x96\x81w" + std::to_string(i));
  return PieceTable::FromPieces(p, 0, 1);
}

// Random joiner tables over (frame, last token), fixed seed.
SyntheticScorer RandomScorer(int vocab, int frames, unsigned seed) {
  auto table = std::make_shared<std::vector<float>>(frames * vocab * vocab);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  for (float& x : *table) x = u(rng);
  return SyntheticScorer(vocab, 2, [table, vocab](int t, const int32_t* ctx, float* p) {
    for (int k = 0; k < vocab; ++k) p[k] = (*table)[(t * vocab + ctx[1]) * vocab + k];
  });
}

// Exact log p(y) under "at most one token per frame": sum over alignments (brute force).
void Enumerate(const SyntheticScorer& s, int t, int frames, std::vector<int32_t>* y,
               double logp, std::map<std::vector<int32_t>, double>* out) {
  if (t == frames) {
    auto [it, fresh] = out->try_emplace(*y, logp);
    if (!fresh) {
      const double a = std::max(it->second, logp), b = std::min(it->second, logp);
      it->second = a + std::log1p(std::exp(b - a));
    }
    return;
  }
  const int v = s.vocab_size();
  int32_t ctx[2] = {y->size() >= 2 ? (*y)[y->size() - 2] : 0, y->empty() ? 0 : y->back()};
  const float frame = static_cast<float>(t);
  std::vector<float> lp(v);
  JoinQuery q{&frame, ctx};
  s.Score({&q, 1}, lp.data());
  Enumerate(s, t + 1, frames, y, logp + lp[0], out);
  for (int k = 1; k < v; ++k) {
    y->push_back(k);
    Enumerate(s, t + 1, frames, y, logp + lp[k], out);
    y->pop_back();
  }
}

TEST(GreedySearch, FollowsArgmaxWithSymbolLimit) {
  // Token 2 wins until it has been emitted twice in a row, then blank.
  SyntheticScorer s(4, 2, [](int t, const int32_t* ctx, float* p) {
    p[0] = 0.1f;
    p[1] = 0.1f;
    p[2] = (ctx[0] == 2 && ctx[1] == 2) ? 0.01f : 0.7f;
    p[3] = 0.1f;
  });
  PieceTable pieces = Pieces(4);
  WordLmFusion fusion(nullptr, &pieces, {});
  SearchOptions o{.beam_search = false, .max_symbols_per_frame = 1};
  auto greedy = Search::Create(o, &s, &fusion);
  RunFrames(greedy.get(), s, 3);
  // One symbol per frame: 2 at frame 0, 2 at frame 1, then context (2,2) makes blank win.
  EXPECT_EQ(Ids(greedy->Best()), (std::vector<int>{2, 2}));
  EXPECT_EQ(greedy->Best().tokens[1].frame, 1);

  o.max_symbols_per_frame = 3;
  auto greedy3 = Search::Create(o, &s, &fusion);
  RunFrames(greedy3.get(), s, 1);
  EXPECT_EQ(Ids(greedy3->Best()), (std::vector<int>{2, 2}));  // both at frame 0
  EXPECT_EQ(greedy3->Best().tokens[1].frame, 0);
}

TEST(Search, BlankPenaltyTradesBlankForTheRunnerUp) {
  // One frame, blank 0.5 against token 2 at 0.4: without a penalty both searches emit
  // nothing; a penalty above ln(0.5 / 0.4) = 0.223 makes token 2 win. (One frame: over two,
  // beam search would sum the two alignments of "2" and prefer it anyway.)
  SyntheticScorer s(4, 2, [](int, const int32_t*, float* p) {
    p[0] = 0.5f, p[1] = 0.05f, p[2] = 0.4f, p[3] = 0.05f;
  });
  PieceTable pieces = Pieces(4);
  WordLmFusion fusion(nullptr, &pieces, {});
  for (bool beam : {false, true}) {
    SearchOptions o{.beam_search = beam, .max_symbols_per_frame = 1};
    auto plain = Search::Create(o, &s, &fusion);
    RunFrames(plain.get(), s, 1);
    EXPECT_TRUE(Ids(plain->Best()).empty()) << "beam " << beam;
    o.blank_penalty = 0.2f;  // below the margin: still blank
    auto small = Search::Create(o, &s, &fusion);
    RunFrames(small.get(), s, 1);
    EXPECT_TRUE(Ids(small->Best()).empty()) << "beam " << beam;
    o.blank_penalty = 0.3f;
    auto penalized = Search::Create(o, &s, &fusion);
    RunFrames(penalized.get(), s, 1);
    EXPECT_EQ(Ids(penalized->Best()), (std::vector<int>{2})) << "beam " << beam;
  }
}

TEST(BeamSearch, FindsWhatGreedyMisses) {
  // Frame 0 slightly prefers a (2) over b (3); after a, frame 1 is unsure, after b it is
  // sure of blank. The sequence "b" is likelier than any sequence starting with "a".
  SyntheticScorer s(4, 2, [](int t, const int32_t* ctx, float* p) {
    if (t == 0) {
      p[0] = 0.01f, p[1] = 0.01f, p[2] = 0.52f, p[3] = 0.46f;
    } else if (ctx[1] == 2) {
      p[0] = 0.3f, p[1] = 0.3f, p[2] = 0.2f, p[3] = 0.2f;
    } else {
      p[0] = 0.97f, p[1] = 0.01f, p[2] = 0.01f, p[3] = 0.01f;
    }
  });
  PieceTable pieces = Pieces(4);
  WordLmFusion fusion(nullptr, &pieces, {});
  auto greedy = Search::Create({.beam_search = false, .max_symbols_per_frame = 1}, &s, &fusion);
  RunFrames(greedy.get(), s, 2);
  EXPECT_EQ(Ids(greedy->Best()).front(), 2);
  auto beam = Search::Create({.beam_search = true, .beam = 4}, &s, &fusion);
  RunFrames(beam.get(), s, 2);
  EXPECT_EQ(Ids(beam->Best()), (std::vector<int>{3}));
}

TEST(BeamSearch, WideBeamEqualsExactSumOverAlignments) {
  constexpr int kVocab = 4, kFrames = 5;
  SyntheticScorer s = RandomScorer(kVocab, kFrames, 7);
  std::map<std::vector<int32_t>, double> exact;
  std::vector<int32_t> y;
  Enumerate(s, 0, kFrames, &y, 0.0, &exact);
  auto best = std::max_element(exact.begin(), exact.end(),
                               [](auto& a, auto& b) { return a.second < b.second; });

  PieceTable pieces = Pieces(kVocab);
  WordLmFusion fusion(nullptr, &pieces, {});
  // A beam wide enough to keep every sequence: merging must make it exact.
  auto beam = Search::Create({.beam_search = true, .beam = 4096}, &s, &fusion);
  RunFrames(beam.get(), s, kFrames);
  std::vector<RankedHypothesis> nbest = beam->NBest(10000, true);
  EXPECT_EQ(nbest.size(), exact.size());  // duplicates merged: one entry per sequence
  std::vector<int32_t> got;
  for (const auto& t : nbest[0].hyp.tokens) got.push_back(t.id);
  EXPECT_EQ(got, best->first);
  for (const RankedHypothesis& r : nbest) {
    std::vector<int32_t> ids;
    for (const auto& t : r.hyp.tokens) ids.push_back(t.id);
    ASSERT_TRUE(exact.count(ids));
    EXPECT_NEAR(r.hyp.am_score, exact[ids], 1e-4);
  }
  // A narrow beam still finds the best sequence here, and its n-best is sorted.
  auto narrow = Search::Create({.beam_search = true, .beam = 8}, &s, &fusion);
  RunFrames(narrow.get(), s, kFrames);
  auto nb = narrow->NBest(3, true);
  ASSERT_EQ(nb.size(), 3u);
  EXPECT_GE(nb[0].score, nb[1].score);
  EXPECT_GE(nb[1].score, nb[2].score);
}

constexpr char kLmArpa[] = R"(\data\
ngram 1=5
ngram 2=3

\1-grams:
-1.0	</s>
-99	<s>	0
-0.5	the	0
-1.0	cat	0
-3.0	cab	0

\2-grams:
-0.2	<s> the
-0.3	the cat
-2.5	the cab

\end\
)";

// Pieces: 2 "▁the", 3 "▁ca", 4 "b", 5 "t". Acoustics: "▁the ▁ca" then b (0.55) vs t (0.45).
SyntheticScorer CatCabScorer() {
  return SyntheticScorer(6, 2, [](int t, const int32_t* ctx, float* p) {
    for (int k = 0; k < 6; ++k) p[k] = 0.01f;
    if (t == 0) p[2] = 1.0f;
    if (t == 1) p[3] = 1.0f;
    if (t == 2) p[4] = 0.55f, p[5] = 0.45f;
    if (t >= 3) p[0] = 1.0f;
  });
}

std::string Text(const Hypothesis& h, const PieceTable& pieces) {
  std::string s;
  for (const auto& t : h.tokens) s += (pieces.starts_word[t.id] ? " " : "") + pieces.text[t.id];
  return s;
}

TEST(BeamSearch, LmFusionChangesTheResult) {
  auto lm = NgramLm::ParseArpa(kLmArpa);
  ASSERT_TRUE(lm.ok()) << lm.status();
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", "\xE2\x96\x81the", "\xE2\x96\x81" "ca", "b", "t"}, 0, 1);
  WordLmFusion fusion(lm->get(), &pieces, {});
  SyntheticScorer s = CatCabScorer();
  auto plain = Search::Create({.beam_search = true, .beam = 4}, &s, &fusion);
  RunFrames(plain.get(), s, 5);
  EXPECT_EQ(Text(plain->NBest(1, true)[0].hyp, pieces), " the cab");
  auto fused = Search::Create({.beam_search = true, .beam = 4, .lm_weight = 0.5f}, &s, &fusion);
  RunFrames(fused.get(), s, 5);
  const RankedHypothesis best = fused->NBest(1, true)[0];
  EXPECT_EQ(Text(best.hyp, pieces), " the cat");
  // Scores stay apart: the transducer score is the plain acoustic path score.
  EXPECT_LT(best.hyp.am_score, plain->NBest(1, true)[0].hyp.am_score);
  EXPECT_GT(best.hyp.lm.score(), plain->NBest(1, true)[0].hyp.lm.score());
}

// The failure a trial saw without look-ahead and spelling cost: gluing pieces into one
// unknown word ("thecat") instead of starting a new word. Acoustics here slightly prefer the
// glued piece; the fused search must not.
TEST(BeamSearch, FusionDoesNotGluePiecesIntoUnknownWords) {
  auto lm = NgramLm::ParseArpa(kLmArpa);
  ASSERT_TRUE(lm.ok());
  // 2 "▁the", 3 "▁cat", 4 "cat" (the same sound without a word start).
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", "\xE2\x96\x81the", "\xE2\x96\x81" "cat", "cat"}, 0, 1);
  WordLmFusion fusion(lm->get(), &pieces, {});
  SyntheticScorer s(5, 2, [](int t, const int32_t* ctx, float* p) {
    for (int k = 0; k < 5; ++k) p[k] = 0.01f;
    if (t == 0) p[2] = 1.0f;
    if (t == 1) p[3] = 0.4f, p[4] = 0.6f;
    if (t >= 2) p[0] = 1.0f;
  });
  auto plain = Search::Create({.beam_search = true, .beam = 4}, &s, &fusion);
  RunFrames(plain.get(), s, 4);
  EXPECT_EQ(Text(plain->NBest(1, true)[0].hyp, pieces), " thecat");
  auto fused = Search::Create({.beam_search = true, .beam = 4, .lm_weight = 0.3f}, &s, &fusion);
  RunFrames(fused.get(), s, 4);
  EXPECT_EQ(Text(fused->NBest(1, true)[0].hyp, pieces), " the cat");
  // Already in the partial ranking (before the final LM completion), thanks to the look-ahead.
  EXPECT_EQ(Text(fused->Best(), pieces), " the cat");
}

// Why the look-ahead matters: acoustics mildly prefer gluing at every word boundary. Scored
// only when complete (decode.py's way), a glued word in progress costs nothing while a real
// boundary pays for the finished word, so a narrow beam drops the split path before the LM
// ever sees the unknown glued word. With the look-ahead the glued spelling pays at once.
TEST(BeamSearch, LookaheadKeepsWordBoundariesInANarrowBeam) {
  auto lm = NgramLm::ParseArpa(R"(\data\
ngram 1=6
ngram 2=5

\1-grams:
-1.0	</s>
-99	<s>	0
-1.0	the	0
-2.0	cat	0
-2.0	sat	0
-1.5	on	0

\2-grams:
-0.3	<s> the
-0.5	the cat
-0.5	cat sat
-0.4	sat on
-0.3	on </s>

\end\
)");
  ASSERT_TRUE(lm.ok()) << lm.status();
  const std::string ws = "\xE2\x96\x81";
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", ws + "the", ws + "cat", "cat", ws + "sat", "sat", ws + "on", "on"}, 0,
      1);
  SyntheticScorer s(9, 2, [](int t, const int32_t*, float* p) {
    for (int k = 0; k < 9; ++k) p[k] = 0.01f;
    if (t == 0) p[2] = 1.0f;
    if (t >= 1 && t <= 3) p[2 * t + 1] = 0.4f, p[2 * t + 2] = 0.6f;  // "▁x" vs glued "x"
    if (t >= 4) p[0] = 1.0f;
  });
  const SearchOptions o{.beam_search = true, .beam = 2, .lm_weight = 0.5f};
  WordLmFusion with(lm->get(), &pieces, {});
  auto a = Search::Create(o, &s, &with);
  RunFrames(a.get(), s, 6);
  EXPECT_EQ(Text(a->NBest(1, true)[0].hyp, pieces), " the cat sat on");
  WordLmFusion without(lm->get(), &pieces, {.lookahead = false});
  auto b = Search::Create(o, &s, &without);
  RunFrames(b.get(), s, 6);
  EXPECT_NE(Text(b->NBest(1, true)[0].hyp, pieces), " the cat sat on");
}

TEST(LmFusion, LookaheadScoresPartialWordsAndUnknownWordsPayPerCharacter) {
  auto lm = NgramLm::ParseArpa(kLmArpa);
  ASSERT_TRUE(lm.ok());
  constexpr float kLn10 = 2.302585092994046f;
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", "\xE2\x96\x81the", "\xE2\x96\x81" "ca", "b", "t", "\xE2\x96\x81zq", "x"},
      0, 1);
  WordLmFusion::Options opt{.oov_char_logprob = -2.0f};
  WordLmFusion fusion(lm->get(), &pieces, opt);
  WordLmFusion::State s = fusion.Begin();
  s = fusion.Advance(s, 2);  // "▁the": a complete LM word, still in progress
  EXPECT_NEAR(s.lookahead, -0.2f * kLn10, 1e-5);
  EXPECT_EQ(s.committed, 0.0f);
  EXPECT_EQ(s.num_words(), 1);
  s = fusion.Advance(s, 3);  // "▁ca": "the" is complete now
  EXPECT_NEAR(s.committed, -0.2f * kLn10, 1e-5);
  EXPECT_NEAR(s.lookahead, -0.3f * kLn10, 1e-5);  // best of cat / cab after "the"
  WordLmFusion::State cab = fusion.Advance(s, 4);
  EXPECT_NEAR(cab.lookahead, -2.5f * kLn10, 1e-5);
  EXPECT_NEAR(fusion.FinalScore(cab), (-0.2f - 2.5f - 1.0f) * kLn10, 1e-4);  // + </s> (unigram)
  // An unknown word: no <unk> in this LM, so oov_logprob (-12) plus 2 per character,
  // growing with every glued piece.
  WordLmFusion::State z = fusion.Advance(fusion.Begin(), 6);  // "▁zq"
  EXPECT_NEAR(z.lookahead, -12.0f - 4.0f, 1e-4);
  WordLmFusion::State zx = fusion.Advance(z, 7);  // "zqx"
  EXPECT_NEAR(zx.lookahead, -12.0f - 6.0f, 1e-4);
  EXPECT_EQ(zx.num_words(), 1);
  // With <unk> in the LM its unigram probability is the base.
  auto unk_lm = NgramLm::ParseArpa("\\data\\\nngram 1=2\n\\1-grams:\n-1 the\n-3 <unk>\n\\end\\\n");
  ASSERT_TRUE(unk_lm.ok()) << unk_lm.status();
  WordLmFusion unk_fusion(unk_lm->get(), &pieces, opt);
  EXPECT_NEAR(unk_fusion.Advance(unk_fusion.Begin(), 6).lookahead, -3.0f * kLn10 - 4.0f, 1e-4);
}

TEST(LmFusion, WithoutLmOnlyCountsWords) {
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", "\xE2\x96\x81the", "\xE2\x96\x81" "ca", "b"}, 0, 1);
  WordLmFusion fusion(nullptr, &pieces, {});
  WordLmFusion::State s = fusion.Begin();
  for (int tok : {2, 3, 4, 1}) s = fusion.Advance(s, tok);
  EXPECT_EQ(s.num_words(), 2);
  EXPECT_EQ(s.score(), 0.0f);
  EXPECT_EQ(fusion.FinalScore(s), 0.0f);
}

}  // namespace
}  // namespace ancat::asr
