// Reading audio: good files in every container, the same bytes from memory, raw streams,
// downmix, and precise errors for empty, truncated, corrupt and unsupported inputs.
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
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

AudioBuffer MustRead(const std::string& name) {
  auto audio = ReadAudioFile(kAudio + name);
  EXPECT_TRUE(audio.ok()) << name << ": " << audio.status();
  return audio.ok() ? *audio : AudioBuffer{};
}

// Normalised cross-correlation at lag 0 (1 = same waveform up to gain).
double Correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = std::min(a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(aa * bb + 1e-30);
}

// RMS of each 100 ms at 16 kHz.
std::vector<float> Envelope(const std::vector<float>& x) {
  std::vector<float> env;
  for (size_t s = 0; s + 1600 <= x.size(); s += 1600) {
    double e = 0;
    for (size_t i = s; i < s + 1600; ++i) e += x[i] * x[i];
    env.push_back(static_cast<float>(std::sqrt(e / 1600)));
  }
  return env;
}

constexpr int64_t kSpeechFrames = 42960;  // speech_16k.*: 2.685 s at 16 kHz

TEST(ReadAudio, Wav) {
  AudioBuffer a = MustRead("speech_16k.wav");
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.num_channels, 1);
  EXPECT_EQ(a.NumFrames(), kSpeechFrames);
  EXPECT_NEAR(a.DurationSeconds(), 2.685, 1e-9);
  float peak = 0;
  for (float s : a.samples) peak = std::max(peak, std::abs(s));
  EXPECT_GT(peak, 0.05f);
  EXPECT_LE(peak, 1.0f);
}

TEST(ReadAudio, FlacIsLosslessCopyOfWav) {
  EXPECT_EQ(MustRead("speech_16k.flac").samples, MustRead("speech_16k.wav").samples);
}

TEST(ReadAudio, OggVorbisAndOpusDecodeToTheSameSpeech) {
  const AudioBuffer wav = MustRead("speech_16k.wav");
  for (const char* name : {"speech_16k.ogg", "speech_16k.opus"}) {
    AudioBuffer a = MustRead(name);
    EXPECT_EQ(a.sample_rate, 16000) << name;
    EXPECT_EQ(a.num_channels, 1) << name;
    EXPECT_NEAR(static_cast<double>(a.NumFrames()), kSpeechFrames, 16) << name;
    // Same speech: equal loudness in every 100 ms, waveforms alike. (speech_16k.wav came
    // from opusdec; libsndfile's Opus decode differs in codec noise fill, not in content:
    // measured waveform correlation 0.89 for Opus, 0.97 for the Vorbis re-encode.)
    EXPECT_GT(Correlation(Envelope(a.samples), Envelope(wav.samples)), 0.995) << name;
    EXPECT_GT(Correlation(a.samples, wav.samples), 0.85) << name;
  }
}

TEST(ReadAudio, EightKiloHertzAndStereo) {
  AudioBuffer narrow = MustRead("speech_8k.wav");
  EXPECT_EQ(narrow.sample_rate, 8000);
  EXPECT_EQ(narrow.NumFrames(), kSpeechFrames / 2);

  AudioBuffer stereo = MustRead("stereo_44k.wav");
  EXPECT_EQ(stereo.sample_rate, 44100);
  EXPECT_EQ(stereo.num_channels, 2);
  EXPECT_EQ(stereo.NumFrames(), 52920);  // 1.2 s
  // Right channel = left at half gain (up to 16-bit rounding and sox's dither).
  double err = 0;
  for (int64_t i = 0; i < stereo.NumFrames(); ++i) {
    err = std::max<double>(err, std::abs(stereo.samples[2 * i + 1] - 0.5f * stereo.samples[2 * i]));
  }
  EXPECT_LT(err, 3.0 / 32768);
}

TEST(ReadAudio, BytesGiveTheSameAsFiles) {
  for (const char* name : {"speech_16k.wav", "speech_16k.flac", "speech_16k.ogg",
                           "speech_16k.opus", "stereo_44k.wav", "speech_8k_mulaw.wav"}) {
    auto from_bytes = ReadAudioBytes(Bytes(name));
    ASSERT_TRUE(from_bytes.ok()) << name << ": " << from_bytes.status();
    AudioBuffer from_file = MustRead(name);
    EXPECT_EQ(from_bytes->samples, from_file.samples) << name;
    EXPECT_EQ(from_bytes->sample_rate, from_file.sample_rate) << name;
    EXPECT_EQ(from_bytes->num_channels, from_file.num_channels) << name;
  }
}

