// Resampling (libsoxr): a sine keeps its frequency and amplitude, lengths follow the rate
// ratio, streaming in any chunking equals one-shot; and the byte-stream converter.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "asr/audio/audio.h"
#include "gtest/gtest.h"

namespace ancat::asr {
namespace {

std::vector<float> Sine(double freq, double amplitude, int rate, size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(amplitude * std::sin(2 * M_PI * freq * i / rate));
  }
  return x;
}

// Amplitude of the `freq` component over x[begin, end) (single-bin DFT).
double ToneAmplitude(const std::vector<float>& x, double freq, int rate, size_t begin,
                     size_t end) {
  double re = 0, im = 0;
  for (size_t i = begin; i < end; ++i) {
    re += x[i] * std::cos(2 * M_PI * freq * i / rate);
    im += x[i] * std::sin(2 * M_PI * freq * i / rate);
  }
  return 2 * std::hypot(re, im) / static_cast<double>(end - begin);
}

TEST(Resample, SineSurvives44kTo16k) {
  const int from = 44100, to = 16000;
  const auto in = Sine(1000.0, 0.5, from, from);  // 1 s
  auto out = Resample(in, from, to);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 16000u);
  // Away from the edges (filter ramp), the output is the same sine sampled at 16 kHz:
  // same phase (soxr compensates its delay), same amplitude.
  const auto ideal = Sine(1000.0, 0.5, to, 16000);
  double max_err = 0;
  for (size_t i = 800; i < 15200; ++i) max_err = std::max<double>(max_err, std::abs((*out)[i] - ideal[i]));
  EXPECT_LT(max_err, 2e-3);
  EXPECT_NEAR(ToneAmplitude(*out, 1000.0, to, 800, 15200), 0.5, 2e-3);
  // Nothing left at other frequencies.
  EXPECT_LT(ToneAmplitude(*out, 1500.0, to, 800, 15200), 1e-3);
}

TEST(Resample, ToneAboveNewNyquistIsRemoved) {
  // 10 kHz cannot exist at 16 kHz: it must be filtered, not folded to 6 kHz.
  const auto in = Sine(10000.0, 0.5, 44100, 44100);
  auto out = Resample(in, 44100, 16000);
  ASSERT_TRUE(out.ok());
  EXPECT_LT(ToneAmplitude(*out, 6000.0, 16000, 800, 15200), 1e-3);
}

TEST(Resample, Upsample8kTo16k) {
  const auto in = Sine(440.0, 0.8, 8000, 8000);
  auto out = Resample(in, 8000, 16000);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 16000u);
  EXPECT_NEAR(ToneAmplitude(*out, 440.0, 16000, 800, 15200), 0.8, 3e-3);
}

TEST(Resample, LengthFollowsRatio) {
  for (int from : {8000, 11025, 22050, 32000, 44100, 48000, 96000}) {
    for (size_t n : {1u, 2u, 7u, 160u, 4410u, 12345u}) {
      std::vector<float> in(n, 0.1f);
      auto out = Resample(in, from, 16000);
      ASSERT_TRUE(out.ok()) << from;
      EXPECT_EQ(static_cast<int64_t>(out->size()),
                std::llround(static_cast<double>(n) * 16000 / from))
          << from << " Hz, " << n << " samples";
    }
  }
}

TEST(Resample, SameRateIsACopy) {
  const auto in = Sine(300.0, 0.3, 16000, 1000);
  auto out = Resample(in, 16000, 16000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, in);
}

TEST(Resample, BadRates) {
  EXPECT_EQ(Resample({0.1f}, 0, 16000).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Resample({0.1f}, 44100, -5).status().message().find("to_rate"), std::string::npos);
  EXPECT_FALSE(StreamingResampler::Create(10'000'000, 16000).ok());
}

