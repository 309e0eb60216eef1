#include "service/request_config.h"

#include "absl/strings/str_cat.h"

namespace ancat::service {
namespace {

// Bounds documented in speech.proto; keep the two in step.
constexpr int kMinSampleRate = 8000;
constexpr int kMaxSampleRate = 48000;
constexpr int kMaxChannels = 8;
constexpr int kMaxAlternatives = 10;
constexpr int kMaxBeam = 16;
constexpr int kDefaultBeam = 4;
constexpr float kMaxLookaheadBias = 100.0f;
constexpr int kMaxLookaheadCapMs = 10000;
constexpr int kMaxTrailingSilenceMs = 10000;
constexpr int kMaxLeadingSilenceMs = 60000;
constexpr int kMaxUtteranceMs = 300000;
constexpr int kMaxCatalogs = 8;
constexpr int kMaxPhrases = 1000;
constexpr size_t kMaxPhraseBytes = 200;
constexpr float kMaxBoost = 20.0f;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status CheckRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return Bad(field, absl::StrCat(value, " is outside [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEncoding(const pb::RecognitionConfig& c, absl::string_view field) {
  const std::string f = absl::StrCat(field, ".");
  switch (c.encoding()) {
    case pb::LINEAR16:
    case pb::MULAW:
      if (c.sample_rate_hertz() == 0) {
        return Bad(f + "sample_rate_hertz",
                   absl::StrCat("required for ", pb::AudioEncoding_Name(c.encoding()),
                                " (raw audio has no header)"));
      }
      if (auto s = CheckRange(f + "sample_rate_hertz", c.sample_rate_hertz(), kMinSampleRate,
                              kMaxSampleRate);
          !s.ok()) {
        return s;
      }
      return CheckRange(f + "audio_channel_count", c.audio_channel_count(), 0, kMaxChannels);
    case pb::ENCODING_UNSPECIFIED:
    case pb::FLAC:
    case pb::OGG_OPUS:
    case pb::MP3:
      // Containers: the header gives rate and channels.
      if (c.sample_rate_hertz() < 0) {
        return Bad(f + "sample_rate_hertz", absl::StrCat(c.sample_rate_hertz(), " is negative"));
      }
      if (c.audio_channel_count() < 0) {
        return Bad(f + "audio_channel_count",
                   absl::StrCat(c.audio_channel_count(), " is negative"));
      }
      return absl::OkStatus();
    default:
      return Bad(f + "encoding", absl::StrCat(static_cast<int>(c.encoding()),
                                              " is not a supported AudioEncoding (use LINEAR16, "
                                              "MULAW, FLAC, OGG_OPUS, MP3 or "
                                              "ENCODING_UNSPECIFIED for WAV and other files)"));
  }
}

absl::Status ValidateDecoding(const pb::RecognitionConfig& c, absl::string_view field) {
  const std::string f = absl::StrCat(field, ".");
  if (auto s = CheckRange(f + "max_alternatives", c.max_alternatives(), 0, kMaxAlternatives);
      !s.ok()) {
    return s;
  }
  const pb::DecodingConfig& d = c.decoding();
  if (!pb::DecodingConfig::Method_IsValid(d.method())) {
    return Bad(f + "decoding.method",
               absl::StrCat(static_cast<int>(d.method()), " is not a DecodingConfig.Method"));
  }
  if (auto s = CheckRange(f + "decoding.beam_size", d.beam_size(), 0, kMaxBeam); !s.ok()) {
    return s;
  }
  const int alternatives = std::max(1, c.max_alternatives());
  if (d.method() == pb::DecodingConfig::GREEDY && alternatives > 1) {
    return Bad(f + "max_alternatives",
               absl::StrCat(alternatives, " needs beam search, but decoding.method is GREEDY"));
  }
  const int beam = d.beam_size() == 0 ? kDefaultBeam : d.beam_size();
  if (d.method() != pb::DecodingConfig::GREEDY && alternatives > beam) {
    return Bad(f + "max_alternatives",
               absl::StrCat(alternatives, " exceeds the beam size ", beam,
                            " (raise decoding.beam_size)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLatencyAndEndpointing(const pb::RecognitionConfig& c,
                                           absl::string_view field) {
  const std::string f = absl::StrCat(field, ".");
  const float bias = c.latency().lookahead_bias();
  if (!(bias >= 0.0f && bias <= kMaxLookaheadBias)) {  // also rejects NaN
    return Bad(f + "latency.lookahead_bias",
               absl::StrCat(bias, " is outside [0, ", kMaxLookaheadBias, "]"));
  }
  if (c.latency().has_max_lookahead_ms()) {
    if (auto s = CheckRange(f + "latency.max_lookahead_ms", c.latency().max_lookahead_ms(), 0,
                            kMaxLookaheadCapMs);
        !s.ok()) {
      return s;
    }
  }
  const pb::EndpointingConfig& e = c.endpointing();
  if (auto s = CheckRange(f + "endpointing.trailing_silence_ms", e.trailing_silence_ms(), 0,
                          kMaxTrailingSilenceMs);
      !s.ok()) {
    return s;
  }
  if (auto s = CheckRange(f + "endpointing.leading_silence_ms", e.leading_silence_ms(), 0,
                          kMaxLeadingSilenceMs);
      !s.ok()) {
    return s;
  }
  return CheckRange(f + "endpointing.max_utterance_ms", e.max_utterance_ms(), 0,
                    kMaxUtteranceMs);
}

absl::Status ValidateContext(const pb::RecognitionConfig& c, absl::string_view field) {
  if (!c.has_context()) return absl::OkStatus();
  const std::string f = absl::StrCat(field, ".context.");
  const pb::RecognitionContext& ctx = c.context();
  if (ctx.catalogs_size() > kMaxCatalogs) {
    return Bad(f + "catalogs", absl::StrCat(ctx.catalogs_size(), " catalogs, at most ",
                                            kMaxCatalogs, " allowed"));
  }
  for (int i = 0; i < ctx.catalogs_size(); ++i) {
    if (ctx.catalogs(i).empty()) return Bad(absl::StrCat(f, "catalogs[", i, "]"), "empty name");
  }
  if (ctx.phrases_size() > kMaxPhrases) {
    return Bad(f + "phrases", absl::StrCat(ctx.phrases_size(), " phrases, at most ",
                                           kMaxPhrases, " allowed"));
  }
  for (int i = 0; i < ctx.phrases_size(); ++i) {
    const pb::SpeechContextPhrase& p = ctx.phrases(i);
    const std::string pf = absl::StrCat(f, "phrases[", i, "].");
    if (p.phrase().empty()) return Bad(pf + "phrase", "empty");
    if (p.phrase().size() > kMaxPhraseBytes) {
      return Bad(pf + "phrase", absl::StrCat(p.phrase().size(), " bytes, at most ",
                                             kMaxPhraseBytes, " allowed"));
    }
    if (!(p.boost() >= 0.0f && p.boost() <= kMaxBoost)) {
      return Bad(pf + "boost", absl::StrCat(p.boost(), " is outside [0, ", kMaxBoost, "]"));
    }
  }
  if (ctx.catalogs_size() > 0 || ctx.phrases_size() > 0) {
    // asr::StreamConfig has no reranking context yet; refusing beats silently ignoring it.
    return absl::UnimplementedError(
        absl::StrCat(field, ".context: entity reranking is not available in this server "
                            "build; send the request without a context"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsContainerEncoding(pb::AudioEncoding encoding) {
  return encoding != pb::LINEAR16 && encoding != pb::MULAW;
}

absl::Status ValidateRecognitionConfig(const pb::RecognitionConfig& config,
                                       absl::string_view field) {
  if (auto s = ValidateEncoding(config, field); !s.ok()) return s;
  if (auto s = ValidateDecoding(config, field); !s.ok()) return s;
  if (auto s = ValidateLatencyAndEndpointing(config, field); !s.ok()) return s;
  return ValidateContext(config, field);
}

absl::StatusOr<RequestSetup> ToRequestSetup(const pb::RecognitionConfig& c,
                                            absl::string_view field, bool interim_results,
                                            bool single_utterance,
                                            const RequestLimits& limits) {
  if (auto s = ValidateRecognitionConfig(c, field); !s.ok()) return s;
  RequestSetup setup;

  asr::AudioFormatConfig& audio = setup.audio;
  switch (c.encoding()) {
    case pb::LINEAR16: audio.encoding = asr::AudioFormatConfig::Encoding::kLinear16; break;
    case pb::MULAW: audio.encoding = asr::AudioFormatConfig::Encoding::kMulaw; break;
    default: audio.encoding = asr::AudioFormatConfig::Encoding::kContainer; break;
  }
  if (!IsContainerEncoding(c.encoding())) {
    audio.sample_rate = c.sample_rate_hertz();
    audio.num_channels = std::max(1, c.audio_channel_count());
  }
  audio.output_sample_rate = limits.model_sample_rate;
  audio.max_container_bytes = limits.max_container_bytes;

  asr::StreamConfig& s = setup.stream;
  s.sample_rate = limits.model_sample_rate;  // the converter resamples to it
  s.interim_results = interim_results;
  s.single_utterance = single_utterance;
  s.word_time_offsets = c.enable_word_time_offsets();
  s.word_confidence = c.enable_word_confidence();

  s.latency.beta = c.latency().lookahead_bias();
  s.latency.max_lookahead_ms =
      c.latency().has_max_lookahead_ms() ? c.latency().max_lookahead_ms() : -1;

  const pb::DecodingConfig& d = c.decoding();
  s.decoding.method = d.method() == pb::DecodingConfig::GREEDY
                          ? asr::DecodingConfig::Method::kGreedy
                          : asr::DecodingConfig::Method::kModifiedBeam;
  if (d.beam_size() > 0) s.decoding.beam = d.beam_size();
  s.decoding.max_alternatives = std::max(1, c.max_alternatives());

  const pb::EndpointingConfig& e = c.endpointing();
  s.endpoint.enabled = !e.disable();
  if (e.trailing_silence_ms() > 0) s.endpoint.trailing_silence_ms = e.trailing_silence_ms();
  if (e.leading_silence_ms() > 0) s.endpoint.leading_silence_ms = e.leading_silence_ms();
  if (e.max_utterance_ms() > 0) s.endpoint.max_utterance_ms = e.max_utterance_ms();
  return setup;
}

absl::StatusOr<RequestSetup> ToRequestSetup(const pb::StreamingRecognitionConfig& config,
                                            const RequestLimits& limits) {
  if (!config.has_config()) {
    return absl::InvalidArgumentError("streaming_config.config: required");
  }
  return ToRequestSetup(config.config(), "streaming_config.config", config.interim_results(),
                        config.single_utterance(), limits);
}

}  // namespace ancat::service
