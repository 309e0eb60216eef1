// Streaming Ogg Opus (StreamingAudioConverter with kOggOpus): samples come out page by page
// as bytes arrive, the same for any chunking, trimmed exactly as the file says, and equal in
// content to libsndfile's whole-file reading.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "asr/audio/audio.h"
#include "gtest/gtest.h"

namespace ancat::asr {
namespace {

const std::string kAudio = std::string(ANCAT_TEST_DATA_DIR) + "/audio/";

std::string Bytes(const std::string& name) {
  std::ifstream in(kAudio + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<StreamingAudioConverter> OpusConverter(int output_rate = 16000) {
  AudioFormatConfig config;
  config.encoding = AudioFormatConfig::Encoding::kOggOpus;
  config.output_sample_rate = output_rate;
  auto converter = StreamingAudioConverter::Create(config);
  EXPECT_TRUE(converter.ok()) << converter.status();
  return converter.ok() ? std::move(*converter) : nullptr;
}

absl::StatusOr<std::vector<float>> Stream(const std::string& bytes, size_t chunk,
                                          int output_rate = 16000) {
  auto converter = OpusConverter(output_rate);
  std::vector<float> out;
  for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
    if (auto s = converter->Accept(std::string_view(bytes).substr(pos, chunk), &out); !s.ok())
      return s;
  }
  if (auto s = converter->Finish(&out); !s.ok()) return s;
  return out;
}

double Correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = std::min(a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(aa * bb + 1e-30);
}

TEST(OggOpusStream, LengthAndContentMatchTheFile) {
  auto got = Stream(Bytes("speech_16k.opus"), 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status();
  // Last granule 129192 at 48 kHz minus pre-skip 312 = 128880 = 42960 at 16 kHz.
  EXPECT_EQ(got->size(), 42960u);
  // libsndfile also decodes natively at 16 kHz: the same samples (but for our clamping).
  auto sndfile = ReadAudioFile(kAudio + "speech_16k.opus");
  ASSERT_TRUE(sndfile.ok());
  ASSERT_EQ(sndfile->samples.size(), got->size());
  double max_diff = 0;
  for (size_t i = 0; i < got->size(); ++i) {
    const float want = std::clamp(sndfile->samples[i], -1.0f, 1.0f);
    max_diff = std::max<double>(max_diff, std::abs((*got)[i] - want));
  }
  EXPECT_LT(max_diff, 1e-6);
  // opusdec's decode (the WAV; it decodes at 48 kHz and resamples): same speech, aligned.
  auto wav = ReadAudioFile(kAudio + "speech_16k.wav");
  ASSERT_TRUE(wav.ok());
  EXPECT_GT(Correlation(*got, wav->samples), 0.85);
  for (float x : *got) ASSERT_LE(std::abs(x), 1.0f);
}

TEST(OggOpusStream, AnyChunkingGivesTheSameSamples) {
  const std::string bytes = Bytes("speech_16k.opus");
  auto whole = Stream(bytes, bytes.size());
  ASSERT_TRUE(whole.ok());
  for (size_t chunk : {1u, 7u, 100u, 4096u}) {
    auto got = Stream(bytes, chunk);
    ASSERT_TRUE(got.ok()) << chunk << ": " << got.status();
    EXPECT_EQ(*got, *whole) << "chunks of " << chunk;
  }
}

TEST(OggOpusStream, SamplesComeBeforeTheEnd) {
  const std::string bytes = Bytes("speech_16k.opus");
  auto converter = OpusConverter();
  std::vector<float> out;
  ASSERT_TRUE(converter->Accept(std::string_view(bytes).substr(0, bytes.size() / 2), &out).ok());
  EXPECT_GT(out.size(), 42960u / 4);  // pages are ~1 s here (opusenc's default)
  ASSERT_TRUE(converter->Accept(std::string_view(bytes).substr(bytes.size() / 2), &out).ok());
  ASSERT_TRUE(converter->Finish(&out).ok());
  EXPECT_EQ(out.size(), 42960u);
}

TEST(OggOpusStream, StereoAndOtherRates) {
  const std::string bytes = Bytes("stereo_44k.opus");
  // Decoded natively at 48 kHz (output rate 0), 16 kHz, and via soxr at 22.05 kHz.
  auto at48 = Stream(bytes, 333, 0);
  auto at16 = Stream(bytes, 333, 16000);
  auto at22 = Stream(bytes, 333, 22050);
  ASSERT_TRUE(at48.ok()) << at48.status();
  ASSERT_TRUE(at16.ok()) << at16.status();
  ASSERT_TRUE(at22.ok()) << at22.status();
  // 1.2 s of audio (opusenc records the length in the last granule).
  EXPECT_EQ(at48->size(), 57600u);
  EXPECT_EQ(at16->size(), 19200u);
  EXPECT_EQ(at22->size(), 26460u);
  // The stereo WAV it came from, downmixed to 16 kHz: left + right/2 averaged.
  auto wav = ReadAudioFileForModel(kAudio + "stereo_44k.wav");
  ASSERT_TRUE(wav.ok());
  EXPECT_GT(Correlation(*at16, *wav), 0.8);
}

TEST(OggOpusStream, Errors) {
  // Not Ogg: refused on the first bytes, not after the whole stream.
  auto converter = OpusConverter();
  std::vector<float> out;
  auto wav = converter->Accept(Bytes("speech_16k.wav").substr(0, 100), &out);
  EXPECT_EQ(wav.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wav.message().find("not an Ogg stream"), std::string::npos) << wav;

  // Ogg, but Vorbis.
  auto vorbis = Stream(Bytes("speech_16k.ogg"), 512);
  EXPECT_EQ(vorbis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(vorbis.status().message().find("not Opus"), std::string::npos) << vorbis.status();

  // Cut inside a page.
  const std::string opus = Bytes("speech_16k.opus");
  auto cut = Stream(opus.substr(0, opus.size() - 100), 512);
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss) << cut.status();

  // Cut inside the header pages: no audio, no header.
  auto header_cut = Stream(opus.substr(0, 30), 512);
  EXPECT_FALSE(header_cut.ok());

  // Nothing at all.
  auto empty = OpusConverter();
  auto status = empty->Finish(&out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("empty"), std::string::npos) << status;

  // A damaged page (its checksum fails): reported, not decoded as if nothing happened.
  std::string damaged = opus;
  for (size_t i = damaged.size() / 2; i < damaged.size() / 2 + 50; ++i) damaged[i] ^= 0x5A;
  auto got = Stream(damaged, 1000);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  EXPECT_NE(got.status().message().find("corrupt"), std::string::npos) << got.status();
}

TEST(OggOpusStream, MutatedBytesGiveAudioOrAnError) {
  std::mt19937 rng(5);
  for (const char* name : {"speech_16k.opus", "stereo_44k.opus"}) {
    const std::string good = Bytes(name);
    for (int trial = 0; trial < 80; ++trial) {
      std::string bytes = good;
      std::uniform_int_distribution<size_t> at(0, bytes.size() - 1);
      for (int i = 0; i <= trial % 5; ++i) bytes[at(rng)] = static_cast<char>(rng());
      if (trial % 4 == 0) bytes.resize(at(rng));
      auto got = Stream(bytes, 1 + trial * 37 % 900);
      if (!got.ok()) continue;
      for (float x : *got) ASSERT_TRUE(std::abs(x) <= 1.0f) << name << " trial " << trial;
    }
  }
}

}  // namespace
}  // namespace ancat::asr
