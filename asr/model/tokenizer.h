// The model's sentencepiece BPE vocabulary (ids <-> pieces), through Debian's libsentencepiece.
#ifndef ANCAT_ASR_MODEL_TOKENIZER_H_
#define ANCAT_ASR_MODEL_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ancat::asr {
namespace internal {
class SentencePiece;
}

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  ~Tokenizer();

  int VocabSize() const;
  // The piece as stored, with "▁" (U+2581) marking a word start.
  const std::string& IdToPiece(int id) const;
  int PieceToId(const std::string& piece) const;  // unk id when absent
  bool StartsWord(int id) const;                  // piece begins with "▁"
  // Text of a token sequence ("▁" -> spaces, trimmed).
  std::string Decode(absl::Span<const int> ids) const;
  std::vector<int> Encode(const std::string& text) const;

 private:
  Tokenizer() = default;
  std::unique_ptr<internal::SentencePiece> sp_;
  std::vector<std::string> pieces_;
  std::vector<bool> starts_word_;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_MODEL_TOKENIZER_H_