TEST(StreamingResampler, AnyChunkingEqualsOneShot) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.2f);
  std::vector<float> in(44100 * 2);
  for (float& x : in) x = noise(rng);
  for (int from : {44100, 8000, 48000}) {
    auto oneshot = Resample(in, from, 16000);
    ASSERT_TRUE(oneshot.ok());
    for (size_t max_chunk : {1u, 37u, 4096u, 100000u}) {
      auto r = StreamingResampler::Create(from, 16000);
      ASSERT_TRUE(r.ok());
      std::vector<float> out;
      std::uniform_int_distribution<size_t> size(0, max_chunk);
      const size_t limit = max_chunk == 1 ? 5000 : in.size();  // 1-sample chunks: a prefix
      size_t pos = 0;
      while (pos < limit) {
        const size_t n = std::min(max_chunk == 1 ? 1 : size(rng), limit - pos);
        ASSERT_TRUE((*r)->Accept(absl::MakeConstSpan(in).subspan(pos, n), &out).ok());
        pos += n;
      }
      ASSERT_TRUE((*r)->Finish(&out).ok());
      std::vector<float> want = *oneshot;
      if (limit < in.size()) {
        auto prefix = Resample(absl::MakeConstSpan(in).subspan(0, limit), from, 16000);
        ASSERT_TRUE(prefix.ok());
        want = *prefix;
      }
      ASSERT_EQ(out.size(), want.size()) << from << " chunks <= " << max_chunk;
      double max_diff = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        max_diff = std::max<double>(max_diff, std::abs(out[i] - want[i]));
      }
      EXPECT_LT(max_diff, 1e-5) << from << " chunks <= " << max_chunk;
    }
  }
}

TEST(StreamingResampler, ReleasesOutputBeforeTheEnd) {
  // A server needs samples while the stream is still open, not only at Finish().
  auto r = StreamingResampler::Create(48000, 16000);
  ASSERT_TRUE(r.ok());
  std::vector<float> out;
  const auto chunk = Sine(500.0, 0.5, 48000, 4800);  // 100 ms
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*r)->Accept(chunk, &out).ok());
  EXPECT_GT(out.size(), 14000u);  // of 16000; soxr holds back only its filter length
  ASSERT_TRUE((*r)->Finish(&out).ok());
  EXPECT_EQ(out.size(), 16000u);
  EXPECT_EQ((*r)->Accept(chunk, &out).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*r)->Finish(&out).ok());  // idempotent
  EXPECT_EQ(out.size(), 16000u);
}

// ---------------------------------------------------------------- StreamingAudioConverter

std::string Linear16Bytes(const std::vector<float>& interleaved) {
  std::string bytes;
  for (float x : interleaved) {
    const auto v = static_cast<int16_t>(std::lround(x * 32767.0f));
    bytes.push_back(static_cast<char>(v & 0xFF));
    bytes.push_back(static_cast<char>((v >> 8) & 0xFF));
  }
  return bytes;
}

TEST(StreamingAudioConverter, Linear16StereoInOddChunks) {
  // 44.1 kHz stereo, 0.5 s; chunks of odd byte counts split samples and frames.
  std::vector<float> stereo;
  const auto left = Sine(700.0, 0.4, 44100, 22050);
  for (float x : left) stereo.push_back(x), stereo.push_back(-0.5f * x);
  const std::string bytes = Linear16Bytes(stereo);

  AudioFormatConfig config;
  config.encoding = AudioFormatConfig::Encoding::kLinear16;
  config.sample_rate = 44100;
  config.num_channels = 2;
  auto converter = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(converter.ok()) << converter.status();
  std::vector<float> out;
  for (size_t pos = 0; pos < bytes.size(); pos += 333) {
    ASSERT_TRUE((*converter)->Accept(std::string_view(bytes).substr(pos, 333), &out).ok());
  }
  ASSERT_TRUE((*converter)->Finish(&out).ok());
  EXPECT_EQ((*converter)->input_frames(), 22050);

  auto raw = ReadRawAudio(bytes, RawEncoding::kLinear16, 44100, 2);
  ASSERT_TRUE(raw.ok());
  auto want = ToModelInput(*raw);
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(out.size(), want->size());
  ASSERT_EQ(out.size(), 8000u);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], (*want)[i], 1e-5) << i;
  // (0.4 - 0.2) / 2: the average of the two channels.
  EXPECT_NEAR(ToneAmplitude(out, 700.0, 16000, 400, 7600), 0.1, 1e-3);
}

