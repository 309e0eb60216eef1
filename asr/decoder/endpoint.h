// Endpointing: when does an utterance end? Silence is a run of blank-dominated frames, i.e.
// frames after the best hypothesis' last token.
#ifndef ANCAT_ASR_DECODER_ENDPOINT_H_
#define ANCAT_ASR_DECODER_ENDPOINT_H_

#include "asr/recognizer.h"

namespace ancat::asr {

struct EndpointInput {
  int utterance_frames = 0;  // encoder frames decoded since the utterance started
  int trailing_silence_frames = 0;  // frames since the last token (all frames if none)
  bool has_speech = false;   // the utterance has at least one token
};

enum class EndpointRule { kNone, kTrailingSilence, kLeadingSilence, kMaxLength };

// Which rule (if any) ends the utterance now. Rules with a value <= 0 are off.
EndpointRule DetectEndpoint(const EndpointConfig& config, int frame_ms,
                            const EndpointInput& input);

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_ENDPOINT_H_
