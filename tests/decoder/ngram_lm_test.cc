#include "asr/decoder/ngram_lm.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "gtest/gtest.h"

namespace ancat::asr {
namespace {

constexpr float kLn10 = 2.302585092994046f;

// Log10 values below are what the hand computations in the tests use.
constexpr char kArpa[] = R"(Written by hand for the tests.
\data\
ngram 1=6
ngram 2=4
ngram 3=3

\1-grams:
-1.0	</s>
-99	<s>	-0.5
-0.8	the	-0.3
-1.2	cat	-0.2
-1.5	cab
-2.0	<unk>

\2-grams:
-0.4	<s> the	-0.1
-0.3	the cat
-0.9	the cab
-0.2	cat </s>

\3-grams:
-0.1	<s> the cat
-0.05	the cat </s>
-0.3	cab the cat

\end\
)";

class NgramLmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lm = NgramLm::ParseArpa(kArpa);
    ASSERT_TRUE(lm.ok()) << lm.status();
    lm_ = std::move(*lm);
  }
  NgramLm::State After(std::initializer_list<const char*> words) {
    NgramLm::State s = lm_->BeginState();
    for (const char* w : words) s = lm_->Next(s, lm_->WordId(w));
    return s;
  }
  float Score(std::initializer_list<const char*> history, const char* word) {
    return lm_->Score(After(history), lm_->WordId(word));
  }
  std::unique_ptr<NgramLm> lm_;
};

TEST_F(NgramLmTest, Sizes) {
  EXPECT_EQ(lm_->order(), 3);
  EXPECT_EQ(lm_->vocab_size(), 6);
  // (cab the) is added as a context for the trigram (cab the cat).
  EXPECT_EQ(lm_->num_ngrams(2), 5);
  EXPECT_EQ(lm_->num_ngrams(3), 3);
  EXPECT_NE(lm_->unk_id(), NgramLm::kNoWord);
  EXPECT_EQ(lm_->WordId("dog"), NgramLm::kNoWord);
}

TEST_F(NgramLmTest, ExplicitNgrams) {
  EXPECT_NEAR(Score({}, "the"), -0.4f * kLn10, 1e-5);            // p(the | <s>)
  EXPECT_NEAR(Score({"the"}, "cat"), -0.1f * kLn10, 1e-5);       // p(cat | <s> the)
  EXPECT_NEAR(Score({"the", "cat"}, "</s>"), -0.05f * kLn10, 1e-5);
  EXPECT_NEAR(lm_->EndScore(After({"the", "cat"})), -0.05f * kLn10, 1e-5);
}

TEST_F(NgramLmTest, BackOff) {
  // p(cab | <s> the) = bo(<s> the) + p(cab | the) = -0.1 - 0.9
  EXPECT_NEAR(Score({"the"}, "cab"), -1.0f * kLn10, 1e-5);
  // p(cat | the cat): (the cat) has no back-off weight (0), then bo(cat) + p(cat) = -0.2 - 1.2
  EXPECT_NEAR(Score({"the", "cat"}, "cat"), -1.4f * kLn10, 1e-5);
  // p(the | <s> cab): (<s> cab) unseen, bo(cab) = 0, p(the) = -0.8
  EXPECT_NEAR(Score({"cab"}, "the"), -0.8f * kLn10, 1e-5);
  // (cab the) exists only as a prefix: no probability of its own, back-off 0.
  NgramLm::State cab_the = lm_->Next(lm_->Next(NgramLm::State{}, lm_->WordId("cab")),
                                     lm_->WordId("the"));
  EXPECT_NEAR(lm_->Score(cab_the, lm_->WordId("cat")), -0.3f * kLn10, 1e-5);
  // p(cab | cab the) = bo(cab the)=0 + p(cab | the) = -0.9
  EXPECT_NEAR(lm_->Score(cab_the, lm_->WordId("cab")), -0.9f * kLn10, 1e-5);
}

