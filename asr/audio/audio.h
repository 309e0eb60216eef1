// Audio reading and conversion: bytes or files in, float samples in [-1, 1] out.
//
// Container formats (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3, ... whatever libsndfile 1.2 was
// built with) are detected from the bytes, never from a file name. Raw telephone-style
// streams (LINEAR16 little-endian, MULAW) carry no header, so the caller names the encoding,
// rate and channel count. Everything the model sees is mono at 16 kHz: DownmixToMono and
// Resample (libsoxr) get it there; StreamingAudioConverter does all of it chunk by chunk.
//
// Errors are absl::Status with a message a client can act on:
//   InvalidArgument  empty input, bad parameters, corrupt or unrecognised bytes
//   DataLoss         truncated input (the header promises more audio than the bytes hold)
//   Unimplemented    a format libsndfile knows but cannot read in this build
//   NotFound         a file that does not exist
#ifndef ANCAT_ASR_AUDIO_AUDIO_H_
#define ANCAT_ASR_AUDIO_AUDIO_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ancat::asr {
namespace internal {
class OggOpusStream;
}

// The rate every model takes (models/FORMAT.md, frontend.sample_rate).
inline constexpr int kModelSampleRate = 16000;

// Samples in [-1, 1], interleaved by channel: frame i is samples[i*num_channels ...].
struct AudioBuffer {
  std::vector<float> samples;
  int sample_rate = 0;
  int num_channels = 0;

  int64_t NumFrames() const {
    return num_channels > 0 ? static_cast<int64_t>(samples.size()) / num_channels : 0;
  }
  double DurationSeconds() const {
    return sample_rate > 0 ? static_cast<double>(NumFrames()) / sample_rate : 0.0;
  }
};

// Reads a whole audio file (any container libsndfile reads). Keeps rate and channels.
absl::StatusOr<AudioBuffer> ReadAudioFile(const std::string& path);

// The same for a file held in memory (e.g. a gRPC `bytes` field or an HTTP body).
absl::StatusOr<AudioBuffer> ReadAudioBytes(std::string_view bytes);

// Headerless sample streams.
enum class RawEncoding {
  kLinear16,  // signed 16-bit little-endian PCM
  kMulaw,     // G.711 mu-law, 8 bits per sample
};
std::string_view RawEncodingName(RawEncoding encoding);

// Bytes per sample of a raw encoding (2 for LINEAR16, 1 for MULAW).
int RawBytesPerSample(RawEncoding encoding);

// Converts a complete raw stream. The byte count must hold whole frames
// (num_channels samples each); a partial frame at the end is reported as DataLoss.
absl::StatusOr<AudioBuffer> ReadRawAudio(std::string_view bytes, RawEncoding encoding,
                                         int sample_rate, int num_channels);

// Averages the channels of interleaved samples. num_channels must be >= 1 and divide
// samples.size(); num_channels == 1 returns a copy.
absl::StatusOr<std::vector<float>> DownmixToMono(absl::Span<const float> interleaved,
                                                 int num_channels);

// Resamples mono samples (libsoxr, high quality, linear phase). Same output as feeding
// the samples through a StreamingResampler in any chunking and calling Finish().
// Equal rates return a copy. Output length is round(n * to_rate / from_rate).
absl::StatusOr<std::vector<float>> Resample(absl::Span<const float> mono, int from_rate,
                                            int to_rate);

// Downmix + resample to kModelSampleRate: what the recognizer takes.
absl::StatusOr<std::vector<float>> ToModelInput(const AudioBuffer& audio);

// ReadAudioFile + ToModelInput.
absl::StatusOr<std::vector<float>> ReadAudioFileForModel(const std::string& path);

// Resamples a mono stream that arrives in chunks of any size (including 0 or 1 sample).
// Output is appended to `out` as soon as soxr releases it; Finish() flushes the filter tail.
// Not thread-safe; one per stream.
class StreamingResampler {
 public:
  static absl::StatusOr<std::unique_ptr<StreamingResampler>> Create(int from_rate, int to_rate);
  ~StreamingResampler();
  StreamingResampler(const StreamingResampler&) = delete;
  StreamingResampler& operator=(const StreamingResampler&) = delete;

  int from_rate() const { return from_rate_; }
  int to_rate() const { return to_rate_; }

  // FailedPrecondition after Finish().
  absl::Status Accept(absl::Span<const float> in, std::vector<float>* out);
  // Releases what the filter still holds. Later calls do nothing.
  absl::Status Finish(std::vector<float>* out);

 private:
  StreamingResampler(int from_rate, int to_rate, void* soxr);
  absl::Status Run(const float* in, size_t n, std::vector<float>* out);

  int from_rate_;
  int to_rate_;
  void* soxr_;  // soxr_t; null when the rates are equal (pass-through)
  bool finished_ = false;
  int64_t consumed_ = 0;  // input samples taken
  int64_t produced_ = 0;  // output samples given out
};

// The format of audio arriving over a stream (the service's audio chunks).
struct AudioFormatConfig {
  enum class Encoding {
    kLinear16,   // raw, needs sample_rate and num_channels
    kMulaw,      // raw, needs sample_rate and num_channels
    kContainer,  // a file format with a header (WAV, FLAC, OGG/Opus, ...): read at Finish()
    kOggOpus,    // Ogg Opus (mono or stereo), read page by page as it arrives
  };
  Encoding encoding = Encoding::kLinear16;
  int sample_rate = 16000;   // raw encodings; ignored for kContainer/kOggOpus (header says)
  int num_channels = 1;      // raw encodings; ignored for kContainer/kOggOpus
  // 0 = keep the input rate (no resampling; kOggOpus then gives 48 kHz, Opus's own rate).
  // kOggOpus decodes natively at 8/12/16/24/48 kHz, other rates go through the resampler.
  int output_sample_rate = kModelSampleRate;
  int64_t max_container_bytes = 64 << 20;     // container bytes buffered at most

  absl::Status Validate() const;
  std::string ToString() const;
};

// Bytes in (any chunking, a sample may straddle two chunks), mono floats out at
// output_sample_rate. Raw encodings produce output per chunk, Ogg Opus per completed Ogg page
// (about every 20 ms to 1 s, as the encoder paged it); other container formats cannot be
// read before their end is known, so they are buffered and produced by Finish().
class StreamingAudioConverter {
 public:
  static absl::StatusOr<std::unique_ptr<StreamingAudioConverter>> Create(
      const AudioFormatConfig& config);
  ~StreamingAudioConverter();

  const AudioFormatConfig& config() const { return config_; }

  // Appends converted samples to `out`.
  absl::Status Accept(std::string_view bytes, std::vector<float>* out);
  // End of stream: DataLoss if a partial frame is left over; reads buffered containers.
  absl::Status Finish(std::vector<float>* out);

  // Input frames taken so far: at the input rate for raw encodings, at the decoding rate
  // for kOggOpus, after Finish() for kContainer.
  int64_t input_frames() const { return input_frames_; }

 private:
  explicit StreamingAudioConverter(const AudioFormatConfig& config);
  absl::Status Emit(std::vector<float> mono, int rate, std::vector<float>* out);

  AudioFormatConfig config_;
  std::string pending_;  // raw: bytes of an incomplete frame; container: the whole stream
  std::unique_ptr<StreamingResampler> resampler_;
  std::unique_ptr<internal::OggOpusStream> opus_;
  int64_t input_frames_ = 0;
  bool finished_ = false;
};

}  // namespace ancat::asr

#endif  // ANCAT_ASR_AUDIO_AUDIO_H_
