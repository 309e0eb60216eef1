// TransducerDecoder on synthetic scorers: endpointing, partial/final results, latency and
// cross-stream batching.
#include "asr/decoder/decoder.h"

#include <random>

#include "gtest/gtest.h"
#include "tests/decoder/synthetic_scorer.h"

namespace ancat::asr {
namespace {

using testing::FrameIndices;
using testing::SyntheticScorer;

const std::string kWs = "\xE2\x96\x81";

PieceTable HiYoPieces() {
  return PieceTable::FromPieces({"<blk>", "<unk>", kWs + "hi", kWs + "yo", "x", "y"}, 0, 1);
}

// "▁hi" at frame 1, "▁yo" at frame 45, "x" at frame 46, blank everywhere else.
SyntheticScorer HiYoScorer() {
  return SyntheticScorer(6, 2, [](int t, const int32_t* ctx, float* p) {
    for (int k = 0; k < 6; ++k) p[k] = 0.01f;
    if (t == 1 && ctx[1] != 2) {
      p[2] = 1.0f;
    } else if (t == 45 && ctx[1] != 3) {
      p[3] = 1.0f;
    } else if (t == 46 && ctx[1] != 4) {
      p[4] = 1.0f;
    } else {
      p[0] = 1.0f;
    }
  });
}

DecoderStreamOptions Options(bool beam) {
  DecoderStreamOptions o;
  o.search.beam_search = beam;
  o.search.beam = 4;
  o.endpoint = {.trailing_silence_ms = 800, .leading_silence_ms = 5000, .max_utterance_ms = 20000};
  o.word_time_offsets = true;
  o.word_confidence = true;
  return o;
}

std::vector<Result> Finals(const std::vector<Result>& rs) {
  std::vector<Result> out;
  for (const Result& r : rs) {
    if (r.is_final) out.push_back(r);
  }
  return out;
}

class DecoderStreamTest : public ::testing::TestWithParam<bool> {};

TEST_P(DecoderStreamTest, EndpointsSplitUtterances) {
  SyntheticScorer scorer = HiYoScorer();
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  auto stream = decoder.CreateStream(Options(GetParam()));
  std::vector<float> frames = FrameIndices(0, 80);
  std::vector<Result> results;
  for (int t = 0; t < 80; t += 7) {  // frames arrive in chunks; Decode after each
    const int n = std::min(7, 80 - t);
    stream->AcceptFrames(frames.data() + t, n, nullptr);
    DecoderStream* s = stream.get();
    decoder.Decode({&s, 1});
    for (Result& r : stream->TakeResults()) results.push_back(std::move(r));
  }
  stream->InputFinished();
  EXPECT_TRUE(stream->IsReady());
  DecoderStream* s = stream.get();
  decoder.Decode({&s, 1});
  for (Result& r : stream->TakeResults()) results.push_back(std::move(r));
  EXPECT_TRUE(stream->IsDone());

  std::vector<Result> finals = Finals(results);
  ASSERT_EQ(finals.size(), 2u);
  EXPECT_EQ(finals[0].alternatives[0].transcript, "hi");
  EXPECT_TRUE(finals[0].end_of_utterance);
  // Token at frame 1; 20 blank frames (800 ms) later, after frame 21, the utterance ends.
  EXPECT_DOUBLE_EQ(finals[0].end_s, 22 * 0.04);
  EXPECT_DOUBLE_EQ(finals[0].start_s, 0.0);
  ASSERT_EQ(finals[0].alternatives[0].words.size(), 1u);
  EXPECT_DOUBLE_EQ(finals[0].alternatives[0].words[0].start_s, 0.04);
  EXPECT_EQ(finals[1].alternatives[0].transcript, "yox");
  EXPECT_DOUBLE_EQ(finals[1].start_s, 22 * 0.04);
  EXPECT_DOUBLE_EQ(finals[1].end_s, 67 * 0.04);  // last token at 46, + 20 frames
  EXPECT_FLOAT_EQ(finals[1].stability, 1.0f);
  // Partials came before each final and only when the text changed.
  int partials = 0;
  for (const Result& r : results) partials += !r.is_final;
  EXPECT_GE(partials, 2);
  EXPECT_FALSE(results[0].is_final);
  EXPECT_EQ(results[0].alternatives[0].transcript, "hi");
}

INSTANTIATE_TEST_SUITE_P(GreedyAndBeam, DecoderStreamTest, ::testing::Values(false, true));

TEST(DecoderStream, LastUtteranceEndsWithInputAndSilenceGivesOneEmptyFinal) {
  SyntheticScorer scorer = HiYoScorer();
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  DecoderStreamOptions o = Options(false);
  o.endpoint.enabled = false;
  auto stream = decoder.CreateStream(o);
  std::vector<float> frames = FrameIndices(0, 50);
  stream->AcceptFrames(frames.data(), 50, nullptr);
  stream->InputFinished();
  DecoderStream* s = stream.get();
  decoder.Decode({&s, 1});
  std::vector<Result> finals = Finals(stream->TakeResults());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].alternatives[0].transcript, "hi yox");
  EXPECT_FALSE(finals[0].end_of_utterance);

