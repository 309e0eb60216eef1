#include "asr/audio/internal/ogg_opus_stream.h"

#include <ogg/ogg.h>
#include <opus/opus.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ancat::asr::internal {
namespace {

int ReadLe16(const unsigned char* p) { return p[0] | (p[1] << 8); }
uint32_t ReadLe32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

constexpr int kMaxFrame48k = 5760;  // 120 ms at 48 kHz: the longest Opus packet

}  // namespace

struct OggOpusStream::Ogg {
  ogg_sync_state sync;
  ogg_stream_state stream;
  bool stream_init = false;
  long serial = 0;
  Ogg() { ogg_sync_init(&sync); }
  ~Ogg() {
    ogg_sync_clear(&sync);
    if (stream_init) ogg_stream_clear(&stream);
  }
};

OggOpusStream::OggOpusStream(int decode_rate)
    : decode_rate_(decode_rate), ogg_(std::make_unique<Ogg>()) {}

OggOpusStream::~OggOpusStream() {
  if (decoder_ != nullptr) opus_decoder_destroy(static_cast<OpusDecoder*>(decoder_));
}

bool OggOpusStream::IsOpusRate(int rate) {
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

absl::Status OggOpusStream::Accept(std::string_view bytes, std::vector<float>* out) {
  // Say "not Ogg" on the first bytes rather than after buffering a whole stream of them.
  const int64_t before = bytes_seen_;
  bytes_seen_ += static_cast<int64_t>(bytes.size());
  if (before < 4) {
    static constexpr char kMagic[] = "OggS";
    for (size_t i = 0; i < bytes.size() && before + static_cast<int64_t>(i) < 4; ++i) {
      if (bytes[i] != kMagic[before + i]) {
        return absl::InvalidArgumentError("OGG_OPUS audio: not an Ogg stream (no 'OggS')");
      }
    }
  }
  if (bytes.empty()) return absl::OkStatus();
  char* buffer = ogg_sync_buffer(&ogg_->sync, static_cast<long>(bytes.size()));
  std::memcpy(buffer, bytes.data(), bytes.size());
  ogg_sync_wrote(&ogg_->sync, static_cast<long>(bytes.size()));
  ogg_page page;
  while (true) {
    const int got = ogg_sync_pageout(&ogg_->sync, &page);
    if (got == 0) break;  // need more bytes
    if (got < 0) return absl::InvalidArgumentError("OGG_OPUS audio: corrupt Ogg page");
    if (auto s = OnPage(&page, out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status OggOpusStream::OnPage(void* page_ptr, std::vector<float>* out) {
  auto* page = static_cast<ogg_page*>(page_ptr);
  if (!ogg_->stream_init) {
    if (!ogg_page_bos(page)) {
      return absl::InvalidArgumentError("OGG_OPUS audio: the first page does not begin a stream");
    }
    ogg_->serial = ogg_page_serialno(page);
    ogg_stream_init(&ogg_->stream, static_cast<int>(ogg_->serial));
    ogg_->stream_init = true;
  }
  if (ogg_page_serialno(page) != ogg_->serial) return absl::OkStatus();  // other streams
  if (ended_) return absl::OkStatus();  // chained streams after the first: ignored
  started_ = true;
  if (ogg_stream_pagein(&ogg_->stream, page) != 0) {
    return absl::InvalidArgumentError("OGG_OPUS audio: corrupt Ogg page");
  }
  std::vector<float> block;
  ogg_packet packet;
  while (true) {
    const int got = ogg_stream_packetout(&ogg_->stream, &packet);
    if (got == 0) break;
    if (got < 0) return absl::InvalidArgumentError("OGG_OPUS audio: Ogg pages missing (a gap)");
    const int index = packets_++;
    if (index == 0) {
      if (auto s = OnHeader(packet.packet, packet.bytes); !s.ok()) return s;
    } else if (index == 1) {
      if (packet.bytes < 8 || std::memcmp(packet.packet, "OpusTags", 8) != 0) {
        return absl::InvalidArgumentError("OGG_OPUS audio: missing OpusTags header");
      }
    } else if (auto s = OnAudio(packet.packet, packet.bytes, &block); !s.ok()) {
      return s;
    }
  }
  if (ogg_page_eos(page)) {
    ended_ = true;
    // The last page's granule position is the stream's true end (48 kHz units, pre-skip
    // included): the encoder's padding after it is dropped.
    const int64_t granule = ogg_page_granulepos(page);
    if (granule >= 0 && decoded_48k_ > granule) {
      const int64_t extra = (decoded_48k_ - granule) * decode_rate_ / 48000;
      block.resize(block.size() - static_cast<size_t>(std::min<int64_t>(extra, block.size())));
    }
  }
  out->insert(out->end(), block.begin(), block.end());
  return absl::OkStatus();
}

absl::Status OggOpusStream::OnHeader(const unsigned char* p, long size) {
  if (size < 19 || std::memcmp(p, "OpusHead", 8) != 0) {
    return absl::InvalidArgumentError(
        "OGG_OPUS audio: the Ogg stream is not Opus (no OpusHead; Vorbis or FLAC in Ogg "
        "need a container encoding)");
  }
  if ((p[8] >> 4) != 0) {
    return absl::UnimplementedError(absl::StrCat("OGG_OPUS audio: OpusHead version ", p[8]));
  }
  channels_ = p[9];
  pre_skip_48k_ = ReadLe16(p + 10);
  input_rate_ = static_cast<int>(ReadLe32(p + 12));
  const int gain_q8 = static_cast<int16_t>(ReadLe16(p + 16));
  const int mapping = p[18];
  if (channels_ < 1 || (mapping == 0 && channels_ > 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("OGG_OPUS audio: bad channel count ", channels_));
  }
  if (mapping != 0) {
    return absl::UnimplementedError(absl::StrCat(
        "OGG_OPUS audio: channel mapping family ", mapping,
        " (multistream, > 2 channels) is not supported; send mono or stereo"));
  }
  int error = OPUS_OK;
  // One output channel: libopus downmixes a stereo stream itself.
  OpusDecoder* decoder = opus_decoder_create(decode_rate_, 1, &error);
  if (decoder == nullptr || error != OPUS_OK) {
    return absl::InternalError(absl::StrCat("opus_decoder_create: ", opus_strerror(error)));
  }
  decoder_ = decoder;
  if (gain_q8 != 0) opus_decoder_ctl(decoder, OPUS_SET_GAIN(gain_q8));
  pre_skip_left_ = pre_skip_48k_ * decode_rate_ / 48000;
  return absl::OkStatus();
}

absl::Status OggOpusStream::OnAudio(const unsigned char* data, long size,
                                    std::vector<float>* block) {
  auto* decoder = static_cast<OpusDecoder*>(decoder_);
  const int max_frame = kMaxFrame48k * decode_rate_ / 48000;
  const size_t at = block->size();
  block->resize(at + static_cast<size_t>(max_frame));
  const int n = opus_decode_float(decoder, data, static_cast<opus_int32>(size),
                                  block->data() + at, max_frame, 0);
  if (n < 0) {
    block->resize(at);
    return absl::InvalidArgumentError(
        absl::StrCat("OGG_OPUS audio: corrupt Opus packet (", opus_strerror(n), ")"));
  }
  block->resize(at + static_cast<size_t>(n));
  decoded_48k_ += static_cast<int64_t>(n) * 48000 / decode_rate_;
  if (pre_skip_left_ > 0) {
    const int64_t drop = std::min<int64_t>(pre_skip_left_, n);
    block->erase(block->begin() + static_cast<ptrdiff_t>(at),
                 block->begin() + static_cast<ptrdiff_t>(at + drop));
    pre_skip_left_ -= drop;
  }
  // Opus decodes to floats slightly past +-1 at times; the model takes [-1, 1].
  for (size_t i = at; i < block->size(); ++i) (*block)[i] = std::clamp((*block)[i], -1.0f, 1.0f);
  return absl::OkStatus();
}

absl::Status OggOpusStream::Finish() {
  if (!started_ || decoder_ == nullptr) {
    return absl::InvalidArgumentError(
        bytes_seen_ == 0 ? "OGG_OPUS audio: empty (0 bytes)"
                         : "OGG_OPUS audio: the stream ended before its Opus header");
  }
  // Bytes that never completed a page: the stream was cut.
  if (!ended_ && ogg_->sync.fill > ogg_->sync.returned) {
    return absl::DataLossError(absl::StrCat(
        "OGG_OPUS audio: truncated: the stream ends inside an Ogg page (",
        ogg_->sync.fill - ogg_->sync.returned, " bytes left over)"));
  }
  return absl::OkStatus();
}

}  // namespace ancat::asr::internal
