// Library results -> API messages. Pure functions; the streaming call keeps the per-stream
// state (utterance index, whether speech has begun) in a ResponseBuilder.
#ifndef ANCAT_SERVICE_RESPONSES_H_
#define ANCAT_SERVICE_RESPONSES_H_

#include <vector>

#include "ancat/asr/v1/speech.pb.h"
#include "asr/recognizer.h"

namespace ancat::service {

namespace pb = ::ancat::asr::v1;

void SetDuration(double seconds, google::protobuf::Duration* out);

void ToAlternative(const asr::Alternative& in, const asr::StreamConfig& config,
                   pb::SpeechRecognitionAlternative* out);

// A final result of the unary call.
void ToSpeechRecognitionResult(const asr::Result& in, const asr::StreamConfig& config,
                               pb::SpeechRecognitionResult* out);

void ToModelInfo(const asr::ModelInfo& in, pb::ModelInfo* out);

// Turns the results of one stream into streaming responses, adding the speech events.
class ResponseBuilder {
 public:
  explicit ResponseBuilder(const asr::StreamConfig& config) : config_(config) {}

  // One response per result; a result that ends an utterance carries SPEECH_ACTIVITY_END, and
  // the first result with text in an utterance is preceded by a SPEECH_ACTIVITY_BEGIN message. Partials are dropped when interim results were not asked for.
  std::vector<pb::StreamingRecognizeResponse> Build(const std::vector<asr::Result>& results);

  int finals() const { return utterance_index_; }

 private:
  asr::StreamConfig config_;
  int utterance_index_ = 0;
  bool speech_begun_ = false;  // in the current utterance
};

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_RESPONSES_H_
