#include "client/bench/stream_bench.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_format.h"
#include "client/bench/system.h"

namespace ancat::bench {

namespace {

constexpr int kRate = 16000;

std::string FinalText(std::vector<asr::Result> results, std::string text) {
  for (const auto& r : results) {
    if (r.is_final && !r.alternatives.empty() && !r.alternatives[0].transcript.empty()) {
      if (!text.empty()) text += " ";
      text += r.alternatives[0].transcript;
    }
  }
  return text;
}

// Repeats `pass` until min_seconds have passed (at least twice: the first is a warm-up).
template <typename Pass>
absl::StatusOr<TimedRun> Repeat(double audio_s, double min_seconds, Pass pass) {
  std::vector<double> walls, cpus;
  std::string text;
  double start = WallSeconds();
  for (int i = 0; i < 2 || WallSeconds() - start < min_seconds; ++i) {
    double w0 = WallSeconds(), c0 = ProcessCpuSeconds();
    auto t = pass();
    if (!t.ok()) return t.status();
    if (i == 0) continue;  // warm-up
    walls.push_back(WallSeconds() - w0);
    cpus.push_back(ProcessCpuSeconds() - c0);
    text = *t;
  }
  TimedRun r;
  r.audio_s = audio_s;
  r.wall_s = Percentile(walls, 50);
  r.cpu_s = Percentile(cpus, 50);
  r.runs = static_cast<int>(walls.size());
  r.text = text;
  return r;
}

}  // namespace

absl::StatusOr<TimedRun> MeasureStreaming(asr::Recognizer& rec, const asr::StreamConfig& config,
                                          absl::Span<const float> samples, int chunk_ms,
                                          double min_seconds) {
  const size_t chunk = static_cast<size_t>(chunk_ms) * kRate / 1000;
  auto pass = [&]() -> absl::StatusOr<std::string> {
    auto stream = rec.CreateStream(config);
    if (!stream.ok()) return stream.status();
    asr::Stream* s = stream->get();
    std::string text;
    for (size_t pos = 0; pos < samples.size(); pos += chunk) {
      auto st = s->AcceptWaveform(samples.subspan(pos, std::min(chunk, samples.size() - pos)));
      if (!st.ok()) return st;
      if (st = rec.DecodeStreams({&s, 1}); !st.ok()) return st;
      text = FinalText(s->TakeResults(), text);
    }
    s->InputFinished();
    while (!s->IsDone()) {
      if (auto st = rec.DecodeStreams({&s, 1}); !st.ok()) return st;
      text = FinalText(s->TakeResults(), text);
    }
    return FinalText(s->TakeResults(), text);
  };
  return Repeat(samples.size() / double(kRate), min_seconds, pass);
}

absl::StatusOr<TimedRun> MeasureOffline(asr::Recognizer& rec, const asr::StreamConfig& config,
                                        absl::Span<const float> samples, double min_seconds) {
  auto pass = [&]() -> absl::StatusOr<std::string> {
    auto results = rec.RecognizeClip(config, samples);
    if (!results.ok()) return results.status();
    return FinalText(*results, "");
  };
  return Repeat(samples.size() / double(kRate), min_seconds, pass);
}

absl::StatusOr<CapacityPoint> TimeLockstep(int n, const std::function<absl::Status()>& step,
                                           const CapacityConfig& cap) {
  const int warmup = static_cast<int>(cap.warmup_s * 1000 / cap.chunk_ms);
  const int measured = std::max(1, static_cast<int>(cap.measure_s * 1000 / cap.chunk_ms));
  for (int i = 0; i < warmup; ++i) {
    if (auto st = step(); !st.ok()) return st;
  }
  std::vector<double> ms;
  double w0 = WallSeconds(), c0 = ProcessCpuSeconds();
  for (int i = 0; i < measured; ++i) {
    double t0 = WallSeconds();
    if (auto st = step(); !st.ok()) return st;
    ms.push_back(1e3 * (WallSeconds() - t0));
    // Far too slow: more steps would only cost time.
    if (i >= 9 && Percentile(ms, 50) > 2.0 * cap.chunk_ms) break;
  }
  double wall = WallSeconds() - w0;
  return Summarize(n, ms, static_cast<int>(ms.size()) == measured,
                   wall > 0 ? (ProcessCpuSeconds() - c0) / wall : 0, cap);
}

absl::Status CapacityConfig::Validate() const {
  if (chunk_ms < 10) return absl::InvalidArgumentError("CapacityConfig.chunk_ms must be >= 10");
  if (!(margin > 0 && margin <= 1)) return absl::InvalidArgumentError("CapacityConfig.margin must be in (0, 1]");
  if (!(tail_pct >= 50 && tail_pct <= 100)) return absl::InvalidArgumentError("CapacityConfig.tail_pct must be in [50, 100]");
  if (warmup_s < 0) return absl::InvalidArgumentError("CapacityConfig.warmup_s must be >= 0");
  if (!(measure_s > 0)) return absl::InvalidArgumentError("CapacityConfig.measure_s must be > 0");
  if (max_streams < 1) return absl::InvalidArgumentError("CapacityConfig.max_streams must be >= 1");
  return absl::OkStatus();
}

std::string CapacityConfig::ToString() const {
  return absl::StrFormat(
      "CapacityConfig{chunk_ms=%d, margin=%.2f, tail_pct=%.0f, warmup_s=%.1f, measure_s=%.1f, "
      "max_streams=%d}", chunk_ms, margin, tail_pct, warmup_s, measure_s, max_streams);
}

namespace {

// N streams in lockstep over looped audio; see CapacityPoint.
absl::StatusOr<CapacityPoint> RunLockstep(asr::Recognizer& rec, const asr::StreamConfig& config,
                                          absl::Span<const float> samples,
                                          const CapacityConfig& cap, int n) {
  const size_t chunk = static_cast<size_t>(cap.chunk_ms) * kRate / 1000;
  std::vector<std::unique_ptr<asr::Stream>> streams;
  std::vector<asr::Stream*> ptrs;
  std::vector<size_t> pos;
  for (int i = 0; i < n; ++i) {
    auto s = rec.CreateStream(config);
    if (!s.ok()) return s.status();
    ptrs.push_back(s->get());
    streams.push_back(std::move(*s));
    pos.push_back((static_cast<size_t>(i) * 5923) % samples.size());  // spread the offsets
  }
  std::vector<float> buf(chunk);
  auto step = [&]() -> absl::Status {
    for (int i = 0; i < n; ++i) {
      for (size_t j = 0; j < chunk; ++j) {  // loop the audio
        buf[j] = samples[pos[i]];
        if (++pos[i] == samples.size()) pos[i] = 0;
      }
      if (auto st = ptrs[i]->AcceptWaveform(buf); !st.ok()) return st;
    }
    if (auto st = rec.DecodeStreams(ptrs); !st.ok()) return st;
    for (auto* s : ptrs) s->TakeResults();
    return absl::OkStatus();
  };
  return TimeLockstep(n, step, cap);
}

}  // namespace

CapacityPoint Summarize(int n, const std::vector<double>& ms, bool complete, double cpu_cores,
                        const CapacityConfig& cap) {
  CapacityPoint p;
  p.streams = n;
  p.cpu_cores = cpu_cores;
  if (ms.empty()) return p;
  double sum = 0;
  for (double v : ms) sum += v;
  p.mean_ms = sum / ms.size();
  p.p50_ms = Percentile(ms, 50);
  p.tail_ms = Percentile(ms, cap.tail_pct);
  p.max_ms = *std::max_element(ms.begin(), ms.end());
  p.sustained = complete && p.mean_ms <= cap.margin * cap.chunk_ms && p.tail_ms <= cap.chunk_ms;
  return p;
}

absl::StatusOr<CapacityResult> SearchCapacity(const CapacityTrial& run,
                                              const CapacityConfig& capacity) {
  if (auto s = capacity.Validate(); !s.ok()) return s;
  CapacityResult result;
  // A miss is tried once more: on a shared machine a load spike can sink one trial, while a
  // pass is evidence the streams fit.
  auto trial = [&](int n) -> absl::StatusOr<bool> {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto p = run(n);
      if (!p.ok()) return p.status();
      result.points.push_back(*p);
      if (p->sustained) {
        result.max_streams = std::max(result.max_streams, n);
        return true;
      }
    }
    return false;
  };
  int good = 0, bad = 0;
  for (int n = 1; n <= capacity.max_streams; n = std::min(n * 2, capacity.max_streams)) {
    auto ok = trial(n);
    if (!ok.ok()) return ok.status();
    if (!*ok) {
      bad = n;
      break;
    }
    good = n;
    if (n == capacity.max_streams) break;
  }
  // Bisect to within ~3% (or 1 stream).
  while (bad > 0 && bad - good > std::max(1, good / 32)) {
    int mid = (good + bad) / 2;
    auto ok = trial(mid);
    if (!ok.ok()) return ok.status();
    (*ok ? good : bad) = mid;
  }
  return result;
}

