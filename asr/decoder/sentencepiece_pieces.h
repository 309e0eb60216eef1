// The pieces of a sentencepiece model file (bpe.model), read without libsentencepiece.
//
// Why: Debian's libsentencepiece carries its own protobuf 3.14 code, and a process that
// also links the system protobuf 3.21 (every gRPC binary: ancat-server) aborts in
// protobuf's version check when sentencepiece parses a model. Decoding needs only the id ->
// piece table, which is a few fields of the ModelProto, so this reads them directly from the
// protobuf wire format: ModelProto.pieces (field 1, repeated) -> SentencePiece.piece
// (field 1, string) and .type (field 3, enum).
#ifndef ANCAT_ASR_DECODER_SENTENCEPIECE_PIECES_H_
#define ANCAT_ASR_DECODER_SENTENCEPIECE_PIECES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ancat::asr {

struct SentencePiecePiece {
  enum Type { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  std::string piece;
  Type type = kNormal;
};

// Pieces in id order.
absl::StatusOr<std::vector<SentencePiecePiece>> ParseSentencePieceModel(absl::string_view bytes);
absl::StatusOr<std::vector<SentencePiecePiece>> ReadSentencePieceModel(const std::string& path);

}  // namespace ancat::asr

#endif  // ANCAT_ASR_DECODER_SENTENCEPIECE_PIECES_H_
