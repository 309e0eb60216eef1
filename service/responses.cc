#include "service/responses.h"

#include <cmath>

namespace ancat::service {

void SetDuration(double seconds, google::protobuf::Duration* out) {
  if (!(seconds > 0)) seconds = 0;
  const int64_t nanos = std::llround(seconds * 1e9);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

void ToAlternative(const asr::Alternative& in, const asr::StreamConfig& config,
                   pb::SpeechRecognitionAlternative* out) {
  out->set_transcript(in.transcript);
  out->set_confidence(in.confidence);
  if (!config.word_time_offsets && !config.word_confidence) return;
  for (const asr::Word& w : in.words) {
    pb::WordInfo* word = out->add_words();
    word->set_word(w.text);
    if (config.word_time_offsets) {
      SetDuration(w.start_s, word->mutable_start_offset());
      SetDuration(w.end_s, word->mutable_end_offset());
    }
    if (config.word_confidence) word->set_confidence(w.confidence);
  }
}

void ToSpeechRecognitionResult(const asr::Result& in, const asr::StreamConfig& config,
                               pb::SpeechRecognitionResult* out) {
  for (const asr::Alternative& a : in.alternatives) ToAlternative(a, config, out->add_alternatives());
  SetDuration(in.end_s, out->mutable_result_end_offset());
  SetDuration(in.start_s, out->mutable_result_start_offset());
  out->mutable_lookahead_latency()->set_mean_ms(static_cast<float>(in.mean_lookahead_ms));
  out->mutable_lookahead_latency()->set_p90_ms(static_cast<float>(in.p90_lookahead_ms));
}

void ToModelInfo(const asr::ModelInfo& in, pb::ModelInfo* out) {
  out->set_name(in.name);
  out->set_version(in.version);
  out->set_sample_rate_hertz(in.sample_rate);
  for (int w : in.lookahead_ms) out->add_lookahead_ms(w);
  out->set_vocabulary_size(in.vocab_size);
  out->set_frame_ms(in.frame_ms);
  for (pb::AudioEncoding e : {pb::LINEAR16, pb::MULAW, pb::ENCODING_UNSPECIFIED, pb::FLAC,
                              pb::OGG_OPUS, pb::MP3}) {
    out->add_supported_encodings(e);
  }
}

std::vector<pb::StreamingRecognizeResponse> ResponseBuilder::Build(
    const std::vector<asr::Result>& results) {
  std::vector<pb::StreamingRecognizeResponse> out;
  for (const asr::Result& r : results) {
    if (!r.is_final && !config_.interim_results) continue;
    const bool has_text = !r.alternatives.empty() && !r.alternatives[0].transcript.empty();
    if (has_text && !speech_begun_) {
      // Its own message, so that an utterance that begins and ends in one result still
      // reports both events.
      speech_begun_ = true;
      pb::StreamingRecognizeResponse begin;
      begin.set_speech_event_type(pb::StreamingRecognizeResponse::SPEECH_ACTIVITY_BEGIN);
      SetDuration(r.start_s, begin.mutable_speech_event_offset());
      out.push_back(std::move(begin));
    }
    pb::StreamingRecognizeResponse response;
    pb::StreamingRecognitionResult* result = response.add_results();
    for (const asr::Alternative& a : r.alternatives) {
      ToAlternative(a, config_, result->add_alternatives());
      if (!r.is_final) break;  // partials carry the best hypothesis only
    }
    if (!r.is_final) {
      // Words belong to final results (speech.proto).
      for (auto& alt : *result->mutable_alternatives()) alt.clear_words();
    }
    result->set_is_final(r.is_final);
    result->set_stability(r.is_final ? 0.0f : r.stability);
    SetDuration(r.end_s, result->mutable_result_end_offset());
    SetDuration(r.start_s, result->mutable_result_start_offset());
    result->set_utterance_index(utterance_index_);
    result->mutable_lookahead_latency()->set_mean_ms(static_cast<float>(r.mean_lookahead_ms));
    result->mutable_lookahead_latency()->set_p90_ms(static_cast<float>(r.p90_lookahead_ms));
    if (r.end_of_utterance) {
      response.set_speech_event_type(pb::StreamingRecognizeResponse::SPEECH_ACTIVITY_END);
      SetDuration(r.end_s, response.mutable_speech_event_offset());
    }
    if (r.is_final) {
      ++utterance_index_;
      speech_begun_ = false;
    }
    out.push_back(std::move(response));
  }
  return out;
}

}  // namespace ancat::service
