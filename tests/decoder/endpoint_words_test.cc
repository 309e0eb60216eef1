#include "asr/decoder/endpoint.h"
#include "asr/decoder/words.h"

#include "gtest/gtest.h"

namespace ancat::asr {
namespace {

TEST(Endpoint, TrailingSilenceAfterSpeech) {
  EndpointConfig c{.trailing_silence_ms = 800, .leading_silence_ms = 5000,
                   .max_utterance_ms = 20000};
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 50, .trailing_silence_frames = 19,
                                   .has_speech = true}),
            EndpointRule::kNone);
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 50, .trailing_silence_frames = 20,
                                   .has_speech = true}),
            EndpointRule::kTrailingSilence);
}

TEST(Endpoint, LeadingSilenceWithoutSpeech) {
  EndpointConfig c{.trailing_silence_ms = 800, .leading_silence_ms = 2000,
                   .max_utterance_ms = 20000};
  // 800 ms of silence ends nothing before any speech.
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 20, .trailing_silence_frames = 20,
                                   .has_speech = false}),
            EndpointRule::kNone);
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 50, .trailing_silence_frames = 50,
                                   .has_speech = false}),
            EndpointRule::kLeadingSilence);
}

TEST(Endpoint, MaxLengthAndDisabledRules) {
  EndpointConfig c{.trailing_silence_ms = 800, .leading_silence_ms = 5000,
                   .max_utterance_ms = 2000};
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 50, .trailing_silence_frames = 0,
                                   .has_speech = true}),
            EndpointRule::kMaxLength);
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 49, .trailing_silence_frames = 0,
                                   .has_speech = true}),
            EndpointRule::kNone);
  c.max_utterance_ms = 0;  // off
  c.trailing_silence_ms = 0;
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 5000, .trailing_silence_frames = 4000,
                                   .has_speech = true}),
            EndpointRule::kNone);
  c = EndpointConfig{.enabled = false};
  EXPECT_EQ(DetectEndpoint(c, 40, {.utterance_frames = 5000, .trailing_silence_frames = 5000,
                                   .has_speech = false}),
            EndpointRule::kNone);
}

TEST(Words, AssemblesPiecesWithTimesAndConfidences) {
  const std::string ws = "\xE2\x96\x81";
  PieceTable pieces = PieceTable::FromPieces(
      {"<blk>", "<unk>", ws + "Call", "ing", ws + "mom", ws, "7"}, 0, 1);
  const float half = std::log(0.5f), one = 0.0f;
  std::vector<DecodedToken> tokens = {
      {2, 3, one}, {3, 5, half},  // "Calling": frames 3..5, confidence mean(1, 0.5)
      {1, 6, half},               // <unk>: not part of any word
      {4, 8, half},               // "mom"
      {5, 10, one}, {6, 11, one}, // bare '▁' then "7": one word "7" starting at frame 11
  };
  AssembledText a = AssembleWords(tokens, pieces, 0.04);
  EXPECT_EQ(a.transcript, "Calling mom 7");
  ASSERT_EQ(a.words.size(), 3u);
  EXPECT_EQ(a.words[0].text, "Calling");
  EXPECT_DOUBLE_EQ(a.words[0].start_s, 3 * 0.04);
  EXPECT_DOUBLE_EQ(a.words[0].end_s, 6 * 0.04);
  EXPECT_NEAR(a.words[0].confidence, 0.75f, 1e-6);
  EXPECT_NEAR(a.words[1].confidence, 0.5f, 1e-6);
  EXPECT_EQ(a.words[2].text, "7");
  EXPECT_DOUBLE_EQ(a.words[2].start_s, 11 * 0.04);
  EXPECT_EQ(a.first_token, (std::vector<int>{0, 3, 5}));
  // Geometric mean of the 5 non-special token posteriors: exp((0 + ln.5 + ln.5 + 0 + 0) / 5).
  EXPECT_NEAR(a.confidence, std::exp(2 * half / 5), 1e-6);
}

TEST(Words, PiecesWithoutLeadingMarkerStartAWord) {
  PieceTable pieces = PieceTable::FromPieces({"<blk>", "<unk>", "ab", "cd"}, 0, 1);
  AssembledText a = AssembleWords({{2, 0, 0.f}, {3, 1, 0.f}}, pieces, 0.04);
  EXPECT_EQ(a.transcript, "abcd");
  EXPECT_TRUE(AssembleWords({}, pieces, 0.04).transcript.empty());
}

}  // namespace
}  // namespace ancat::asr
