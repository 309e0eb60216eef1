// Debian's sentencepiece header declares its own `absl::string_view`, which clashes with real
// Abseil; this wrapper keeps it in one translation unit that includes no Abseil header.
#ifndef ANCAT_ASR_MODEL_INTERNAL_SENTENCEPIECE_WRAPPER_H_
#define ANCAT_ASR_MODEL_INTERNAL_SENTENCEPIECE_WRAPPER_H_

#include <memory>
#include <string>
#include <vector>

namespace ancat::asr::internal {

class SentencePiece {
 public:
  SentencePiece();
  ~SentencePiece();
  // Empty string on success, else the error.
  std::string Load(const std::string& path);
  int PieceSize() const;
  std::string IdToPiece(int id) const;
  int PieceToId(const std::string& piece) const;
  std::string Decode(const std::vector<int>& ids) const;
  std::vector<int> Encode(const std::string& text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ancat::asr::internal

#endif  // ANCAT_ASR_MODEL_INTERNAL_SENTENCEPIECE_WRAPPER_H_