  auto silent = decoder.CreateStream(o);
  std::vector<float> quiet = FrameIndices(100, 10);
  silent->AcceptFrames(quiet.data(), 10, nullptr);
  silent->InputFinished();
  s = silent.get();
  decoder.Decode({&s, 1});
  finals = Finals(silent->TakeResults());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].alternatives[0].transcript, "");
}

TEST(DecoderStream, SingleUtteranceStopsAfterFirstFinal) {
  SyntheticScorer scorer = HiYoScorer();
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  DecoderStreamOptions o = Options(true);
  o.single_utterance = true;
  auto stream = decoder.CreateStream(o);
  std::vector<float> frames = FrameIndices(0, 80);
  stream->AcceptFrames(frames.data(), 80, nullptr);
  DecoderStream* s = stream.get();
  decoder.Decode({&s, 1});
  std::vector<Result> finals = Finals(stream->TakeResults());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].alternatives[0].transcript, "hi");
  EXPECT_FALSE(stream->IsReady());
  stream->InputFinished();
  decoder.Decode({&s, 1});
  EXPECT_TRUE(stream->IsDone());
  EXPECT_TRUE(Finals(stream->TakeResults()).empty());
}

TEST(DecoderStream, TokenLatencyAndLookaheadStatistics) {
  SyntheticScorer scorer = HiYoScorer();
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  DecoderStreamOptions o = Options(false);
  o.endpoint.enabled = false;
  auto stream = decoder.CreateStream(o);
  std::vector<float> frames = FrameIndices(0, 10);
  std::vector<int32_t> latency = {0, 3, 1, 1, 1, 1, 1, 1, 1, 2};
  stream->AcceptFrames(frames.data(), 10, latency.data());
  DecoderStream* s = stream.get();
  decoder.Decode({&s, 1});
  EXPECT_EQ(stream->TokenLatenciesMs(), (std::vector<float>{120.0f}));  // "▁hi" at frame 1
  stream->InputFinished();
  decoder.Decode({&s, 1});
  std::vector<Result> finals = Finals(stream->TakeResults());
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_DOUBLE_EQ(finals[0].mean_lookahead_ms, 12.0 / 10 * 40);
  EXPECT_DOUBLE_EQ(finals[0].p90_lookahead_ms, 2 * 40);  // 9th of 10 sorted values
}

TEST(DecoderStream, PartialStabilityCountsWholeAgreedWords) {
  SyntheticScorer scorer = HiYoScorer();
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  DecoderStreamOptions o = Options(false);
  o.endpoint.enabled = false;
  auto stream = decoder.CreateStream(o);
  std::vector<float> frames = FrameIndices(0, 47);
  stream->AcceptFrames(frames.data(), 47, nullptr);
  DecoderStream* s = stream.get();
  decoder.Decode({&s, 1});
  std::vector<Result> rs = stream->TakeResults();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].alternatives[0].transcript, "hi yox");
  // Greedy never revises tokens, but the last word may still grow: "hi " of "hi yox".
  EXPECT_FLOAT_EQ(rs[0].stability, 3.0f / 6.0f);
}