TEST(ReadAudio, Mp3WhereLibsndfileHasIt) {
  // libsndfile >= 1.1 reads and writes MP3 when built with mpg123 and LAME. Write one from
  // the WAV through libsndfile, then read it back through our code.
  const AudioBuffer wav = MustRead("speech_16k.wav");
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
  if (!sf_format_check(&info)) GTEST_SKIP() << "this libsndfile has no MP3 support";
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ancat_audio_test_" +
                                                 std::to_string(::getpid()) + ".mp3"))
          .string();
  SNDFILE* out = sf_open(path.c_str(), SFM_WRITE, &info);
  if (out == nullptr) GTEST_SKIP() << "cannot write MP3: " << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_float(out, wav.samples.data(), wav.NumFrames()), wav.NumFrames());
  sf_close(out);
  auto mp3 = ReadAudioFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(mp3.ok()) << mp3.status();
  EXPECT_EQ(mp3->sample_rate, 16000);
  EXPECT_EQ(mp3->num_channels, 1);
  EXPECT_NEAR(static_cast<double>(mp3->NumFrames()), kSpeechFrames, 2000);
  EXPECT_GT(mp3->NumFrames(), kSpeechFrames / 2);
}

// ---------------------------------------------------------------- errors

void ExpectError(const absl::StatusOr<AudioBuffer>& got, absl::StatusCode code,
                 const std::string& words, const std::string& what) {
  ASSERT_FALSE(got.ok()) << what << " read without error";
  EXPECT_EQ(got.status().code(), code) << what << ": " << got.status();
  EXPECT_NE(got.status().message().find(words), std::string::npos)
      << what << ": '" << got.status().message() << "' lacks '" << words << "'";
}

struct BadFile {
  const char* name;
  absl::StatusCode code;
  const char* words;
};

const BadFile kBadFiles[] = {
    {"garbage.wav", absl::StatusCode::kInvalidArgument, "not a recognised audio format"},
    {"not_audio.txt", absl::StatusCode::kInvalidArgument, "not a recognised audio format"},
    {"truncated.wav", absl::StatusCode::kDataLoss, "truncated"},
    {"header_only.wav", absl::StatusCode::kDataLoss, "truncated"},
    {"no_samples.wav", absl::StatusCode::kInvalidArgument, "no samples"},
    {"truncated.flac", absl::StatusCode::kDataLoss, "truncated"},
    {"corrupt.flac", absl::StatusCode::kDataLoss, "corrupt"},
};

TEST(ReadAudioErrors, BadFiles) {
  for (const BadFile& bad : kBadFiles) {
    ExpectError(ReadAudioFile(kAudio + bad.name), bad.code, bad.words, bad.name);
    // The message names the file.
    auto got = ReadAudioFile(kAudio + bad.name);
    EXPECT_NE(got.status().message().find(bad.name), std::string::npos) << got.status();
  }
}

TEST(ReadAudioErrors, BadBytes) {
  for (const BadFile& bad : kBadFiles) {
    ExpectError(ReadAudioBytes(Bytes(bad.name)), bad.code, bad.words, bad.name);
  }
}

TEST(ReadAudioErrors, EmptyMissingAndDirectory) {
  ExpectError(ReadAudioFile(kAudio + "empty.wav"), absl::StatusCode::kInvalidArgument, "empty",
              "empty.wav");
  ExpectError(ReadAudioBytes(""), absl::StatusCode::kInvalidArgument, "empty", "no bytes");
  ExpectError(ReadAudioFile(kAudio + "no_such_file.wav"), absl::StatusCode::kNotFound,
              "no such file", "missing file");
  ExpectError(ReadAudioFile(kAudio), absl::StatusCode::kInvalidArgument, "directory",
              "directory");
  auto missing = ReadAudioFileForModel(kAudio + "no_such_file.wav");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(ReadAudioErrors, TruncatedOggOpus) {
  // Cut inside the last Ogg page: libsndfile must not return audio as if nothing happened
  // silently beyond what the bytes hold; either an error or fewer samples than the header's.
  const std::string opus = Bytes("speech_16k.opus");
  auto cut = ReadAudioBytes(std::string_view(opus).substr(0, opus.size() / 2));
  if (cut.ok()) {
    EXPECT_LT(cut->NumFrames(), kSpeechFrames * 3 / 4);
  } else {
    EXPECT_TRUE(cut.status().code() == absl::StatusCode::kDataLoss ||
                cut.status().code() == absl::StatusCode::kInvalidArgument)
        << cut.status();
  }
}

TEST(ReadAudioErrors, MutatedBytesGiveAudioOrAnError) {
  // Flipped bytes and cuts anywhere: every result is audio within [-1, 1] or a status,
  // never a crash or a non-finite sample (the test runs under ASan/UBSan builds too).
  std::mt19937 rng(99);
  for (const char* name : {"speech_16k.wav", "speech_16k.flac", "speech_16k.ogg",
                           "speech_16k.opus", "speech_8k_mulaw.wav"}) {
    const std::string good = Bytes(name);
    int errors = 0;
    for (int trial = 0; trial < 60; ++trial) {
      std::string bytes = good;
      std::uniform_int_distribution<size_t> at(0, bytes.size() - 1);
      const int flips = 1 + trial % 8;
      for (int i = 0; i < flips; ++i) bytes[at(rng)] = static_cast<char>(rng());
      if (trial % 3 == 0) bytes.resize(at(rng));
      auto got = ReadAudioBytes(bytes);
      if (!got.ok()) {
        ++errors;
        EXPECT_FALSE(got.status().message().empty());
        continue;
      }
      for (float x : got->samples) ASSERT_TRUE(std::isfinite(x)) << name << " trial " << trial;
    }
    RecordProperty(std::string(name) + "_errors_of_60", errors);
  }
}

// ---------------------------------------------------------------- raw streams

TEST(RawAudio, Linear16MatchesWavData) {
  const std::string wav = Bytes("speech_16k.wav");
  auto raw = ReadRawAudio(std::string_view(wav).substr(44), RawEncoding::kLinear16, 16000, 1);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->samples, MustRead("speech_16k.wav").samples);
}

