#include "asr/decoder/sentencepiece_pieces.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ancat::asr {
namespace {

// A protobuf wire-format reader over one message's bytes.
class Wire {
 public:
  explicit Wire(absl::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool done() const { return p_ >= end_; }

  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(*p_++);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // Reads a field key and, for length-delimited fields, the payload; skips other payloads.
  bool Next(int* field, int* wire_type, absl::string_view* payload, uint64_t* value) {
    uint64_t key;
    if (!Varint(&key)) return false;
    *field = static_cast<int>(key >> 3);
    *wire_type = static_cast<int>(key & 7);
    switch (*wire_type) {
      case 0:
        return Varint(value);
      case 1:
        return Skip(8);
      case 5:
        return Skip(4);
      case 2: {
        uint64_t n;
        if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
        *payload = absl::string_view(p_, n);
        p_ += n;
        return true;
      }
      default:
        return false;  // groups (3, 4) are not used by sentencepiece
    }
  }

 private:
  bool Skip(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
};

absl::StatusOr<SentencePiecePiece> ParsePiece(absl::string_view bytes) {
  SentencePiecePiece piece;
  Wire w(bytes);
  bool has_piece = false;
  while (!w.done()) {
    int field, type;
    absl::string_view payload;
    uint64_t value = 0;
    if (!w.Next(&field, &type, &payload, &value)) {
      return absl::InvalidArgumentError("corrupt SentencePiece entry");
    }
    if (field == 1 && type == 2) {
      piece.piece = std::string(payload);
      has_piece = true;
    } else if (field == 3 && type == 0) {
      if (value < SentencePiecePiece::kNormal || value > SentencePiecePiece::kByte) {
        return absl::InvalidArgumentError(absl::StrCat("unknown piece type ", value));
      }
      piece.type = static_cast<SentencePiecePiece::Type>(value);
    }
  }
  if (!has_piece) return absl::InvalidArgumentError("SentencePiece entry without a piece");
  return piece;
}

}  // namespace

absl::StatusOr<std::vector<SentencePiecePiece>> ParseSentencePieceModel(absl::string_view bytes) {
  std::vector<SentencePiecePiece> pieces;
  Wire w(bytes);
  while (!w.done()) {
    int field, type;
    absl::string_view payload;
    uint64_t value = 0;
    if (!w.Next(&field, &type, &payload, &value)) {
      return absl::InvalidArgumentError("not a sentencepiece model (corrupt protobuf)");
    }
    if (field != 1 || type != 2) continue;  // trainer/normalizer specs and the rest
    auto piece = ParsePiece(payload);
    if (!piece.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("piece ", pieces.size(), ": ", piece.status().message()));
    }
    pieces.push_back(std::move(*piece));
  }
  if (pieces.empty()) return absl::InvalidArgumentError("sentencepiece model has no pieces");
  return pieces;
}

absl::StatusOr<std::vector<SentencePiecePiece>> ReadSentencePieceModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tokenizer ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto pieces = ParseSentencePieceModel(buf.str());
  if (!pieces.ok()) {
    return absl::Status(pieces.status().code(), absl::StrCat(path, ": ", pieces.status().message()));
  }
  return pieces;
}

}  // namespace ancat::asr