TEST_F(NgramLmTest, StateKeepsOrderMinusOneWords) {
  NgramLm::State s = After({"the", "cat", "cab"});
  ASSERT_EQ(s.size, 2);
  EXPECT_EQ(lm_->Word(s.words[0]), "cat");
  EXPECT_EQ(lm_->Word(s.words[1]), "cab");
  EXPECT_EQ(lm_->Next(s, NgramLm::kNoWord).size, 0);
}

TEST_F(NgramLmTest, PrefixRangeAndBestInRange) {
  auto [first, last] = lm_->PrefixRange("ca");
  ASSERT_EQ(last - first, 2);
  EXPECT_EQ(lm_->Word(first), "cab");
  EXPECT_EQ(lm_->Word(first + 1), "cat");
  auto none = lm_->PrefixRange("zz");
  EXPECT_EQ(none.first, none.second);
  // After <s> the: the trigram (<s> the cat) gives -0.1; cab only reaches -1.0.
  EXPECT_NEAR(lm_->BestInRange(After({"the"}), first, last), -0.1f * kLn10, 1e-5);
  // After <s> cab: no explicit successor in range, bo(cab)=0, best unigram cat = -1.2.
  EXPECT_NEAR(lm_->BestInRange(After({"cab"}), first, last), -1.2f * kLn10, 1e-5);
  EXPECT_TRUE(std::isinf(lm_->BestInRange(After({}), none.first, none.second)));
  // The look-ahead is an upper bound of every word's exact score in the range.
  for (int32_t w = first; w < last; ++w) {
    EXPECT_LE(lm_->Score(After({"the"}), w), lm_->BestInRange(After({"the"}), first, last) + 1e-6);
  }
}

TEST_F(NgramLmTest, MinUnigramSkipsImpossibleWords) {
  EXPECT_NEAR(lm_->min_unigram(), -2.0f * kLn10, 1e-5);  // <unk>, not <s>'s -99
}

TEST(NgramLmErrors, RejectsBrokenFiles) {
  EXPECT_FALSE(NgramLm::ParseArpa("").ok());
  EXPECT_FALSE(NgramLm::ParseArpa("\\data\\\nngram 1=1\n\n\\1-grams:\n-1 a\n").ok());  // no \end\.
  EXPECT_FALSE(NgramLm::ParseArpa("\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1 a\n"
                                  "\\2-grams:\n-1 a b\n\\end\\\n").ok());  // b not a unigram
  EXPECT_FALSE(NgramLm::ParseArpa("\\data\\\nngram 1=1\n\\1-grams:\nx a\n\\end\\\n").ok());
  // A (meaningless) back-off weight on the top order is accepted.
  EXPECT_TRUE(NgramLm::ParseArpa("\\data\\\nngram 1=2\nngram 2=1\n\\1-grams:\n-1 a -0.1\n-1 b\n"
                                 "\\2-grams:\n-0.5 a b -0.2\n\\end\\\n").ok());
  auto missing = NgramLm::LoadArpa("/nonexistent/lm.arpa");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// Mutated files load or fail with a status; what loads can be scored without crashing.
TEST(NgramLmErrors, MutatedFilesNeverCrash) {
  std::mt19937 rng(3);
  const std::string base = kArpa;
  const std::string alphabet = " \t\n-0123456789.\\abc<>/=";
  int loaded = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 8); break;
        default: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    auto lm = NgramLm::ParseArpa(text);
    if (!lm.ok()) continue;
    ++loaded;
    NgramLm::State s = (*lm)->BeginState();
    for (int32_t w = 0; w < (*lm)->vocab_size(); ++w) {
      (void)(*lm)->Score(s, w);
      (void)(*lm)->BestInRange(s, 0, (*lm)->vocab_size());
      s = (*lm)->Next(s, w);
    }
  }
  EXPECT_GT(loaded, 0);  // some mutations are harmless (e.g. in the comment or a number)
}

TEST(NgramLmFile, LoadsFromDisk) {
  const std::string path = ::testing::TempDir() + "/tiny.arpa";
  std::ofstream(path) << kArpa;
  auto lm = NgramLm::LoadArpa(path);
  ASSERT_TRUE(lm.ok()) << lm.status();
  EXPECT_EQ((*lm)->order(), 3);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ancat::asr