absl::StatusOr<CapacityResult> FindCapacity(asr::Recognizer& rec, const asr::StreamConfig& config,
                                            absl::Span<const float> samples,
                                            const CapacityConfig& capacity) {
  if (samples.empty()) return absl::InvalidArgumentError("FindCapacity: no audio");
  return SearchCapacity(
      [&](int n) { return RunLockstep(rec, config, samples, capacity, n); }, capacity);
}

namespace {

// Opens `count` streams and feeds each the first n samples in chunks of `chunk` samples,
// 64 streams per DecodeStreams call, after every chunk.
absl::Status OpenIdleStreams(asr::Recognizer& rec, const asr::StreamConfig& config,
                             absl::Span<const float> audio, int count, size_t chunk,
                             std::vector<std::unique_ptr<asr::Stream>>* streams) {
  constexpr int kBatch = 64;
  streams->reserve(streams->size() + count);
  std::vector<asr::Stream*> batch;
  for (int i = 0; i < count; ++i) {
    auto s = rec.CreateStream(config);
    if (!s.ok()) return s.status();
    batch.push_back(s->get());
    streams->push_back(std::move(*s));
    if (batch.size() < kBatch && i + 1 < count) continue;
    for (size_t at = 0; at < audio.size(); at += chunk) {
      for (auto* b : batch) {
        if (auto st = b->AcceptWaveform(audio.subspan(at, chunk)); !st.ok()) return st;
      }
      if (auto st = rec.DecodeStreams(batch); !st.ok()) return st;
      for (auto* b : batch) b->TakeResults();
    }
    batch.clear();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StreamMemory> MeasureIdleStreams(asr::Recognizer& rec,
                                                const asr::StreamConfig& config,
                                                absl::Span<const float> samples, int count,
                                                int audio_ms, int chunk_ms) {
  if (count < 1) return absl::InvalidArgumentError("MeasureIdleStreams: count must be >= 1");
  if (chunk_ms < 0) return absl::InvalidArgumentError("MeasureIdleStreams: chunk_ms must be >= 0");
  const size_t n = std::min(samples.size(), static_cast<size_t>(audio_ms) * kRate / 1000);
  const absl::Span<const float> audio = samples.subspan(0, n);
  const size_t chunk = chunk_ms == 0 ? std::max<size_t>(n, 1) : static_cast<size_t>(chunk_ms) * kRate / 1000;
  StreamMemory m;
  m.streams = count;
  std::vector<std::unique_ptr<asr::Stream>> streams;
  {
    const int64_t before = HeapBytesInUse();
    if (auto st = OpenIdleStreams(rec, config, audio, count, chunk, &streams); !st.ok()) return st;
    streams.clear();
    m.first_use_heap_bytes = static_cast<double>(HeapBytesInUse() - before);
  }
  int64_t heap0 = HeapBytesInUse();  // trims first, so RSS is read after
  int64_t rss0 = ResidentBytes();
  if (auto st = OpenIdleStreams(rec, config, audio, count, chunk, &streams); !st.ok()) return st;
  m.heap_bytes_per_stream = double(HeapBytesInUse() - heap0) / count;
  m.rss_bytes_per_stream = double(ResidentBytes() - rss0) / count;  // after the trim above
  return m;
}

}  // namespace ancat::bench
