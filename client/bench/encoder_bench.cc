#include "client/bench/encoder_bench.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "asr/frontend/fbank.h"
#include "client/bench/system.h"
#include "nlohmann/json.hpp"

namespace ancat::bench {

absl::StatusOr<Features> ComputeFeatures(const std::string& model_dir,
                                         absl::Span<const float> samples) {
  std::ifstream in(std::filesystem::path(model_dir) / "model.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto mj = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (mj.is_discarded() || !mj.contains("frontend")) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, "/model.json: no frontend object"));
  }
  auto config = asr::FbankConfig::FromJson(mj["frontend"].dump());
  if (!config.ok()) return config.status();
  auto fbank = asr::OnlineFbank::Create(*config);
  if (!fbank.ok()) return fbank.status();
  if (auto s = (*fbank)->AcceptWaveform(samples); !s.ok()) return s;
  (*fbank)->InputFinished();
  Features f;
  f.dim = (*fbank)->Dim();
  f.frames = static_cast<int>((*fbank)->PopFrames(&f.data));
  return f;
}

absl::StatusOr<Features> ReadFeatures(const std::string& path, int dim) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  auto bytes = static_cast<size_t>(in.tellg());
  if (dim <= 0 || bytes % (sizeof(float) * dim) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not whole rows of ", dim, " floats"));
  }
  Features f;
  f.dim = dim;
  f.frames = static_cast<int>(bytes / sizeof(float) / dim);
  f.data.resize(bytes / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(f.data.data()), bytes);
  return f;
}

namespace {

// Runs `pass` once to warm up, then until min_seconds (and at least 3 times).
template <typename Pass>
absl::StatusOr<EncoderTiming> Repeat(double min_seconds, Pass pass) {
  std::vector<double> walls, cpus;
  int frames = 0;
  auto warm = pass();
  if (!warm.ok()) return warm.status();
  double start = WallSeconds();
  while (walls.size() < 3 || WallSeconds() - start < min_seconds) {
    double w0 = WallSeconds(), c0 = ProcessCpuSeconds();
    auto n = pass();
    if (!n.ok()) return n.status();
    walls.push_back(WallSeconds() - w0);
    cpus.push_back(ProcessCpuSeconds() - c0);
    frames = *n;
  }
  return EncoderTiming{.median_s = Percentile(walls, 50), .cpu_s = Percentile(cpus, 50),
                       .runs = static_cast<int>(walls.size()), .frames = frames};
}

}  // namespace

absl::StatusOr<EncoderTiming> TimeEncoderOffline(asr::Encoder& enc, const Features& f,
                                                 double min_seconds, std::vector<float>* output) {
  bool first = true;
  auto pass = [&]() -> absl::StatusOr<int> {
    auto out = enc.EncodeOffline(f.data.data(), f.frames, {});
    if (!out.ok()) return out.status();
    if (first && output != nullptr) *output = out->frames;
    first = false;
    return out->num_frames;
  };
  return Repeat(min_seconds, pass);
}

absl::StatusOr<EncoderTiming> TimeEncoderStreaming(asr::Encoder& enc, const Features& f,
                                                   int chunk_frames, double min_seconds) {
  auto pass = [&]() -> absl::StatusOr<int> {
    auto s = enc.CreateStream({});
    if (!s.ok()) return s.status();
    asr::EncoderStream* p = s->get();
    int produced = 0;
    for (int t = 0; t < f.frames; t += chunk_frames) {
      int n = std::min(chunk_frames, f.frames - t);
      p->AcceptFeatures(f.data.data() + static_cast<size_t>(t) * f.dim, n);
      if (t + n == f.frames) p->InputFinished();
      if (auto st = enc.Advance({&p, 1}); !st.ok()) return st;
      produced += p->NumOutputFrames();
      p->PopOutputFrames(p->NumOutputFrames());  // the decoder would consume them now
    }
    while (!p->IsDone()) {
      if (auto st = enc.Advance({&p, 1}); !st.ok()) return st;
      produced += p->NumOutputFrames();
      p->PopOutputFrames(p->NumOutputFrames());
    }
    return produced;
  };
  return Repeat(min_seconds, pass);
}