TEST(StreamingAudioConverter, MulawKeepsInputRateWhenAsked) {
  AudioFormatConfig config;
  config.encoding = AudioFormatConfig::Encoding::kMulaw;
  config.sample_rate = 8000;
  config.output_sample_rate = 0;
  auto converter = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(converter.ok());
  std::vector<float> out;
  const char codes[] = {static_cast<char>(0xFF), static_cast<char>(0x80), 0x00};
  ASSERT_TRUE((*converter)->Accept(std::string_view(codes, 3), &out).ok());
  EXPECT_EQ(out, (std::vector<float>{0.0f, 32124 / 32768.0f, -32124 / 32768.0f}));
  ASSERT_TRUE((*converter)->Finish(&out).ok());
}

TEST(StreamingAudioConverter, PartialFrameAtEndIsDataLoss) {
  AudioFormatConfig config;  // LINEAR16 mono 16 kHz
  auto converter = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(converter.ok());
  std::vector<float> out;
  ASSERT_TRUE((*converter)->Accept(std::string("\x01\x02\x03", 3), &out).ok());
  ASSERT_EQ(out.size(), 1u);  // one whole sample (16 kHz in and out: no resampling delay)
  EXPECT_FLOAT_EQ(out[0], 0x0201 / 32768.0f);
  auto finish = (*converter)->Finish(&out);
  EXPECT_EQ(finish.code(), absl::StatusCode::kDataLoss) << finish;
  EXPECT_EQ((*converter)->Accept("ab", &out).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StreamingAudioConverter, ContainerIsReadAtFinish) {
  AudioFormatConfig config;
  config.encoding = AudioFormatConfig::Encoding::kContainer;
  auto converter = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(converter.ok());
  auto file = ReadAudioFileForModel(std::string(ANCAT_TEST_DATA_DIR) + "/audio/stereo_44k.wav");
  ASSERT_TRUE(file.ok());
  // Feed the file's bytes in pieces.
  std::string bytes;
  {
    FILE* f = std::fopen((std::string(ANCAT_TEST_DATA_DIR) + "/audio/stereo_44k.wav").c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
    std::fclose(f);
  }
  std::vector<float> out;
  for (size_t pos = 0; pos < bytes.size(); pos += 1000) {
    ASSERT_TRUE((*converter)->Accept(std::string_view(bytes).substr(pos, 1000), &out).ok());
  }
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE((*converter)->Finish(&out).ok());
  EXPECT_EQ(out, *file);

  // Garbage in a container stream fails at Finish with the reader's message.
  auto bad = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE((*bad)->Accept("definitely not audio", &out).ok());
  auto status = (*bad)->Finish(&out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not a recognised audio format"), std::string::npos) << status;
}

TEST(StreamingAudioConverter, ContainerSizeLimit) {
  AudioFormatConfig config;
  config.encoding = AudioFormatConfig::Encoding::kContainer;
  config.max_container_bytes = 10;
  auto converter = StreamingAudioConverter::Create(config);
  ASSERT_TRUE(converter.ok());
  std::vector<float> out;
  EXPECT_TRUE((*converter)->Accept("0123456789", &out).ok());
  EXPECT_EQ((*converter)->Accept("x", &out).code(), absl::StatusCode::kResourceExhausted);
}

TEST(AudioFormatConfig, ValidateNamesTheField) {
  AudioFormatConfig c;
  EXPECT_TRUE(c.Validate().ok()) << c.ToString();
  c.num_channels = 0;
  EXPECT_NE(c.Validate().message().find("AudioFormatConfig.num_channels"), std::string::npos);
  c = AudioFormatConfig{};
  c.sample_rate = 100;
  EXPECT_NE(c.Validate().message().find("AudioFormatConfig.sample_rate"), std::string::npos);
  c = AudioFormatConfig{};
  c.output_sample_rate = -1;
  EXPECT_NE(c.Validate().message().find("output_sample_rate"), std::string::npos);
  c = AudioFormatConfig{};
  c.encoding = AudioFormatConfig::Encoding::kContainer;
  c.sample_rate = 0;  // ignored: the header says
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_NE(c.ToString().find("CONTAINER"), std::string::npos);
  EXPECT_FALSE(StreamingAudioConverter::Create([] {
                 AudioFormatConfig bad;
                 bad.num_channels = 65;
                 return bad;
               }())
                   .ok());
}

}  // namespace
}  // namespace ancat::asr
