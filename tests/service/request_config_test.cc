// Proto validation and mapping: every malformed field is refused with a message naming it,
// and a valid config maps onto the library's StreamConfig / AudioFormatConfig.
#include "service/request_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ancat::service {
namespace {

using ::testing::HasSubstr;

pb::StreamingRecognitionConfig ValidStreaming() {
  pb::StreamingRecognitionConfig s;
  s.mutable_config()->set_encoding(pb::LINEAR16);
  s.mutable_config()->set_sample_rate_hertz(16000);
  s.set_interim_results(true);
  return s;
}

absl::Status Check(const pb::StreamingRecognitionConfig& s) {
  return ToRequestSetup(s, RequestLimits{}).status();
}

// Applies `mutate` to a valid config and expects INVALID_ARGUMENT mentioning `field`.
template <typename F>
void ExpectInvalid(F mutate, const std::string& field) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  mutate(s.mutable_config());
  absl::Status status = Check(s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field << ": " << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("streaming_config.config." + field));
}

TEST(RequestConfigTest, ValidLinear16MapsOntoLibraryConfigs) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  pb::RecognitionConfig* c = s.mutable_config();
  c->set_sample_rate_hertz(8000);
  c->set_audio_channel_count(2);
  c->set_max_alternatives(3);
  c->set_enable_word_time_offsets(true);
  c->mutable_latency()->set_lookahead_bias(1.5f);
  c->mutable_latency()->set_max_lookahead_ms(160);
  c->mutable_endpointing()->set_trailing_silence_ms(500);
  c->mutable_decoding()->set_beam_size(8);
  s.set_single_utterance(true);

  auto setup = ToRequestSetup(s, RequestLimits{});
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ(setup->audio.encoding, asr::AudioFormatConfig::Encoding::kLinear16);
  EXPECT_EQ(setup->audio.sample_rate, 8000);
  EXPECT_EQ(setup->audio.num_channels, 2);
  EXPECT_EQ(setup->audio.output_sample_rate, 16000);
  EXPECT_EQ(setup->stream.sample_rate, 16000);  // the converter resamples
  EXPECT_TRUE(setup->stream.interim_results);
  EXPECT_TRUE(setup->stream.single_utterance);
  EXPECT_TRUE(setup->stream.word_time_offsets);
  EXPECT_FALSE(setup->stream.word_confidence);
  EXPECT_FLOAT_EQ(setup->stream.latency.beta, 1.5f);
  EXPECT_EQ(setup->stream.latency.max_lookahead_ms, 160);
  EXPECT_EQ(setup->stream.endpoint.trailing_silence_ms, 500);
  EXPECT_TRUE(setup->stream.endpoint.enabled);
  EXPECT_EQ(setup->stream.decoding.beam, 8);
  EXPECT_EQ(setup->stream.decoding.max_alternatives, 3);
  EXPECT_EQ(setup->stream.decoding.method, asr::DecodingConfig::Method::kModifiedBeam);
}

TEST(RequestConfigTest, DefaultsWhenFieldsAreZero) {
  auto setup = ToRequestSetup(ValidStreaming(), RequestLimits{});
  ASSERT_TRUE(setup.ok()) << setup.status();
  const asr::StreamConfig defaults;
  EXPECT_EQ(setup->audio.num_channels, 1);
  EXPECT_EQ(setup->stream.latency.max_lookahead_ms, -1);  // unset: no cap
  EXPECT_FLOAT_EQ(setup->stream.latency.beta, 0.0f);
  EXPECT_EQ(setup->stream.decoding.max_alternatives, 1);
  EXPECT_EQ(setup->stream.decoding.beam, defaults.decoding.beam);
  EXPECT_EQ(setup->stream.endpoint.trailing_silence_ms, defaults.endpoint.trailing_silence_ms);
  EXPECT_EQ(setup->stream.endpoint.max_utterance_ms, defaults.endpoint.max_utterance_ms);
}

TEST(RequestConfigTest, ZeroLookaheadCapMeansCausal) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  s.mutable_config()->mutable_latency()->set_max_lookahead_ms(0);
  auto setup = ToRequestSetup(s, RequestLimits{});
  ASSERT_TRUE(setup.ok());
  EXPECT_EQ(setup->stream.latency.max_lookahead_ms, 0);
}

TEST(RequestConfigTest, ContainersNeedNoRate) {
  for (pb::AudioEncoding e : {pb::ENCODING_UNSPECIFIED, pb::FLAC, pb::OGG_OPUS, pb::MP3}) {
    pb::StreamingRecognitionConfig s;
    s.mutable_config()->set_encoding(e);
    auto setup = ToRequestSetup(s, RequestLimits{});
    ASSERT_TRUE(setup.ok()) << pb::AudioEncoding_Name(e) << ": " << setup.status();
    EXPECT_EQ(setup->audio.encoding, asr::AudioFormatConfig::Encoding::kContainer);
    EXPECT_TRUE(IsContainerEncoding(e));
  }
  EXPECT_FALSE(IsContainerEncoding(pb::LINEAR16));
  EXPECT_FALSE(IsContainerEncoding(pb::MULAW));
}

