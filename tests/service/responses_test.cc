// Library results -> streaming responses: partial filtering, speech events, utterance indices,
// durations, words only when asked.
#include "service/responses.h"

#include <gtest/gtest.h>

namespace ancat::service {
namespace {

using Event = pb::StreamingRecognizeResponse;

asr::Result MakeResult(bool is_final, const std::string& text, double start, double end) {
  asr::Result r;
  r.is_final = is_final;
  r.stability = 0.5f;
  r.start_s = start;
  r.end_s = end;
  r.mean_lookahead_ms = 120;
  r.p90_lookahead_ms = 240;
  r.alternatives.push_back(asr::Alternative{text, 0.8f, {asr::Word{text, start, end, 0.7f}}});
  r.alternatives.push_back(asr::Alternative{text + " x", 0.1f, {}});
  return r;
}

TEST(ResponsesTest, DurationSplitsSecondsAndNanos) {
  google::protobuf::Duration d;
  SetDuration(1.25, &d);
  EXPECT_EQ(d.seconds(), 1);
  EXPECT_EQ(d.nanos(), 250000000);
  SetDuration(-3, &d);
  EXPECT_EQ(d.seconds(), 0);
  EXPECT_EQ(d.nanos(), 0);
}

TEST(ResponsesTest, SpeechEventsAndUtteranceIndex) {
  asr::StreamConfig config;
  config.interim_results = true;
  ResponseBuilder builder(config);
  std::vector<asr::Result> results = {MakeResult(false, "", 0, 0.2),
                                      MakeResult(false, "hello", 0.1, 0.4),
                                      MakeResult(true, "hello world", 0.1, 1.0)};
  results.back().end_of_utterance = true;
  auto out = builder.Build(results);
  ASSERT_EQ(out.size(), 4u);  // empty partial, BEGIN event, partial, final
  EXPECT_EQ(out[0].speech_event_type(), Event::SPEECH_EVENT_UNSPECIFIED);
  EXPECT_EQ(out[1].speech_event_type(), Event::SPEECH_ACTIVITY_BEGIN);
  EXPECT_EQ(out[1].results_size(), 0);
  EXPECT_EQ(out[1].speech_event_offset().nanos(), 100000000);
  EXPECT_FALSE(out[2].results(0).is_final());
  EXPECT_EQ(out[2].results(0).alternatives_size(), 1);  // partials: best only
  EXPECT_FLOAT_EQ(out[2].results(0).stability(), 0.5f);
  const auto& final_result = out[3].results(0);
  EXPECT_TRUE(final_result.is_final());
  EXPECT_FLOAT_EQ(final_result.stability(), 0.0f);
  EXPECT_EQ(final_result.alternatives_size(), 2);
  EXPECT_EQ(final_result.alternatives(0).transcript(), "hello world");
  EXPECT_EQ(final_result.alternatives(0).words_size(), 0);  // not asked for
  EXPECT_EQ(final_result.utterance_index(), 0);
  EXPECT_EQ(final_result.result_end_offset().seconds(), 1);
  EXPECT_FLOAT_EQ(final_result.lookahead_latency().mean_ms(), 120);
  EXPECT_FLOAT_EQ(final_result.lookahead_latency().p90_ms(), 240);
  EXPECT_EQ(out[3].speech_event_type(), Event::SPEECH_ACTIVITY_END);

  auto next = builder.Build({MakeResult(true, "again", 1.5, 2.0)});
  ASSERT_EQ(next.size(), 2u);  // a new utterance begins again
  EXPECT_EQ(next[0].speech_event_type(), Event::SPEECH_ACTIVITY_BEGIN);
  EXPECT_EQ(next[1].results(0).utterance_index(), 1);
  EXPECT_EQ(builder.finals(), 2);
}

TEST(ResponsesTest, PartialsDroppedWithoutInterimResults) {
  asr::StreamConfig config;
  config.interim_results = false;
  ResponseBuilder builder(config);
  auto out = builder.Build({MakeResult(false, "a", 0, 0.1), MakeResult(true, "a", 0, 0.5)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].speech_event_type(), Event::SPEECH_ACTIVITY_BEGIN);
  EXPECT_TRUE(out[1].results(0).is_final());
}

TEST(ResponsesTest, WordsWhenAsked) {
  asr::StreamConfig config;
  config.word_time_offsets = true;
  config.word_confidence = true;
  pb::SpeechRecognitionResult out;
  ToSpeechRecognitionResult(MakeResult(true, "hi", 0.5, 0.75), config, &out);
  ASSERT_EQ(out.alternatives(0).words_size(), 1);
  const auto& w = out.alternatives(0).words(0);
  EXPECT_EQ(w.word(), "hi");
  EXPECT_EQ(w.start_offset().nanos(), 500000000);
  EXPECT_EQ(w.end_offset().nanos(), 750000000);
  EXPECT_FLOAT_EQ(w.confidence(), 0.7f);
}

TEST(ResponsesTest, ModelInfo) {
  asr::ModelInfo info;
  info.name = "ancat-en";
  info.version = "1";
  info.lookahead_ms = {0, 80, 160, 320};
  info.vocab_size = 500;
  pb::ModelInfo out;
  ToModelInfo(info, &out);
  EXPECT_EQ(out.name(), "ancat-en");
  EXPECT_EQ(out.sample_rate_hertz(), 16000);
  EXPECT_EQ(out.lookahead_ms_size(), 4);
  EXPECT_EQ(out.lookahead_ms(3), 320);
  EXPECT_EQ(out.vocabulary_size(), 500);
  EXPECT_EQ(out.frame_ms(), 40);
  EXPECT_GE(out.supported_encodings_size(), 4);
}

}  // namespace
}  // namespace ancat::service
