// Synthetic audio for the service tests: tone bursts separated by silence, so that
// FakeRecognizer's transcripts ("tone" per burst) are known in advance.
#ifndef ANCAT_TESTS_SERVICE_TEST_AUDIO_H_
#define ANCAT_TESTS_SERVICE_TEST_AUDIO_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ancat::service::testing {

// `bursts` bursts of a 440 Hz tone, each `tone_s` long and followed by `gap_s` of silence.
inline std::vector<float> ToneBursts(int bursts, double tone_s, double gap_s, int rate = 16000) {
  std::vector<float> out;
  for (int b = 0; b < bursts; ++b) {
    const int n = static_cast<int>(tone_s * rate);
    for (int i = 0; i < n; ++i) out.push_back(0.3f * std::sin(2 * M_PI * 440.0 * i / rate));
    out.resize(out.size() + static_cast<size_t>(gap_s * rate), 0.0f);
  }
  return out;
}

// Raw LINEAR16 little-endian bytes.
inline std::string ToLinear16(const std::vector<float>& samples) {
  std::string out(samples.size() * 2, '\0');
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto v = static_cast<int16_t>(std::lrint(samples[i] * 32767.0f));
    out[2 * i] = static_cast<char>(v & 0xff);
    out[2 * i + 1] = static_cast<char>((v >> 8) & 0xff);
  }
  return out;
}

// A mono 16-bit PCM WAV file's bytes.
inline std::string ToWav(const std::vector<float>& samples, int rate = 16000) {
  const std::string data = ToLinear16(samples);
  auto u32 = [](uint32_t v) {
    return std::string{static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
                       static_cast<char>((v >> 16) & 0xff), static_cast<char>(v >> 24)};
  };
  auto u16 = [](uint16_t v) {
    return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  };
  std::string wav = "RIFF" + u32(36 + static_cast<uint32_t>(data.size())) + "WAVEfmt " +
                    u32(16) + u16(1) + u16(1) + u32(rate) + u32(rate * 2) + u16(2) + u16(16) +
                    "data" + u32(static_cast<uint32_t>(data.size()));
  return wav + data;
}

}  // namespace ancat::service::testing

#endif  // ANCAT_TESTS_SERVICE_TEST_AUDIO_H_
