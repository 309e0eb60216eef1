#include "asr/audio/audio.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "asr/audio/internal/ogg_opus_stream.h"
#include "absl/strings/str_format.h"

namespace ancat::asr {
namespace {

// libsndfile reads from memory through its virtual I/O callbacks.
struct MemoryFile {
  std::string_view bytes;
  sf_count_t pos = 0;
};

sf_count_t MemLength(void* user) {
  return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes.size());
}
sf_count_t MemSeek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  sf_count_t base = whence == SEEK_CUR ? f->pos
                    : whence == SEEK_END ? static_cast<sf_count_t>(f->bytes.size())
                                         : 0;
  sf_count_t pos = base + offset;
  if (pos < 0) return -1;
  f->pos = pos;
  return pos;
}
sf_count_t MemRead(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(f->bytes.size());
  if (f->pos >= size || count <= 0) return 0;
  const sf_count_t n = std::min(count, size - f->pos);
  std::memcpy(ptr, f->bytes.data() + f->pos, static_cast<size_t>(n));
  f->pos += n;
  return n;
}
sf_count_t MemWrite(const void*, sf_count_t, void*) { return 0; }  // read-only
sf_count_t MemTell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

std::string SndfileLog(SNDFILE* file) {
  char log[4096] = {0};
  sf_command(file, SFC_GET_LOG_INFO, log, sizeof(log));
  return log;
}

// libsndfile repairs some damage silently (a WAV data chunk longer than the file is cut
// to the file); its log is the only place that says so.
bool LogSaysTruncated(const std::string& log) {
  // A WAV cut short logs "data : 85920 (should be 19956)". Writers that stream a WAV put
  // 0 or 0xFFFFFFFF there (length unknown when the header was written): not truncation.
  size_t pos = 0;
  while ((pos = log.find("data : ", pos)) != std::string::npos) {
    pos += 7;
    const size_t end = log.find('\n', pos);
    const std::string line = log.substr(pos, end == std::string::npos ? end : end - pos);
    long long declared = 0, actual = 0;
    if (std::sscanf(line.c_str(), "%lld (should be %lld)", &declared, &actual) == 2 &&
        declared > actual && declared != 0 && declared < 0xFFFFFFF0LL) {
      return true;
    }
  }
  return false;
}

absl::Status OpenError(SNDFILE* file, const std::string& what) {
  const int code = sf_error(file);
  const std::string reason = sf_strerror(file);
  switch (code) {
    case SF_ERR_UNRECOGNISED_FORMAT:
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": not a recognised audio format (", reason, ")"));
    case SF_ERR_UNSUPPORTED_ENCODING:
      return absl::UnimplementedError(
          absl::StrCat(what, ": audio encoding not supported by this libsndfile build (", reason,
                       ")"));
    case SF_ERR_MALFORMED_FILE:
      return absl::InvalidArgumentError(absl::StrCat(what, ": corrupt audio (", reason, ")"));
    default:
      return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read audio (", reason, ")"));
  }
}

// Reads every frame of an open file; closes it.
absl::StatusOr<AudioBuffer> ReadOpened(SNDFILE* file, const SF_INFO& info, const std::string& what) {
  struct Closer {
    SNDFILE* f;
    ~Closer() { sf_close(f); }
  } closer{file};
  if (info.channels < 1 || info.samplerate < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: corrupt header (%d channels, %d Hz)", what, info.channels, info.samplerate));
  }
  // Float files hold values past +-1 or NaN at worst; keep libsndfile from rescaling ints.
  sf_command(file, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

  AudioBuffer audio;
  audio.sample_rate = info.samplerate;
  audio.num_channels = info.channels;
  // info.frames is unknown (huge) for some streams; read in blocks rather than trusting it.
  constexpr sf_count_t kBlock = 16384;
  std::vector<float> block(static_cast<size_t>(kBlock) * info.channels);
  while (true) {
    const sf_count_t got = sf_readf_float(file, block.data(), kBlock);
    if (got <= 0) break;
    audio.samples.insert(audio.samples.end(), block.begin(),
                         block.begin() + static_cast<ptrdiff_t>(got * info.channels));
  }
  if (sf_error(file) != SF_ERR_NO_ERROR) {
    return absl::DataLossError(
        absl::StrCat(what, ": audio data is corrupt or truncated (", sf_strerror(file), ")"));
  }
  const int64_t frames = audio.NumFrames();
  const bool known_length = info.frames > 0 && info.frames < (int64_t{1} << 40);
  if (known_length && frames < info.frames) {
    return absl::DataLossError(absl::StrFormat(
        "%s: corrupt or truncated audio: the header promises %d frames, only %d could be read", what,
        info.frames, frames));
  }
  const std::string log = SndfileLog(file);
  if (LogSaysTruncated(log)) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated audio: the header promises more data than the file holds (%d frames "
        "readable)",
        what, frames));
  }
  if (frames == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the audio holds no samples"));
  }
  for (float& s : audio.samples) {
    if (!std::isfinite(s)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": corrupt audio (non-finite sample)"));
    }
  }
  return audio;
}

