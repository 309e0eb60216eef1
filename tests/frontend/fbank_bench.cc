// Throughput of the audio front end, in seconds of audio per second of CPU (counter
// "audio_s_per_s" = 1 / real-time factor). One core; no peer in this binary, so these are
// absolute figures for this machine, not comparisons.
//   build-x/tests/frontend/fbank_bench
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "asr/audio/audio.h"
#include "asr/frontend/fbank.h"

namespace ancat::asr {
namespace {

std::vector<float> Noise(size_t n) {
  std::vector<float> x(n);
  uint32_t s = 12345;
  for (float& v : x) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int32_t>(s) >> 8) / (1 << 23) * 0.3f;
  }
  return x;
}

// Streaming fbank, 10 s of 16 kHz audio in chunks of state.range(0) samples.
void BM_OnlineFbank(benchmark::State& state) {
  auto computer = FbankComputer::Create(FbankConfig{});
  const auto audio = Noise(160000);
  const size_t chunk = static_cast<size_t>(state.range(0));
  std::vector<float> frames;
  for (auto _ : state) {
    OnlineFbank fbank(*computer);
    for (size_t pos = 0; pos < audio.size(); pos += chunk) {
      const size_t n = std::min(chunk, audio.size() - pos);
      (void)fbank.AcceptWaveform(absl::MakeConstSpan(audio).subspan(pos, n));
      frames.clear();
      fbank.PopFrames(&frames);
      benchmark::DoNotOptimize(frames.data());
    }
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(10.0 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OnlineFbank)->Arg(160)->Arg(1600)->Arg(160000)->Unit(benchmark::kMillisecond);

// Streaming resampling to 16 kHz, 10 s of input in 100 ms chunks.
void BM_StreamingResampler(benchmark::State& state) {
  const int from = static_cast<int>(state.range(0));
  const auto audio = Noise(static_cast<size_t>(from) * 10);
  const size_t chunk = static_cast<size_t>(from / 10);
  std::vector<float> out;
  for (auto _ : state) {
    auto r = StreamingResampler::Create(from, 16000);
    out.clear();
    for (size_t pos = 0; pos < audio.size(); pos += chunk) {
      (void)(*r)->Accept(absl::MakeConstSpan(audio).subspan(pos, chunk), &out);
    }
    (void)(*r)->Finish(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(10.0 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamingResampler)->Arg(8000)->Arg(44100)->Arg(48000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ancat::asr

BENCHMARK_MAIN();
