#include "asr/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {

struct SafeTensors::Mapping {
  void* addr = nullptr;   // mmap'd region, or null when `owned` holds the bytes
  size_t size = 0;
  std::string owned;
  ~Mapping() {
    if (addr != nullptr) munmap(addr, size);
  }
  const uint8_t* bytes() const {
    return addr != nullptr ? static_cast<const uint8_t*>(addr)
                           : reinterpret_cast<const uint8_t*>(owned.data());
  }
};

std::string DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    default: return "other";
  }
}

static DType ParseDType(const std::string& s, size_t* size) {
  if (s == "F32") { *size = 4; return DType::kF32; }
  if (s == "BF16") { *size = 2; return DType::kBF16; }
  if (s == "F16") { *size = 2; return DType::kF16; }
  if (s == "I32") { *size = 4; return DType::kI32; }
  if (s == "I64") { *size = 8; return DType::kI64; }
  if (s == "F64" || s == "U64") { *size = 8; return DType::kOther; }
  if (s == "I16" || s == "U16") { *size = 2; return DType::kOther; }
  if (s == "U32") { *size = 4; return DType::kOther; }
  *size = 1;
  return DType::kOther;
}

int64_t TensorInfo::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::ShapeString() const { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

float Bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

static float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exp = 127 - 15 + 1;
      while ((man & 0x400u) == 0) { man <<= 1; --exp; }
      bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

SafeTensors::~SafeTensors() = default;
SafeTensors::SafeTensors(SafeTensors&&) noexcept = default;
SafeTensors& SafeTensors::operator=(SafeTensors&&) noexcept = default;

absl::StatusOr<SafeTensors> SafeTensors::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open safetensors file ", path, ": ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot stat ", path));
  }
  SafeTensors out;
  out.path_ = path;
  out.mapping_ = std::make_unique<Mapping>();
  size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot mmap ", path, ": ", std::strerror(errno)));
    }
    out.mapping_->addr = addr;
    out.mapping_->size = size;
  }
  ::close(fd);
  absl::Status s = out.Parse(size);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<SafeTensors> SafeTensors::FromBuffer(std::string bytes, const std::string& name) {
  SafeTensors out;
  out.path_ = name;
  out.mapping_ = std::make_unique<Mapping>();
  size_t size = bytes.size();
  out.mapping_->owned = std::move(bytes);
  absl::Status s = out.Parse(size);
  if (!s.ok()) return s;
  return out;
}

absl::Status SafeTensors::Parse(size_t file_size) {
  const uint8_t* base = mapping_->bytes();
  if (file_size < 8) return absl::DataLossError(absl::StrCat(path_, ": truncated safetensors file (", file_size, " bytes, no header length)"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > file_size - 8) {
    return absl::DataLossError(absl::StrCat(path_, ": truncated safetensors file (header of ", header_len,
                                            " bytes, file has ", file_size, ")"));
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(base + 8),
                                   reinterpret_cast<const char*>(base + 8 + header_len));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path_, ": bad safetensors header JSON: ", e.what()));
  }
  if (!header.is_object()) return absl::DataLossError(absl::StrCat(path_, ": safetensors header is not an object"));
  data_ = base + 8 + header_len;
  data_size_ = file_size - 8 - header_len;
  for (auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) continue;
      for (auto& [k, v] : value.items()) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets")) {
      return absl::DataLossError(absl::StrCat(path_, ": tensor '", name, "' lacks dtype/shape/data_offsets"));
    }
    TensorInfo info;
    info.name = name;
    try {
      info.dtype_name = value["dtype"].get<std::string>();
      info.shape = value["shape"].get<std::vector<int64_t>>();
      auto offsets = value["data_offsets"].get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[1] < offsets[0]) {
        return absl::DataLossError(absl::StrCat(path_, ": tensor '", name, "' has bad data_offsets"));
      }
      info.offset = offsets[0];
      info.nbytes = offsets[1] - offsets[0];
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat(path_, ": tensor '", name, "': ", e.what()));
    }
    size_t elem = 1;
    info.dtype = ParseDType(info.dtype_name, &elem);
    for (int64_t d : info.shape) {
      if (d < 0) return absl::DataLossError(absl::StrCat(path_, ": tensor '", name, "' has a negative dimension"));
    }
    if (static_cast<uint64_t>(info.NumElements()) * elem != info.nbytes) {
      return absl::DataLossError(absl::StrCat(path_, ": tensor '", name, "' ", info.dtype_name, info.ShapeString(),
                                              " needs ", info.NumElements() * elem, " bytes, offsets give ", info.nbytes));
    }
    if (info.offset + info.nbytes > data_size_) {
      return absl::DataLossError(absl::StrCat(path_, ": truncated safetensors file: tensor '", name,
                                              "' ends at byte ", info.offset + info.nbytes, " of a ", data_size_,
                                              "-byte data section"));
    }
    tensors_[name] = std::move(info);
  }
  return absl::OkStatus();
}

absl::StatusOr<const TensorInfo*> SafeTensors::Info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return absl::NotFoundError(absl::StrCat(path_, ": missing tensor '", name, "'"));
  return &it->second;
}

absl::Span<const uint8_t> SafeTensors::Bytes(const TensorInfo& info) const {
  return absl::Span<const uint8_t>(data_ + info.offset, info.nbytes);
}

absl::StatusOr<std::vector<float>> SafeTensors::ReadFloat(const std::string& name,
                                                          const std::vector<int64_t>* shape) const {
  auto info_or = Info(name);
  if (!info_or.ok()) return info_or.status();
  const TensorInfo& info = **info_or;
  if (shape != nullptr && info.shape != *shape) {
    TensorInfo want;
    want.shape = *shape;
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor '", name, "' has shape ", info.ShapeString(),
                                                   ", expected ", want.ShapeString()));
  }
  const uint8_t* p = data_ + info.offset;
  size_t n = static_cast<size_t>(info.NumElements());
  std::vector<float> out(n);
  switch (info.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), p, n * 4);
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = Bf16ToFloat(v);
      }
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = HalfToFloat(v);
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor '", name, "' has dtype ", info.dtype_name,
                                                     ", expected F32, BF16 or F16"));
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> SafeTensors::ReadInt32(const std::string& name) const {
  auto info_or = Info(name);
  if (!info_or.ok()) return info_or.status();
  const TensorInfo& info = **info_or;
  const uint8_t* p = data_ + info.offset;
  size_t n = static_cast<size_t>(info.NumElements());
  std::vector<int32_t> out(n);
  if (info.dtype == DType::kI32) {
    std::memcpy(out.data(), p, n * 4);
  } else if (info.dtype == DType::kI64) {
    for (size_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      out[i] = static_cast<int32_t>(v);
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor '", name, "' has dtype ", info.dtype_name,
                                                   ", expected I32 or I64"));
  }
  return out;
}

}  // namespace ancat::asr