absl::StatusOr<double> TimeEncoderBatchedStep(asr::Encoder& enc, const Features& f, int streams,
                                              int chunk_frames, double seconds, double* cpu_s_per_step) {
  if (f.frames < chunk_frames) return absl::InvalidArgumentError("audio shorter than one chunk");
  std::vector<std::unique_ptr<asr::EncoderStream>> owned;
  std::vector<asr::EncoderStream*> ptrs;
  std::vector<int> pos;
  for (int i = 0; i < streams; ++i) {
    auto s = enc.CreateStream({});
    if (!s.ok()) return s.status();
    ptrs.push_back(s->get());
    owned.push_back(std::move(*s));
    pos.push_back((i * 37) % (f.frames - chunk_frames + 1));  // different content per stream
  }
  auto step = [&]() -> absl::Status {
    for (int i = 0; i < streams; ++i) {
      if (pos[i] + chunk_frames > f.frames) pos[i] = 0;  // loop the audio
      ptrs[i]->AcceptFeatures(f.data.data() + static_cast<size_t>(pos[i]) * f.dim, chunk_frames);
      pos[i] += chunk_frames;
    }
    if (auto st = enc.Advance(ptrs); !st.ok()) return st;
    for (auto* p : ptrs) p->PopOutputFrames(p->NumOutputFrames());
    return absl::OkStatus();
  };
  const double step_audio_s = chunk_frames * 0.01;
  const int warmup = static_cast<int>(std::ceil(1.0 / step_audio_s));
  const int steps = std::max(1, static_cast<int>(seconds / step_audio_s));
  for (int i = 0; i < warmup; ++i) {
    if (auto st = step(); !st.ok()) return st;
  }
  std::vector<double> times;
  const double cpu0 = ProcessCpuSeconds();
  for (int i = 0; i < steps; ++i) {
    double t0 = WallSeconds();
    if (auto st = step(); !st.ok()) return st;
    times.push_back(WallSeconds() - t0);
  }
  if (cpu_s_per_step != nullptr) *cpu_s_per_step = (ProcessCpuSeconds() - cpu0) / steps;
  return Percentile(times, 50);  // the median resists the load spikes of a shared machine
}

absl::StatusOr<CapacityResult> FindEncoderCapacity(asr::Encoder& enc, const Features& f,
                                                   const CapacityConfig& capacity) {
  const int chunk = capacity.chunk_ms / 10;
  if (f.frames < chunk) return absl::InvalidArgumentError("audio shorter than one chunk");
  auto trial = [&](int n) -> absl::StatusOr<CapacityPoint> {
    std::vector<std::unique_ptr<asr::EncoderStream>> owned;
    std::vector<asr::EncoderStream*> ptrs;
    std::vector<int> pos;
    for (int i = 0; i < n; ++i) {
      auto s = enc.CreateStream({});
      if (!s.ok()) return s.status();
      ptrs.push_back(s->get());
      owned.push_back(std::move(*s));
      pos.push_back((i * 37) % (f.frames - chunk + 1));
    }
    auto step = [&]() -> absl::Status {
      for (int i = 0; i < n; ++i) {
        if (pos[i] + chunk > f.frames) pos[i] = 0;
        ptrs[i]->AcceptFeatures(f.data.data() + static_cast<size_t>(pos[i]) * f.dim, chunk);
        pos[i] += chunk;
      }
      if (auto st = enc.Advance(ptrs); !st.ok()) return st;
      for (auto* p : ptrs) p->PopOutputFrames(p->NumOutputFrames());
      return absl::OkStatus();
    };
    return TimeLockstep(n, step, capacity);
  };
  return SearchCapacity(trial, capacity);
}

double MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

}  // namespace ancat::bench
