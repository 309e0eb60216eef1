#include "asr/decoder/endpoint.h"

namespace ancat::asr {

EndpointRule DetectEndpoint(const EndpointConfig& config, int frame_ms,
                            const EndpointInput& input) {
  if (!config.enabled) return EndpointRule::kNone;
  const int silence_ms = input.trailing_silence_frames * frame_ms;
  if (input.has_speech && config.trailing_silence_ms > 0 &&
      silence_ms >= config.trailing_silence_ms) {
    return EndpointRule::kTrailingSilence;
  }
  if (!input.has_speech && config.leading_silence_ms > 0 &&
      silence_ms >= config.leading_silence_ms) {
    return EndpointRule::kLeadingSilence;
  }
  if (config.max_utterance_ms > 0 &&
      input.utterance_frames * frame_ms >= config.max_utterance_ms) {
    return EndpointRule::kMaxLength;
  }
  return EndpointRule::kNone;
}

}  // namespace ancat::asr
