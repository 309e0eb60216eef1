// Incremental Ogg Opus reading (libogg + libopus), for streams that arrive in chunks:
// libsndfile needs the whole file (it seeks to the end for the length), which would hold
// every interim result of an OGG_OPUS stream back until the client stops sending.
#ifndef ANCAT_ASR_AUDIO_INTERNAL_OGG_OPUS_STREAM_H_
#define ANCAT_ASR_AUDIO_INTERNAL_OGG_OPUS_STREAM_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ancat::asr::internal {

class OggOpusStream {
 public:
  // decode_rate: 8000, 12000, 16000, 24000 or 48000 (Opus decodes natively at these).
  // Output is mono (libopus downmixes stereo streams when asked for one channel).
  explicit OggOpusStream(int decode_rate);
  ~OggOpusStream();
  OggOpusStream(const OggOpusStream&) = delete;
  OggOpusStream& operator=(const OggOpusStream&) = delete;

  static bool IsOpusRate(int rate);

  // Appends the samples of every page completed by `bytes` (pre-skip and end trimming
  // applied). InvalidArgument for bytes that are not Ogg Opus or are corrupt.
  absl::Status Accept(std::string_view bytes, std::vector<float>* out);
  // DataLoss when the stream ends inside a page; InvalidArgument when no Opus header came.
  absl::Status Finish();

  // The encoder's original rate from the OpusHead (0 before it arrived).
  int input_rate() const { return input_rate_; }
  int channels() const { return channels_; }

 private:
  absl::Status OnPage(void* page, std::vector<float>* out);
  absl::Status OnHeader(const unsigned char* data, long size);
  absl::Status OnAudio(const unsigned char* data, long size, std::vector<float>* block);

  int decode_rate_;
  struct Ogg;
  std::unique_ptr<Ogg> ogg_;
  void* decoder_ = nullptr;  // OpusDecoder
  int packets_ = 0;          // packets seen in the logical stream (0: OpusHead, 1: OpusTags)
  int channels_ = 0;
  int input_rate_ = 0;
  int64_t pre_skip_left_ = 0;  // samples at decode_rate still to drop
  int64_t pre_skip_48k_ = 0;
  int64_t decoded_48k_ = 0;    // samples decoded so far, in 48 kHz units (granule scale)
  bool started_ = false;       // first page seen
  bool ended_ = false;         // end-of-stream page seen
  int64_t bytes_seen_ = 0;
};

}  // namespace ancat::asr::internal

#endif  // ANCAT_ASR_AUDIO_INTERNAL_OGG_OPUS_STREAM_H_
