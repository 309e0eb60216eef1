// encoder_precision: what the encoder's precision options cost in parity and buy in speed, on a
// model folder with goldens (models/FORMAT.md), all in one run. Not a test (no timed assertions);
// run by hand:
//
//   build/tests/encoder/encoder_precision MODEL_DIR [STREAMS=128] [THREADS=1]
//
// For each option (f32, bf16 KV cache, bf16 matmuls + bf16 KV, int8 matmuls with f32 and bf16
// KV) it prints the max relative error
// of the encoder output against golden encoder_out (per frame, relative to the frame's max |x|),
// arbiter choices and latency frames that differ, and CPU microseconds per encoder frame with
// STREAMS streams advanced in lockstep 40 ms steps, as a ratio to the f32 run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "asr/encoder/encoder.h"
#include "asr/model/safetensors.h"

using namespace ancat::asr;

namespace {

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct Row {
  std::string name;
  EncoderConfig config;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: encoder_precision MODEL_DIR [STREAMS] [THREADS]\n");
    return 1;
  }
  const std::string dir = argv[1];
  const int streams = argc > 2 ? std::atoi(argv[2]) : 128;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  auto model = Model::Load(dir, {.load_tokenizer = false});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  auto golden = SafeTensors::Open(dir + "/golden.safetensors");
  if (!golden.ok()) {
    std::fprintf(stderr, "%s\n", golden.status().ToString().c_str());
    return 1;
  }
  const auto feats = *golden->ReadFloat("features");
  const auto want = *golden->ReadFloat("encoder_out");
  const auto want_choices = *golden->ReadInt32("arbiter_choices");
  const auto want_latency = *golden->ReadInt32("latency_frames");
  const int bins = (*model)->config().frontend.num_mel_bins;
  const int t = static_cast<int>(feats.size()) / bins;
  std::printf("model %s: %s\n", dir.c_str(), (*model)->config().ToString().c_str());
  std::printf("golden: %d fbank frames; speed: %d streams x lockstep 40 ms steps, %d thread(s)\n", t, streams,
              threads);

  const std::vector<Row> rows = {
      {"f32", {.num_threads = threads}},
      {"f32 + bf16 KV cache", {.num_threads = threads, .kv_cache = nn::KvType::kBF16}},
      {"bf16 matmuls + bf16 KV", {.num_threads = threads, .compute = nn::ComputeType::kBF16, .kv_cache = nn::KvType::kBF16}},
      {"int8 matmuls", {.num_threads = threads, .compute = nn::ComputeType::kInt8}},
      {"int8 matmuls + bf16 KV", {.num_threads = threads, .compute = nn::ComputeType::kInt8, .kv_cache = nn::KvType::kBF16}},
  };
  double base_us = 0;
  for (const Row& row : rows) {
    auto enc = Encoder::Create(*model, row.config);
    if (!enc.ok()) {
      std::fprintf(stderr, "%s\n", enc.status().ToString().c_str());
      return 1;
    }
    const int d = (*enc)->d_model();
    auto out = (*enc)->EncodeOffline(feats.data(), t, {.record_choices = true});
    if (!out.ok()) return 1;
    double max_rel = 0;
    int bad_latency = 0, bad_choices = 0, n = 0;
    for (int f = 0; f < out->num_frames; ++f) {
      double scale = 1e-6, err = 0;
      for (int i = 0; i < d; ++i) {
        scale = std::max(scale, static_cast<double>(std::fabs(want[f * d + i])));
        err = std::max(err, static_cast<double>(std::fabs(out->frames[f * d + i] - want[f * d + i])));
      }
      max_rel = std::max(max_rel, err / scale);
      bad_latency += out->latency[f] != want_latency[f];
    }
    for (const auto& layer : out->choices)
      for (int c : layer) bad_choices += c != want_choices[n++];

    // Lockstep streaming: every stream gets 4 fbank frames (40 ms) per step, looping the clip.
    std::vector<std::unique_ptr<EncoderStream>> owned;
    std::vector<EncoderStream*> ptrs;
    for (int i = 0; i < streams; ++i) {
      owned.push_back(*(*enc)->CreateStream({}));
      ptrs.push_back(owned.back().get());
    }
    long frames = 0;
    double c0 = 0;
    const int steps = 40;
    for (int step = 0; step < steps + 10; ++step) {
      if (step == 10) c0 = CpuSeconds(), frames = 0;  // first steps warm caches and primitives
      const int pos = (step * 4) % std::max(1, t - 4);
      for (int i = 0; i < streams; ++i) ptrs[i]->AcceptFeatures(feats.data() + static_cast<size_t>(pos) * bins, 4);
      if (!(*enc)->Advance(ptrs).ok()) return 1;
      for (auto* s : ptrs) {
        frames += s->NumOutputFrames();
        s->PopOutputFrames(s->NumOutputFrames());
      }
    }
    const double us = (CpuSeconds() - c0) / std::max(1L, frames) * 1e6;
    if (base_us == 0) base_us = us;
    std::printf("%-24s max rel err %.2e  choices differing %d/%d  latency differing %d/%d  "
                "%.1f us CPU per frame (%.2fx the f32 time), %.1f KB per stream\n",
                row.name.c_str(), max_rel, bad_choices, n, bad_latency, out->num_frames, us, us / base_us,
                ptrs[0]->MemoryBytes() / 1024.0);
  }
  return 0;
}
