// Turns the API's RecognitionConfig into the library's configs, checking every field first.
// Messages name the field as the client wrote it ("streaming_config.config.max_alternatives")
// so a caller can fix the request without reading server logs.
#ifndef ANCAT_SERVICE_REQUEST_CONFIG_H_
#define ANCAT_SERVICE_REQUEST_CONFIG_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "ancat/asr/v1/speech.pb.h"
#include "asr/audio/audio.h"
#include "asr/recognizer.h"

namespace ancat::service {

namespace pb = ::ancat::asr::v1;

// Everything one recognition needs from the request.
struct RequestSetup {
  asr::StreamConfig stream;       // for Recognizer::CreateStream
  asr::AudioFormatConfig audio;   // for StreamingAudioConverter
};

// Server-side defaults and bounds that the request is checked against.
struct RequestLimits {
  int model_sample_rate = asr::kModelSampleRate;
  int64_t max_container_bytes = 64 << 20;
};

// Checks `config`; `field` is the path of the config in the request, used in messages.
// Returns InvalidArgument naming the first bad field, or Unimplemented for features the
// recognizer does not offer.
absl::Status ValidateRecognitionConfig(const pb::RecognitionConfig& config,
                                       absl::string_view field);

// Validates and converts. `interim_results` / `single_utterance` come from the streaming
// config (false for unary calls).
absl::StatusOr<RequestSetup> ToRequestSetup(const pb::RecognitionConfig& config,
                                            absl::string_view field, bool interim_results,
                                            bool single_utterance,
                                            const RequestLimits& limits);

// Checks the streaming config message (the first message of a stream).
absl::StatusOr<RequestSetup> ToRequestSetup(const pb::StreamingRecognitionConfig& config,
                                            const RequestLimits& limits);

// True for encodings that arrive as a container read once the stream ends.
bool IsContainerEncoding(pb::AudioEncoding encoding);

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_REQUEST_CONFIG_H_