// Random joiner over (frame, last token); different streams see different frame ranges.
SyntheticScorer RandomScorer(unsigned seed) {
  constexpr int kVocab = 6, kFrames = 400;
  auto table = std::make_shared<std::vector<float>>(kFrames * kVocab * kVocab);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  for (size_t i = 0; i < table->size(); ++i) (*table)[i] = u(rng) * ((i % kVocab) == 0 ? 4 : 1);
  return SyntheticScorer(kVocab, 2, [table](int t, const int32_t* ctx, float* p) {
    for (int k = 0; k < kVocab; ++k) p[k] = (*table)[((t % kFrames) * kVocab + ctx[1]) * kVocab + k];
  });
}

std::vector<std::string> RunStreams(const TransducerDecoder& decoder, bool beam, bool batched,
                                    unsigned chunk_seed) {
  constexpr int kStreams = 5;
  std::vector<std::unique_ptr<DecoderStream>> streams;
  std::vector<std::vector<float>> frames;
  for (int i = 0; i < kStreams; ++i) {
    DecoderStreamOptions o = Options(beam);
    o.max_alternatives = 3;
    streams.push_back(decoder.CreateStream(o));
    frames.push_back(FrameIndices(i * 37, 60 + 13 * i));
  }
  std::mt19937 rng(chunk_seed);
  std::vector<size_t> at(kStreams, 0);
  std::vector<std::string> out(kStreams);
  auto collect = [&](int i) {
    for (const Result& r : streams[i]->TakeResults()) {
      if (!r.is_final) continue;
      for (const Alternative& a : r.alternatives) out[i] += a.transcript + "|";
      out[i] += ";";
    }
  };
  if (!batched) {  // each stream alone, all frames at once
    for (int i = 0; i < kStreams; ++i) {
      streams[i]->AcceptFrames(frames[i].data(), static_cast<int>(frames[i].size()), nullptr);
      streams[i]->InputFinished();
      DecoderStream* s = streams[i].get();
      decoder.Decode({&s, 1});
      collect(i);
    }
    return out;
  }
  for (bool more = true; more;) {
    more = false;
    std::vector<DecoderStream*> ready;
    for (int i = 0; i < kStreams; ++i) {
      const size_t n = std::min<size_t>(rng() % 9, frames[i].size() - at[i]);
      streams[i]->AcceptFrames(frames[i].data() + at[i], static_cast<int>(n), nullptr);
      at[i] += n;
      if (at[i] == frames[i].size()) streams[i]->InputFinished();
      if (streams[i]->IsReady()) ready.push_back(streams[i].get());
      more = more || !streams[i]->IsDone();
    }
    decoder.Decode(ready);
    for (int i = 0; i < kStreams; ++i) collect(i);
  }
  return out;
}

TEST(DecoderStream, BatchedStreamsInRandomChunksEqualOneByOne) {
  SyntheticScorer scorer = RandomScorer(3);
  TransducerDecoder decoder(&scorer, nullptr, HiYoPieces(), 40);
  for (bool beam : {false, true}) {
    const std::vector<std::string> alone = RunStreams(decoder, beam, false, 0);
    const int calls_alone = scorer.calls;
    scorer.calls = 0;
    const std::vector<std::string> batched = RunStreams(decoder, beam, true, 11);
    EXPECT_EQ(alone, batched) << "beam=" << beam;
    EXPECT_LT(scorer.calls, calls_alone);  // steps of several streams shared scorer calls
    scorer.calls = 0;
    for (const std::string& s : alone) EXPECT_FALSE(s.empty());
  }
}

}  // namespace
}  // namespace ancat::asr