TEST(RawAudio, Linear16ValuesAndChannels) {
  const char bytes[] = {0x00, 0x00, 0x00, static_cast<char>(0x80), static_cast<char>(0xFF),
                        0x7F, static_cast<char>(0xFF), static_cast<char>(0xFF)};
  auto raw = ReadRawAudio(std::string_view(bytes, 8), RawEncoding::kLinear16, 8000, 2);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->NumFrames(), 2);
  EXPECT_EQ(raw->samples, (std::vector<float>{0.0f, -1.0f, 32767 / 32768.0f, -1 / 32768.0f}));
}

TEST(RawAudio, MulawMatchesLibsndfile) {
  auto raw = ReadRawAudio(Bytes("speech_8k.ul"), RawEncoding::kMulaw, 8000, 1);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->samples, MustRead("speech_8k_mulaw.wav").samples);
  // G.711 fixed points.
  const char codes[] = {static_cast<char>(0xFF), static_cast<char>(0x7F),
                        static_cast<char>(0x80), 0x00};
  auto values = ReadRawAudio(std::string_view(codes, 4), RawEncoding::kMulaw, 8000, 1);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(values->samples,
            (std::vector<float>{0.0f, 0.0f, 32124 / 32768.0f, -32124 / 32768.0f}));
}

TEST(RawAudio, Errors) {
  EXPECT_EQ(ReadRawAudio("abc", RawEncoding::kLinear16, 16000, 1).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadRawAudio("abcdef", RawEncoding::kLinear16, 16000, 2).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadRawAudio("", RawEncoding::kMulaw, 8000, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto rate = ReadRawAudio("ab", RawEncoding::kLinear16, 0, 1);
  EXPECT_NE(rate.status().message().find("sample_rate"), std::string::npos);
  auto channels = ReadRawAudio("ab", RawEncoding::kLinear16, 16000, 0);
  EXPECT_NE(channels.status().message().find("num_channels"), std::string::npos);
}

// ---------------------------------------------------------------- downmix

TEST(Downmix, AveragesChannels) {
  auto mono = DownmixToMono({1.0f, 0.0f, 0.5f, -0.5f, -1.0f, -0.5f}, 2);
  ASSERT_TRUE(mono.ok());
  EXPECT_EQ(*mono, (std::vector<float>{0.5f, 0.0f, -0.75f}));
  auto same = DownmixToMono({0.25f, 0.5f}, 1);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, (std::vector<float>{0.25f, 0.5f}));
  EXPECT_FALSE(DownmixToMono({1.0f, 2.0f, 3.0f}, 2).ok());
  EXPECT_FALSE(DownmixToMono({1.0f}, 0).ok());
}

TEST(ModelInput, EveryFileBecomes16kMono) {
  struct Case {
    const char* name;
    size_t samples;
  };
  for (const Case& c : {Case{"speech_16k.wav", 42960}, Case{"speech_8k.wav", 42960},
                        Case{"stereo_44k.wav", 19200}, Case{"speech_16k.flac", 42960}}) {
    auto mono = ReadAudioFileForModel(kAudio + c.name);
    ASSERT_TRUE(mono.ok()) << c.name << ": " << mono.status();
    EXPECT_EQ(mono->size(), c.samples) << c.name;
  }
  // The 8 kHz copy, back at 16 kHz, is the original without its 4-8 kHz band, which holds
  // 21.7% of this clip's energy: the correlation of the two is then sqrt(0.783) = 0.885.
  auto up = ReadAudioFileForModel(kAudio + "speech_8k.wav");
  EXPECT_NEAR(Correlation(*up, MustRead("speech_16k.wav").samples), 0.885, 0.01);
  // Stereo: left + right/2, averaged = 0.75 * left, at 16 kHz.
  auto stereo = ReadAudioFileForModel(kAudio + "stereo_44k.wav");
  std::vector<float> original = MustRead("speech_16k.wav").samples;
  original.resize(19200);
  EXPECT_GT(Correlation(*stereo, original), 0.9);
}

}  // namespace
}  // namespace ancat::asr