float MulawToFloat(uint8_t byte) {
  // G.711: invert, then sign / 3-bit exponent / 4-bit mantissa, bias 0x84.
  const uint8_t u = ~byte;
  const int exponent = (u >> 4) & 0x07;
  const int mantissa = u & 0x0F;
  const int magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  const int value = (u & 0x80) ? -magnitude : magnitude;
  return static_cast<float>(value) / 32768.0f;
}

// Converts whole raw frames; the caller keeps partial frames.
std::vector<float> ConvertRaw(std::string_view bytes, RawEncoding encoding) {
  std::vector<float> out;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (encoding == RawEncoding::kLinear16) {
    out.resize(bytes.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
      const auto v = static_cast<int16_t>(static_cast<uint16_t>(p[2 * i]) |
                                          (static_cast<uint16_t>(p[2 * i + 1]) << 8));
      out[i] = static_cast<float>(v) / 32768.0f;
    }
  } else {
    out.resize(bytes.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = MulawToFloat(p[i]);
  }
  return out;
}

absl::Status CheckRate(int rate, const char* field) {
  // 1 kHz .. 768 kHz covers telephone to studio; outside that the request is a mistake.
  if (rate < 1000 || rate > 768000) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be in [1000, 768000] Hz, got %d", field, rate));
  }
  return absl::OkStatus();
}

absl::Status CheckChannels(int channels, const char* field) {
  if (channels < 1 || channels > 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be in [1, 64], got %d", field, channels));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AudioBuffer> ReadAudioFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not an audio file"));
  }
  if (std::filesystem::file_size(path, ec) == 0 && !ec) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the file is empty (0 bytes)"));
  }
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr) return OpenError(nullptr, path);
  return ReadOpened(file, info, path);
}

absl::StatusOr<AudioBuffer> ReadAudioBytes(std::string_view bytes) {
  const std::string kWhat = "audio bytes";
  if (bytes.empty()) return absl::InvalidArgumentError("audio bytes: empty (0 bytes)");
  SF_VIRTUAL_IO io{MemLength, MemSeek, MemRead, MemWrite, MemTell};
  MemoryFile mem{bytes, 0};
  SF_INFO info{};
  SNDFILE* file = sf_open_virtual(&io, SFM_READ, &info, &mem);
  if (file == nullptr) return OpenError(nullptr, kWhat);
  return ReadOpened(file, info, kWhat);
}

std::string_view RawEncodingName(RawEncoding encoding) {
  return encoding == RawEncoding::kLinear16 ? "LINEAR16" : "MULAW";
}

int RawBytesPerSample(RawEncoding encoding) {
  return encoding == RawEncoding::kLinear16 ? 2 : 1;
}

absl::StatusOr<AudioBuffer> ReadRawAudio(std::string_view bytes, RawEncoding encoding,
                                         int sample_rate, int num_channels) {
  if (auto s = CheckRate(sample_rate, "sample_rate"); !s.ok()) return s;
  if (auto s = CheckChannels(num_channels, "num_channels"); !s.ok()) return s;
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(RawEncodingName(encoding)), " audio: empty (0 bytes)"));
  }
  const size_t frame_bytes = static_cast<size_t>(RawBytesPerSample(encoding)) * num_channels;
  if (bytes.size() % frame_bytes != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s audio: truncated: %d bytes is not a whole number of %d-byte frames",
        std::string(RawEncodingName(encoding)), bytes.size(), frame_bytes));
  }
  AudioBuffer audio;
  audio.samples = ConvertRaw(bytes, encoding);
  audio.sample_rate = sample_rate;
  audio.num_channels = num_channels;
  return audio;
}

