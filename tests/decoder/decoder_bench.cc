// Google Benchmark of the transducer decoder alone (not a test; run by hand):
//   build-x/tests/decoder/decoder_bench
// On a random-weight predictor/joiner of the default model's sizes (d = P = J = 256,
// V = 500), written to a temporary model folder, fed random encoder frames in chunks of 4
// (160 ms) like a stream. Each method runs S streams twice in the same process: batched
// (one Decode call advances all streams; their joiner rows share one matmul per step) and
// one by one (the peer). Counter frames_per_s = encoder frames decoded per second of CPU;
// the batched/one-by-one ratio of the same method and S is the batching gain.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "asr/decoder/decoder.h"
#include "asr/decoder/transducer_head.h"
#include "asr/model/model.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {
namespace {

constexpr int kFrames = 250;  // 10 s of 40 ms frames per stream

// A model folder whose predictor and joiner have the default sizes (one small encoder
// layer: the decoder never runs the encoder).
std::string WriteRandomModel() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "ancat_decoder_bench_model";
  fs::create_directories(dir);
  std::ifstream in(std::string(ANCAT_SOURCE_DIR) + "/tests/data/tiny-model/model.json");
  nlohmann::json mj = nlohmann::json::parse(in);
  mj["encoder"]["num_layers"] = 1;
  mj["encoder"]["d_model"] = 256;
  mj["encoder"]["num_heads"] = 4;
  mj["predictor"]["embed_dim"] = 256;
  mj["predictor"]["dim"] = 256;
  mj["joiner"]["dim"] = 256;
  mj["vocab"]["size"] = 500;
  mj["weights"]["dtype"] = "f32";
  std::ofstream(dir / "model.json") << mj.dump(2);
  auto config = ModelConfig::FromJson(mj.dump());
  if (!config.ok()) return "";
  // safetensors: 8-byte little-endian header length, JSON header, F32 data.
  nlohmann::json header = nlohmann::json::object();
  std::vector<float> data;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  for (const auto& [name, shape] : Model::ExpectedShapes(*config)) {
    size_t n = 1;
    for (int64_t s : shape) n *= static_cast<size_t>(s);
    const size_t begin = data.size() * 4;
    const bool positive = name == "frontend.cmvn_istd";  // a scale: must be > 0
    for (size_t i = 0; i < n; ++i) data.push_back(positive ? 1.0f : nd(rng));
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, data.size() * 4}}};
  }
  const std::string h = header.dump();
  const uint64_t len = h.size();
  std::ofstream out(dir / "weights.safetensors", std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(h.data(), h.size());
  out.write(reinterpret_cast<const char*>(data.data()), data.size() * 4);
  return dir.string();
}

struct Fixture {
  std::shared_ptr<const Model> model;
  std::unique_ptr<TransducerHead> head;
  std::unique_ptr<TransducerDecoder> decoder;
  std::vector<float> frames;  // [kFrames, 256]
  Fixture() {
    auto m = Model::Load(WriteRandomModel(), {.load_tokenizer = false});
    if (!m.ok()) {
      fprintf(stderr, "decoder_bench: %s\n", std::string(m.status().message()).c_str());
      return;
    }
    model = *m;
    head = std::move(*TransducerHead::Create(*model));
    std::vector<std::string> pieces = {"<blk>", "<unk>"};
    for (int i = 2; i < 500; ++i) pieces.push_back((i % 3 == 0 ? "\xE2\x96\x81" : "") + std::to_string(i));
    decoder = std::make_unique<TransducerDecoder>(head.get(), nullptr,
                                                  PieceTable::FromPieces(pieces, 0, 1), 40);
    std::mt19937 rng(2);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    frames.resize(static_cast<size_t>(kFrames) * 256);
    for (float& f : frames) f = nd(rng);
  }
};

Fixture& Shared() {
  static Fixture* f = new Fixture();
  return *f;
}

void Run(benchmark::State& state, bool beam, bool batched) {
  Fixture& f = Shared();
  if (f.decoder == nullptr) {
    state.SkipWithError("could not build the random model");
    return;
  }
  const int num_streams = static_cast<int>(state.range(0));
  DecoderStreamOptions o;
  o.search.beam_search = beam;
  o.search.beam = 4;
  for (auto _ : state) {
    std::vector<std::unique_ptr<DecoderStream>> streams;
    std::vector<DecoderStream*> all;
    for (int i = 0; i < num_streams; ++i) {
      streams.push_back(f.decoder->CreateStream(o));
      all.push_back(streams.back().get());
    }
    for (int t = 0; t < kFrames; t += 4) {
      for (DecoderStream* s : all) s->AcceptFrames(f.frames.data() + t * 256, 4, nullptr);
      if (batched) {
        f.decoder->Decode(all);
      } else {
        for (DecoderStream* s : all) f.decoder->Decode({&s, 1});
      }
    }
    for (DecoderStream* s : all) benchmark::DoNotOptimize(s->TakeResults());
  }
  state.counters["frames_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * num_streams * kFrames, benchmark::Counter::kIsRate);
}

void BM_GreedyBatched(benchmark::State& s) { Run(s, false, true); }
void BM_GreedyOneByOne(benchmark::State& s) { Run(s, false, false); }
void BM_Beam4Batched(benchmark::State& s) { Run(s, true, true); }
void BM_Beam4OneByOne(benchmark::State& s) { Run(s, true, false); }
BENCHMARK(BM_GreedyBatched)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GreedyOneByOne)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Beam4Batched)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Beam4OneByOne)->Arg(64)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ancat::asr

BENCHMARK_MAIN();
