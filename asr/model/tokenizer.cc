#include "asr/model/tokenizer.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "asr/model/internal/sentencepiece_wrapper.h"

namespace ancat::asr {

Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<internal::SentencePiece>();
  std::string error = t->sp_->Load(path);
  if (!error.empty()) return absl::NotFoundError(absl::StrCat("cannot load sentencepiece model ", path, ": ", error));
  int n = t->sp_->PieceSize();
  t->pieces_.resize(n);
  t->starts_word_.resize(n);
  static const std::string kWordStart = "\xe2\x96\x81";  // U+2581
  for (int i = 0; i < n; ++i) {
    t->pieces_[i] = t->sp_->IdToPiece(i);
    t->starts_word_[i] = t->pieces_[i].rfind(kWordStart, 0) == 0;
  }
  return t;
}

int Tokenizer::VocabSize() const { return static_cast<int>(pieces_.size()); }

const std::string& Tokenizer::IdToPiece(int id) const {
  static const std::string kEmpty;
  return id >= 0 && id < VocabSize() ? pieces_[id] : kEmpty;
}

int Tokenizer::PieceToId(const std::string& piece) const { return sp_->PieceToId(piece); }

bool Tokenizer::StartsWord(int id) const { return id >= 0 && id < VocabSize() && starts_word_[id]; }

std::string Tokenizer::Decode(absl::Span<const int> ids) const {
  return sp_->Decode(std::vector<int>(ids.begin(), ids.end()));
}

std::vector<int> Tokenizer::Encode(const std::string& text) const {
  return sp_->Encode(text);
}

}  // namespace ancat::asr
