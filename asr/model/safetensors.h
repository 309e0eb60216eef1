// Reader for the safetensors format (8-byte little-endian header length, JSON header, raw
// little-endian data), used for model weights and for the parity goldens in tests.
#ifndef ANCAT_ASR_MODEL_SAFETENSORS_H_
#define ANCAT_ASR_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ancat::asr {

enum class DType { kF32, kBF16, kF16, kI32, kI64, kOther };
std::string DTypeName(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kOther;
  std::string dtype_name;          // as written in the file ("BF16", ...)
  std::vector<int64_t> shape;
  size_t offset = 0;               // byte offset into the data section
  size_t nbytes = 0;
  int64_t NumElements() const;
  std::string ShapeString() const; // "[3, 80]"
};

// A parsed safetensors file. The file is memory-mapped and stays mapped while the object lives.
class SafeTensors {
 public:
  static absl::StatusOr<SafeTensors> Open(const std::string& path);
  // Parses an in-memory copy (tests, fuzzing).
  static absl::StatusOr<SafeTensors> FromBuffer(std::string bytes, const std::string& name);

  SafeTensors(SafeTensors&&) noexcept;
  SafeTensors& operator=(SafeTensors&&) noexcept;
  ~SafeTensors();

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  absl::StatusOr<const TensorInfo*> Info(const std::string& name) const;

  // Converts F32/BF16/F16 to float. When `shape` is given, the tensor must have exactly it.
  absl::StatusOr<std::vector<float>> ReadFloat(const std::string& name,
                                               const std::vector<int64_t>* shape = nullptr) const;
  absl::StatusOr<std::vector<int32_t>> ReadInt32(const std::string& name) const;  // I32 or I64
  // Raw bytes of a tensor.
  absl::Span<const uint8_t> Bytes(const TensorInfo& info) const;

 private:
  SafeTensors() = default;
  absl::Status Parse(size_t file_size);

  std::string path_;
  struct Mapping;
  std::unique_ptr<Mapping> mapping_;  // mmap'd file or owned buffer
  const uint8_t* data_ = nullptr;     // start of the data section
  size_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// bf16 <-> f32 (round to nearest even), shared with the bf16 compute path.
float Bf16ToFloat(uint16_t v);
uint16_t FloatToBf16(float v);

}  // namespace ancat::asr

#endif  // ANCAT_ASR_MODEL_SAFETENSORS_H_
