#include "asr/model/internal/sentencepiece_wrapper.h"

#include <sentencepiece_processor.h>

namespace ancat::asr::internal {

struct SentencePiece::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePiece::SentencePiece() : impl_(std::make_unique<Impl>()) {}
SentencePiece::~SentencePiece() = default;

std::string SentencePiece::Load(const std::string& path) {
  auto s = impl_->sp.Load(path);
  return s.ok() ? "" : s.ToString();
}

int SentencePiece::PieceSize() const { return impl_->sp.GetPieceSize(); }
std::string SentencePiece::IdToPiece(int id) const { return impl_->sp.IdToPiece(id); }
int SentencePiece::PieceToId(const std::string& piece) const { return impl_->sp.PieceToId(piece); }

std::string SentencePiece::Decode(const std::vector<int>& ids) const {
  std::string out;
  impl_->sp.Decode(ids, &out).IgnoreError();
  return out;
}

std::vector<int> SentencePiece::Encode(const std::string& text) const {
  std::vector<int> ids;
  impl_->sp.Encode(text, &ids).IgnoreError();
  return ids;
}

}  // namespace ancat::asr::internal