absl::StatusOr<std::vector<float>> DownmixToMono(absl::Span<const float> interleaved,
                                                 int num_channels) {
  if (auto s = CheckChannels(num_channels, "num_channels"); !s.ok()) return s;
  if (interleaved.size() % static_cast<size_t>(num_channels) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "DownmixToMono: %d samples is not a multiple of %d channels", interleaved.size(),
        num_channels));
  }
  if (num_channels == 1) return std::vector<float>(interleaved.begin(), interleaved.end());
  const size_t frames = interleaved.size() / num_channels;
  std::vector<float> mono(frames);
  const float scale = 1.0f / static_cast<float>(num_channels);
  for (size_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int c = 0; c < num_channels; ++c) sum += interleaved[i * num_channels + c];
    mono[i] = sum * scale;
  }
  return mono;
}

absl::StatusOr<std::vector<float>> Resample(absl::Span<const float> mono, int from_rate,
                                            int to_rate) {
  auto resampler = StreamingResampler::Create(from_rate, to_rate);
  if (!resampler.ok()) return resampler.status();
  std::vector<float> out;
  out.reserve(static_cast<size_t>(
      std::llround(static_cast<double>(mono.size()) * to_rate / from_rate) + 1));
  if (auto s = (*resampler)->Accept(mono, &out); !s.ok()) return s;
  if (auto s = (*resampler)->Finish(&out); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<float>> ToModelInput(const AudioBuffer& audio) {
  auto mono = DownmixToMono(audio.samples, audio.num_channels);
  if (!mono.ok()) return mono.status();
  if (audio.sample_rate == kModelSampleRate) return mono;
  return Resample(*mono, audio.sample_rate, kModelSampleRate);
}

absl::StatusOr<std::vector<float>> ReadAudioFileForModel(const std::string& path) {
  auto audio = ReadAudioFile(path);
  if (!audio.ok()) return audio.status();
  return ToModelInput(*audio);
}

// ---------------------------------------------------------------- StreamingResampler

StreamingResampler::StreamingResampler(int from_rate, int to_rate, void* soxr)
    : from_rate_(from_rate), to_rate_(to_rate), soxr_(soxr) {}

StreamingResampler::~StreamingResampler() {
  if (soxr_ != nullptr) soxr_delete(static_cast<soxr_t>(soxr_));
}

absl::StatusOr<std::unique_ptr<StreamingResampler>> StreamingResampler::Create(int from_rate,
                                                                                int to_rate) {
  if (auto s = CheckRate(from_rate, "from_rate"); !s.ok()) return s;
  if (auto s = CheckRate(to_rate, "to_rate"); !s.ok()) return s;
  soxr_t soxr = nullptr;
  if (from_rate != to_rate) {
    soxr_error_t error = nullptr;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    // One thread: the service runs many streams, parallelism comes from there.
    const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
    soxr = soxr_create(from_rate, to_rate, 1, &error, &io, &quality, &runtime);
    if (soxr == nullptr || error != nullptr) {
      return absl::InternalError(absl::StrCat("soxr_create(", from_rate, " -> ", to_rate,
                                              "): ", error ? error : "unknown error"));
    }
  }
  return std::unique_ptr<StreamingResampler>(new StreamingResampler(from_rate, to_rate, soxr));
}

absl::Status StreamingResampler::Run(const float* in, size_t n, std::vector<float>* out) {
  auto* soxr = static_cast<soxr_t>(soxr_);
  const double ratio = static_cast<double>(to_rate_) / from_rate_;
  // in == nullptr flushes; soxr then writes until a call produces less than asked.
  size_t done_in = 0;
  while (true) {
    const size_t want = static_cast<size_t>((n - done_in) * ratio) + 64;
    const size_t base = out->size();
    out->resize(base + want);
    size_t idone = 0, odone = 0;
    soxr_error_t error = soxr_process(soxr, in ? in + done_in : nullptr, in ? n - done_in : 0,
                                      &idone, out->data() + base, want, &odone);
    out->resize(base + odone);
    if (error != nullptr) return absl::InternalError(absl::StrCat("soxr_process: ", error));
    done_in += idone;
    if (in != nullptr && done_in < n) continue;  // output buffer was full
    if (odone < want) break;                    // soxr has nothing more right now
  }
  return absl::OkStatus();
}

absl::Status StreamingResampler::Accept(absl::Span<const float> in, std::vector<float>* out) {
  if (finished_) return absl::FailedPreconditionError("StreamingResampler: Accept after Finish");
  if (in.empty()) return absl::OkStatus();
  consumed_ += static_cast<int64_t>(in.size());
  if (soxr_ == nullptr) {
    out->insert(out->end(), in.begin(), in.end());
    produced_ += static_cast<int64_t>(in.size());
    return absl::OkStatus();
  }
  const size_t before = out->size();
  if (auto s = Run(in.data(), in.size(), out); !s.ok()) return s;
  produced_ += static_cast<int64_t>(out->size() - before);
  return absl::OkStatus();
}

absl::Status StreamingResampler::Finish(std::vector<float>* out) {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  if (soxr_ == nullptr) return absl::OkStatus();
  const size_t before = out->size();
  if (auto s = Run(nullptr, 0, out); !s.ok()) return s;
  produced_ += static_cast<int64_t>(out->size() - before);
  // soxr's tail can differ from the ideal length by a sample; pin it so that callers
  // (and timestamps) can rely on round(n * to / from).
  const int64_t expected = static_cast<int64_t>(
      std::llround(static_cast<double>(consumed_) * to_rate_ / from_rate_));
  if (produced_ > expected) {
    const int64_t extra = std::min<int64_t>(produced_ - expected,
                                            static_cast<int64_t>(out->size() - before));
    out->resize(out->size() - static_cast<size_t>(extra));
    produced_ -= extra;
  }
  while (produced_ < expected) {
    out->push_back(0.0f);
    ++produced_;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- StreamingAudioConverter

absl::Status AudioFormatConfig::Validate() const {
  if (encoding == Encoding::kLinear16 || encoding == Encoding::kMulaw) {
    if (auto s = CheckRate(sample_rate, "AudioFormatConfig.sample_rate"); !s.ok()) return s;
    if (auto s = CheckChannels(num_channels, "AudioFormatConfig.num_channels"); !s.ok()) return s;
  }
  if (output_sample_rate != 0) {
    if (auto s = CheckRate(output_sample_rate, "AudioFormatConfig.output_sample_rate"); !s.ok())
      return s;
  }
  if (max_container_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AudioFormatConfig.max_container_bytes must be >= 1, got ", max_container_bytes));
  }
  return absl::OkStatus();
}

std::string AudioFormatConfig::ToString() const {
  const char* name = encoding == Encoding::kLinear16   ? "LINEAR16"
                     : encoding == Encoding::kMulaw    ? "MULAW"
                     : encoding == Encoding::kOggOpus  ? "OGG_OPUS"
                                                       : "CONTAINER";
  return absl::StrFormat(
      "AudioFormatConfig(encoding=%s, sample_rate=%d, num_channels=%d, output_sample_rate=%d, "
      "max_container_bytes=%d)",
      name, sample_rate, num_channels, output_sample_rate, max_container_bytes);
}

StreamingAudioConverter::StreamingAudioConverter(const AudioFormatConfig& config)
    : config_(config) {}
StreamingAudioConverter::~StreamingAudioConverter() = default;

absl::StatusOr<std::unique_ptr<StreamingAudioConverter>> StreamingAudioConverter::Create(
    const AudioFormatConfig& config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  std::unique_ptr<StreamingAudioConverter> converter(new StreamingAudioConverter(config));
  if (config.encoding == AudioFormatConfig::Encoding::kOggOpus) {
    const int out_rate = config.output_sample_rate;
    const int decode_rate = internal::OggOpusStream::IsOpusRate(out_rate) ? out_rate : 48000;
    converter->opus_ = std::make_unique<internal::OggOpusStream>(decode_rate);
    if (out_rate != 0 && out_rate != decode_rate) {
      auto resampler = StreamingResampler::Create(decode_rate, out_rate);
      if (!resampler.ok()) return resampler.status();
      converter->resampler_ = std::move(*resampler);
    }
    return converter;
  }
  if (config.encoding != AudioFormatConfig::Encoding::kContainer &&
      config.output_sample_rate != 0) {
    auto resampler = StreamingResampler::Create(config.sample_rate, config.output_sample_rate);
    if (!resampler.ok()) return resampler.status();
    converter->resampler_ = std::move(*resampler);
  }
  return converter;
}

absl::Status StreamingAudioConverter::Emit(std::vector<float> mono, int rate,
                                           std::vector<float>* out) {
  if (resampler_ != nullptr) return resampler_->Accept(mono, out);
  if (config_.output_sample_rate == 0 || rate == config_.output_sample_rate) {
    out->insert(out->end(), mono.begin(), mono.end());
    return absl::OkStatus();
  }
  auto resampled = Resample(mono, rate, config_.output_sample_rate);
  if (!resampled.ok()) return resampled.status();
  out->insert(out->end(), resampled->begin(), resampled->end());
  return absl::OkStatus();
}

absl::Status StreamingAudioConverter::Accept(std::string_view bytes, std::vector<float>* out) {
  if (finished_) return absl::FailedPreconditionError("audio arrived after the end of stream");
  if (config_.encoding == AudioFormatConfig::Encoding::kContainer) {
    if (static_cast<int64_t>(pending_.size() + bytes.size()) > config_.max_container_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "container audio larger than %d bytes; stream LINEAR16 or MULAW instead",
          config_.max_container_bytes));
    }
    pending_.append(bytes);
    return absl::OkStatus();
  }
  if (opus_ != nullptr) {
    std::vector<float> decoded;
    if (auto s = opus_->Accept(bytes, &decoded); !s.ok()) return s;
    input_frames_ += static_cast<int64_t>(decoded.size());
    if (resampler_ != nullptr) return resampler_->Accept(decoded, out);
    out->insert(out->end(), decoded.begin(), decoded.end());  // decoded at the output rate
    return absl::OkStatus();
  }
  const RawEncoding encoding = config_.encoding == AudioFormatConfig::Encoding::kLinear16
                                   ? RawEncoding::kLinear16
                                   : RawEncoding::kMulaw;
  const size_t frame_bytes =
      static_cast<size_t>(RawBytesPerSample(encoding)) * config_.num_channels;
  pending_.append(bytes);
  const size_t whole = pending_.size() - pending_.size() % frame_bytes;
  if (whole == 0) return absl::OkStatus();
  std::vector<float> samples = ConvertRaw(std::string_view(pending_).substr(0, whole), encoding);
  pending_.erase(0, whole);
  input_frames_ += static_cast<int64_t>(whole / frame_bytes);
  auto mono = DownmixToMono(samples, config_.num_channels);
  if (!mono.ok()) return mono.status();
  return Emit(std::move(*mono), config_.sample_rate, out);
}

absl::Status StreamingAudioConverter::Finish(std::vector<float>* out) {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  if (config_.encoding == AudioFormatConfig::Encoding::kContainer) {
    auto audio = ReadAudioBytes(pending_);
    pending_.clear();
    if (!audio.ok()) return audio.status();
    input_frames_ = audio->NumFrames();
    auto mono = DownmixToMono(audio->samples, audio->num_channels);
    if (!mono.ok()) return mono.status();
    return Emit(std::move(*mono), audio->sample_rate, out);
  }
  if (opus_ != nullptr) {
    if (auto s = opus_->Finish(); !s.ok()) return s;
    return resampler_ != nullptr ? resampler_->Finish(out) : absl::OkStatus();
  }
  if (!pending_.empty()) {
    const size_t left = pending_.size();
    pending_.clear();
    return absl::DataLossError(absl::StrFormat(
        "audio stream ends inside a frame: %d byte(s) left over (frames are %d bytes)", left,
        RawBytesPerSample(config_.encoding == AudioFormatConfig::Encoding::kLinear16
                              ? RawEncoding::kLinear16
                              : RawEncoding::kMulaw) *
            config_.num_channels));
  }
  return resampler_ != nullptr ? resampler_->Finish(out) : absl::OkStatus();
}

}  // namespace ancat::asr
