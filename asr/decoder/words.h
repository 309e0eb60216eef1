// Words from BPE pieces: a piece spelled with a leading '▁' starts a word. Times come from
// the frames the pieces were emitted at, confidences from the pieces' posteriors.
#ifndef ANCAT_ASR_DECODER_WORDS_H_
#define ANCAT_ASR_DECODER_WORDS_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "asr/decoder/lm_fusion.h"
#include "asr/decoder/search.h"
#include "asr/recognizer.h"

namespace ancat::asr {

struct AssembledText {
  std::string transcript;   // words joined by single spaces
  std::vector<Word> words;  // start_s = first piece's frame, end_s = last piece's frame + 1
  std::vector<int> first_token;  // index of each word's first token in the input
  float confidence = 0;     // geometric mean of the token posteriors (0 without tokens)
};

// frame_s: seconds per encoder frame.
AssembledText AssembleWords(absl::Span<const DecodedToken> tokens, const PieceTable& pieces,
                            double frame_s);

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_WORDS_H_