TEST(RequestConfigTest, MulawMapsToRaw) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  s.mutable_config()->set_encoding(pb::MULAW);
  s.mutable_config()->set_sample_rate_hertz(8000);
  auto setup = ToRequestSetup(s, RequestLimits{});
  ASSERT_TRUE(setup.ok());
  EXPECT_EQ(setup->audio.encoding, asr::AudioFormatConfig::Encoding::kMulaw);
}

TEST(RequestConfigTest, MissingConfigIsNamed) {
  pb::StreamingRecognitionConfig s;
  absl::Status status = Check(s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("streaming_config.config: required"));
}

TEST(RequestConfigTest, EveryBadFieldIsNamed) {
  using C = pb::RecognitionConfig;
  ExpectInvalid([](C* c) { c->set_sample_rate_hertz(0); }, "sample_rate_hertz");
  ExpectInvalid([](C* c) { c->set_sample_rate_hertz(4000); }, "sample_rate_hertz");
  ExpectInvalid([](C* c) { c->set_sample_rate_hertz(96000); }, "sample_rate_hertz");
  ExpectInvalid([](C* c) { c->set_audio_channel_count(9); }, "audio_channel_count");
  ExpectInvalid([](C* c) { c->set_audio_channel_count(-1); }, "audio_channel_count");
  ExpectInvalid([](C* c) { c->set_encoding(static_cast<pb::AudioEncoding>(5)); }, "encoding");
  ExpectInvalid([](C* c) { c->set_max_alternatives(11); }, "max_alternatives");
  ExpectInvalid([](C* c) { c->set_max_alternatives(-1); }, "max_alternatives");
  ExpectInvalid([](C* c) { c->set_max_alternatives(5); }, "max_alternatives");  // > beam 4
  ExpectInvalid(
      [](C* c) {
        c->set_max_alternatives(2);
        c->mutable_decoding()->set_method(pb::DecodingConfig::GREEDY);
      },
      "max_alternatives");
  ExpectInvalid([](C* c) { c->mutable_decoding()->set_beam_size(17); }, "decoding.beam_size");
  ExpectInvalid(
      [](C* c) { c->mutable_decoding()->set_method(static_cast<pb::DecodingConfig::Method>(7)); },
      "decoding.method");
  ExpectInvalid([](C* c) { c->mutable_latency()->set_lookahead_bias(-0.5f); },
                "latency.lookahead_bias");
  ExpectInvalid([](C* c) { c->mutable_latency()->set_lookahead_bias(NAN); },
                "latency.lookahead_bias");
  ExpectInvalid([](C* c) { c->mutable_latency()->set_max_lookahead_ms(-1); },
                "latency.max_lookahead_ms");
  ExpectInvalid([](C* c) { c->mutable_endpointing()->set_trailing_silence_ms(-5); },
                "endpointing.trailing_silence_ms");
  ExpectInvalid([](C* c) { c->mutable_endpointing()->set_leading_silence_ms(60001); },
                "endpointing.leading_silence_ms");
  ExpectInvalid([](C* c) { c->mutable_endpointing()->set_max_utterance_ms(300001); },
                "endpointing.max_utterance_ms");
  ExpectInvalid([](C* c) { c->mutable_context()->add_phrases(); }, "context.phrases[0].phrase");
  ExpectInvalid(
      [](C* c) {
        auto* p = c->mutable_context()->add_phrases();
        p->set_phrase("call mom");
        p->set_boost(21);
      },
      "context.phrases[0].boost");
  ExpectInvalid([](C* c) { c->mutable_context()->add_catalogs(""); }, "context.catalogs[0]");
}

TEST(RequestConfigTest, BadRateMessageSaysWhy) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  s.mutable_config()->set_sample_rate_hertz(4000);
  EXPECT_EQ(std::string(Check(s).message()),
            "streaming_config.config.sample_rate_hertz: 4000 is outside [8000, 48000]");
}

TEST(RequestConfigTest, ValidContextIsRefusedAsUnimplemented) {
  pb::StreamingRecognitionConfig s = ValidStreaming();
  auto* p = s.mutable_config()->mutable_context()->add_phrases();
  p->set_phrase("call aunt rosalind");
  p->set_boost(5);
  absl::Status status = Check(s);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("streaming_config.config.context"));
}

TEST(RequestConfigTest, UnaryFieldPathIsConfig) {
  pb::RecognitionConfig c;
  c.set_encoding(pb::LINEAR16);
  auto setup = ToRequestSetup(c, "config", false, false, RequestLimits{});
  EXPECT_EQ(std::string(setup.status().message()),
            "config.sample_rate_hertz: required for LINEAR16 (raw audio has no header)");
}

}  // namespace
}  // namespace ancat::service
