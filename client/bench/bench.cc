#include "client/bench/bench.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "asr/audio/audio.h"
#include "asr/encoder/encoder.h"
#include "asr/model/model.h"
#include "asr/model/model_config.h"
#include "asr/nn/linear.h"
#include "asr/recognizer.h"
#include "client/bench/encoder_bench.h"
#include "client/bench/encoder_flops.h"
#include "client/bench/matmul_rate.h"
#include "client/bench/peers.h"
#include "client/bench/system.h"
#include "nlohmann/json.hpp"

namespace ancat::bench {

namespace fs = std::filesystem;

absl::Status BenchConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("BenchConfig.model_dir is empty");
  if (audio.empty()) return absl::InvalidArgumentError("BenchConfig.audio is empty");
  for (const auto& p : peers) {
    if (p != "pytorch" && p != "onnxruntime") {
      return absl::InvalidArgumentError(
          absl::StrCat("BenchConfig.peers: unknown peer '", p, "' (pytorch, onnxruntime)"));
    }
  }
  if (!peers.empty() && repo_dir.empty()) {
    return absl::InvalidArgumentError("BenchConfig.repo_dir is needed for peers");
  }
  if (decoding != "greedy" && decoding != "beam") {
    return absl::InvalidArgumentError("BenchConfig.decoding must be 'greedy' or 'beam'");
  }
  if (cores < 1) return absl::InvalidArgumentError("BenchConfig.cores must be >= 1");
  if (chunk_ms < 10) return absl::InvalidArgumentError("BenchConfig.chunk_ms must be >= 10");
  if (!(min_seconds > 0)) return absl::InvalidArgumentError("BenchConfig.min_seconds must be > 0");
  if (matmul_size < 16) return absl::InvalidArgumentError("BenchConfig.matmul_size must be >= 16");
  if (!(matmul_seconds > 0)) return absl::InvalidArgumentError("BenchConfig.matmul_seconds must be > 0");
  if (batch_streams < 0) return absl::InvalidArgumentError("BenchConfig.batch_streams must be >= 0");
  if (idle_streams < 0) return absl::InvalidArgumentError("BenchConfig.idle_streams must be >= 0");
  if (idle_audio_ms < 0) return absl::InvalidArgumentError("BenchConfig.idle_audio_ms must be >= 0");
  if (batched_only && (memory_only || batch_streams < 1)) {
    return absl::InvalidArgumentError("BenchConfig.batched_only needs batch_streams >= 1 and no memory_only");
  }
  if (memory_only && idle_streams < 1) {
    return absl::InvalidArgumentError("BenchConfig.memory_only needs idle_streams >= 1");
  }
  if (capacity.chunk_ms != chunk_ms) {
    return absl::InvalidArgumentError("BenchConfig.capacity.chunk_ms must equal chunk_ms");
  }
  return capacity.Validate();
}

std::string BenchConfig::ToString() const {
  return absl::StrFormat(
      "BenchConfig{model_dir=%s, audio=%s, repo_dir=%s, work_dir=%s, peers=[%s], onnx=%s, "
      "decoding=%s, cores=%d, chunk_ms=%d, min_seconds=%.1f, matmul_size=%d, "
      "matmul_seconds=%.2f, capacity=%s, batch_streams=%d, idle_streams=%d, idle_audio_ms=%d, memory_only=%s, batched_only=%s, json_out=%s}",
      model_dir, audio, repo_dir, work_dir, absl::StrJoin(peers, ","), onnx, decoding, cores,
      chunk_ms, min_seconds, matmul_size, matmul_seconds, capacity.ToString(), batch_streams, idle_streams,
      idle_audio_ms, memory_only ? "true" : "false", batched_only ? "true" : "false", json_out);
}

namespace {

// "key: value  # note" lines on stdout, and the same figures as JSON.
class Report {
 public:
  void Section(const std::string& title) {
    std::printf("\n[%s]\n", title.c_str());
    std::fflush(stdout);
  }
  void Num(const std::string& key, double value, const char* fmt, const std::string& note = "") {
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, value);
    Line(key, buf, note);
    json_[key] = value;
  }
  void Str(const std::string& key, const std::string& value, const std::string& note = "") {
    Line(key, value, note);
    json_[key] = value;
  }
  void JsonOnly(const std::string& key, double value) { json_[key] = value; }
  nlohmann::json& json() { return json_; }

 private:
  void Line(const std::string& key, const std::string& value, const std::string& note) {
    if (note.empty()) {
      std::printf("%s: %s\n", key.c_str(), value.c_str());
    } else {
      std::printf("%s: %s  # %s\n", key.c_str(), value.c_str(), note.c_str());
    }
    std::fflush(stdout);
  }
  nlohmann::json json_;
};

// The samples every runner gets, as a float WAV (no requantization).
absl::Status WriteFloatWav(const std::string& path, const std::vector<float>& samples) {
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", sf_strerror(nullptr)));
  sf_count_t n = sf_write_float(f, samples.data(), samples.size());
  sf_close(f);
  if (n != static_cast<sf_count_t>(samples.size())) return absl::InternalError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<asr::Recognizer>> MakeRecognizer(const BenchConfig& c, int threads,
                                                                 const std::string& compute_type = "f32",
                                                                 const std::string& kv_cache = "f32") {
  asr::RecognizerConfig rc;
  rc.model_dir = c.model_dir;
  rc.num_threads = threads;
  rc.compute_type = compute_type;
  rc.kv_cache = kv_cache;
  return asr::Recognizer::Create(rc);
}

asr::StreamConfig MakeStreamConfig(const BenchConfig& c) {
  asr::StreamConfig sc;
  sc.decoding.method = c.decoding == "greedy" ? asr::DecodingConfig::Method::kGreedy
                                              : asr::DecodingConfig::Method::kModifiedBeam;
  return sc;
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

namespace {

// What the sections share.
struct Context {
  explicit Context(const BenchConfig& config) : c(config) {}
  const BenchConfig& c;
  Report r;
  asr::ModelConfig mc;
  EncoderFlops flops;
  std::vector<float> samples;
  double audio_s = 0;
  std::string wav;
  std::shared_ptr<const asr::Model> model;
  Features feats;                    // Ancat's own fbank of the samples
  std::vector<int> allowed;
  int one_cpu = 0;
  std::map<std::string, double> peak;  // "f32_1" -> GFLOP/s of the matmul
  // Per compute type ("f32", "bf16", "int8"): encoder-only seconds per pass.
  std::map<std::string, EncoderTiming> enc_offline, enc_streaming;
  std::vector<float> enc_out_f32;    // offline output, for the parity check against torch
  std::optional<TimedRun> offline, streaming;
  std::optional<nlohmann::json> torch, ort;
  int capacity = 0;
  // Per-stream CPU-time RTF in the batched recognizer at the capacity found (0: none).
  double batched_cpu_rtf_per_stream = 0;
  int batched_cpu_rtf_streams = 0;
  absl::Status peer_status;
};

std::vector<std::pair<std::string, asr::nn::ComputeType>> ComputeTypes() {
  return {{"f32", asr::nn::ComputeType::kF32},
          {"bf16", asr::nn::ComputeType::kBF16},
          {"int8", asr::nn::ComputeType::kInt8}};
}

void Matmuls(Context& x, int threads) {
  MatmulRateConfig mc{.m = x.c.matmul_size, .k = x.c.matmul_size, .n = x.c.matmul_size,
                      .seconds = x.c.matmul_seconds, .threads = threads};
  for (MatmulType t : {MatmulType::kF32, MatmulType::kBF16, MatmulType::kInt8}) {
    std::string key = absl::StrFormat("matmul_%s_gflops_%dcore", MatmulTypeName(t), threads);
    auto rate = MeasureMatmulRate(mc, t);
    if (!rate.ok()) {
      x.r.Str(key, "unavailable", std::string(rate.status().message()));
      continue;
    }
    x.r.Num(key, rate->gflops, "%.1f",
            absl::StrFormat("%dx%dx%d, %s; %.1f per CPU-second", mc.m, mc.k, mc.n, rate->impl, rate->gflops_cpu));
    x.r.JsonOnly(key + "_cpu", rate->gflops_cpu);
    x.peak[absl::StrCat(MatmulTypeName(t), "_", threads)] = rate->gflops;
    x.peak[absl::StrCat(MatmulTypeName(t), "_", threads, "_cpu")] = rate->gflops_cpu;
  }
}

// gflops as a percentage of the matmul rate of `type` on `threads` (by CPU time: cpu).
double PctOf(const Context& x, double gflops, const std::string& type, int threads, bool cpu = false) {
  auto it = x.peak.find(absl::StrCat(type, "_", threads, cpu ? "_cpu" : ""));
  return it == x.peak.end() || it->second <= 0 ? 0 : 100 * gflops / it->second;
}

absl::Status Setup(Context& x) {
  const BenchConfig& c = x.c;
  x.allowed = AllowedCpus();
  x.r.Section("setup");
  x.r.Str("cpu", CpuModel(), absl::StrFormat("%d CPUs allowed", x.allowed.size()));
  x.r.Num("load_average_start", LoadAverage1(), "%.2f",
          "1-minute load; other work on the machine skews every figure");
  // OpenMP's waiting policy decides what a parallel region costs when the other core is busy.
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  x.r.Str("omp_wait_policy", wait == nullptr ? "(unset: libgomp default)" : wait,
          "environment; the engine's threads are OpenMP's");
  auto mc = asr::ModelConfig::FromFile((fs::path(c.model_dir) / "model.json").string());
  if (!mc.ok()) return mc.status();
  x.mc = *mc;
  x.flops = CountEncoderFlops(x.mc);
  x.r.Str("model", absl::StrFormat("%s %s (%s)", x.mc.name, x.mc.version, c.model_dir),
          absl::StrFormat("L=%d d=%d heads=%d ffn=%d left=%d W={%s} weights %s",
                          x.mc.encoder.num_layers, x.mc.encoder.d_model, x.mc.encoder.num_heads,
                          x.mc.encoder.ffn_dim, x.mc.encoder.left_context,
                          absl::StrJoin(x.mc.encoder.lookahead_frames, ","), x.mc.weights_dtype));
  x.r.Num("encoder_mflop_per_frame", x.flops.per_frame() * 1e-6, "%.3f", x.flops.ToString());
  x.r.Num("encoder_gflop_per_audio_second", x.flops.per_audio_second * 1e-9, "%.4f",
          "analytic, from model.json");
  auto samples = asr::ReadAudioFileForModel(c.audio);
  if (!samples.ok()) return samples.status();
  x.samples = std::move(*samples);
  x.audio_s = x.samples.size() / 16000.0;
  x.wav = (fs::path(c.work_dir) / "audio.wav").string();
  if (auto s = WriteFloatWav(x.wav, x.samples); !s.ok()) return s;
  x.r.Str("audio", c.audio,
          absl::StrFormat("%.2f s at 16 kHz; every runner gets these samples (%s)", x.audio_s, x.wav));
  x.r.Str("decoding", c.decoding, absl::StrFormat("recognizer figures; chunk %d ms", c.chunk_ms));
  auto model = asr::Model::Load(c.model_dir, {.load_tokenizer = false});
  if (!model.ok()) return model.status();
  x.model = *model;
  auto feats = ComputeFeatures(c.model_dir, x.samples);
  if (!feats.ok()) return feats.status();
  x.feats = std::move(*feats);
  return absl::OkStatus();
}

// Encoder alone on one core, per compute type: the like-for-like figures against the peers.
absl::Status EncoderOneCore(Context& x) {
  for (const auto& [name, type] : ComputeTypes()) {
    auto enc = asr::Encoder::Create(x.model, {.num_threads = 1, .compute = type});
    if (!enc.ok()) {
      x.r.Str("ancat_encoder_" + name, "unavailable", std::string(enc.status().message()));
      continue;
    }
    if (name == "f32") {
      x.r.Num("encoder_mflop_per_frame_engine", 2e-6 * (*enc)->MacsPerFrame(), "%.3f",
              "the engine's own count, for comparison");
    }
    auto off = TimeEncoderOffline(**enc, x.feats, x.c.min_seconds,
                                  name == "f32" ? &x.enc_out_f32 : nullptr);
    if (!off.ok()) return off.status();
    x.enc_offline[name] = *off;
    double gf = off->frames * x.flops.per_frame() / off->median_s * 1e-9;
    double gfc = off->frames * x.flops.per_frame() / off->cpu_s * 1e-9;
    x.r.Num("ancat_encoder_offline_rtf_1core_" + name, off->median_s / x.audio_s, "%.5f",
            absl::StrFormat("EncodeOffline on fbank: %.4f s per pass, %.1f GFLOP/s = %.0f%% of %s matmul; "
                            "by CPU time %.4f s, %.1f GFLOP/s = %.0f%%",
                            off->median_s, gf, PctOf(x, gf, name, 1), name, off->cpu_s, gfc,
                            PctOf(x, gfc, name, 1, true)));
    x.r.JsonOnly("ancat_encoder_offline_gflops_1core_" + name + "_cpu", gfc);
    x.r.JsonOnly("ancat_encoder_offline_rtf_1core_" + name + "_cpu", off->cpu_s / x.audio_s);
    auto st = TimeEncoderStreaming(**enc, x.feats, x.c.chunk_ms / 10, x.c.min_seconds);
    if (!st.ok()) return st.status();
    x.enc_streaming[name] = *st;
    gf = st->frames * x.flops.per_frame() / st->median_s * 1e-9;
    gfc = st->frames * x.flops.per_frame() / st->cpu_s * 1e-9;
    x.r.Num("ancat_encoder_streaming_rtf_1core_" + name, st->median_s / x.audio_s, "%.5f",
            absl::StrFormat("%d fbank rows per Advance: %.4f s per pass, %.1f GFLOP/s = %.0f%% of %s matmul; "
                            "by CPU time %.4f s, %.1f GFLOP/s = %.0f%%",
                            x.c.chunk_ms / 10, st->median_s, gf, PctOf(x, gf, name, 1), name, st->cpu_s,
                            gfc, PctOf(x, gfc, name, 1, true)));
    x.r.JsonOnly("ancat_encoder_streaming_gflops_1core_" + name + "_cpu", gfc);
    x.r.JsonOnly("ancat_encoder_streaming_rtf_1core_" + name + "_cpu", st->cpu_s / x.audio_s);
  }
  return absl::OkStatus();
}

// The whole recognizer (fbank + encoder + search) through the public API, one core.
absl::Status RecognizerOneCore(Context& x) {
  const asr::StreamConfig sc = MakeStreamConfig(x.c);
  auto rec = MakeRecognizer(x.c, 1);
  if (!rec.ok()) return rec.status();
  auto off = MeasureOffline(**rec, sc, x.samples, x.c.min_seconds);
  if (!off.ok()) return off.status();
  x.offline = *off;
  x.r.Num("ancat_offline_rtf_1core", off->rtf(), "%.5f",
          absl::StrFormat("RecognizeClip (fbank+encoder+search): %.4f s per pass (CPU %.4f s)",
                          off->wall_s, off->cpu_s));
  x.r.JsonOnly("ancat_offline_rtf_1core_cpu", off->cpu_s / x.audio_s);
  auto st = MeasureStreaming(**rec, sc, x.samples, x.c.chunk_ms, x.c.min_seconds);
  if (!st.ok()) return st.status();
  x.streaming = *st;
  x.r.Num("ancat_streaming_rtf_1core", st->rtf(), "%.5f",
          absl::StrFormat("one stream, %d ms chunks, DecodeStreams per chunk: %.4f s per pass (CPU %.4f s)",
                          x.c.chunk_ms, st->wall_s, st->cpu_s));
  x.r.JsonOnly("ancat_streaming_rtf_1core_cpu", st->cpu_s / x.audio_s);
  // Where the streaming recognizer's time goes: the encoder alone (f32, as the recognizer
  // runs it) against the whole (fbank + encoder + search + glue), by CPU time.
  if (auto it = x.enc_streaming.find("f32"); it != x.enc_streaming.end() && st->cpu_s > 0) {
    x.r.Num("ancat_streaming_encoder_share", it->second.cpu_s / st->cpu_s, "%.2f",
            "encoder-only streaming CPU time / whole-recognizer streaming CPU time");
  }
  std::string text = st->text.size() > 160 ? st->text.substr(0, 160) + "..." : st->text;
  x.r.Str("ancat_transcript", Quote(text), "of the streaming pass (a sanity check, not a score)");
  // The same recognizer with int8 encoder matmuls (the search stays f32).
  auto rec8 = MakeRecognizer(x.c, 1, "int8");
  if (!rec8.ok()) {
    x.r.Str("ancat_offline_rtf_1core_int8", "unavailable", std::string(rec8.status().message()));
    return absl::OkStatus();
  }
  auto off8 = MeasureOffline(**rec8, sc, x.samples, x.c.min_seconds);
  if (!off8.ok()) return off8.status();
  x.r.Num("ancat_offline_rtf_1core_int8", off8->rtf(), "%.5f",
          absl::StrFormat("RecognizeClip, int8 encoder: %.4f s per pass (CPU %.4f s)", off8->wall_s, off8->cpu_s));
  x.r.JsonOnly("ancat_offline_rtf_1core_int8_cpu", off8->cpu_s / x.audio_s);
  auto st8 = MeasureStreaming(**rec8, sc, x.samples, x.c.chunk_ms, x.c.min_seconds);
  if (!st8.ok()) return st8.status();
  x.r.Num("ancat_streaming_rtf_1core_int8", st8->rtf(), "%.5f",
          absl::StrFormat("one stream, int8 encoder, %d ms chunks: %.4f s per pass (CPU %.4f s)", x.c.chunk_ms,
                          st8->wall_s, st8->cpu_s));
  x.r.JsonOnly("ancat_streaming_rtf_1core_int8_cpu", st8->cpu_s / x.audio_s);
  text = st8->text.size() > 160 ? st8->text.substr(0, 160) + "..." : st8->text;
  x.r.Str("ancat_transcript_int8", Quote(text), "of the int8 streaming pass (a sanity check, not a score)");
  return absl::OkStatus();
}

void Peers(Context& x) {
  const BenchConfig& c = x.c;
  PeerConfig pc{.repo_dir = c.repo_dir, .model_dir = c.model_dir, .audio_wav = x.wav,
                .work_dir = c.work_dir, .onnx = c.onnx, .threads = 1, .cpus = {x.one_cpu},
                .min_seconds = c.min_seconds, .chunk_frames = c.chunk_ms / 10};
  x.r.Section("peers (same core, 1 thread, same weights and samples)");
  bool want_ort = std::count(c.peers.begin(), c.peers.end(), "onnxruntime") > 0;
  bool want_torch = std::count(c.peers.begin(), c.peers.end(), "pytorch") > 0;
  // The torch peer also writes the features and reference output the ORT peer uses.
  auto t = RunTorchPeer(pc);
  if (!t.ok()) {
    x.peer_status = t.status();
    x.r.Str("pytorch", "unavailable", std::string(t.status().message()));
  } else {
    x.torch = *t;
    auto tf = ReadFeatures((fs::path(c.work_dir) / "features.f32").string(), x.feats.dim);
    if (tf.ok()) {
      x.r.Num("fbank_max_abs_diff_ancat_vs_torchaudio", MaxAbsDiff(x.feats.data, tf->data), "%.2g",
              "same samples, log-mel values");
    }
    auto te = ReadFeatures((fs::path(c.work_dir) / "torch_encoder_out.f32").string(), x.mc.encoder.d_model);
    if (te.ok() && !x.enc_out_f32.empty()) {
      x.r.Num("encoder_max_abs_diff_ancat_f32_vs_pytorch", MaxAbsDiff(x.enc_out_f32, te->data), "%.2g",
              "offline encoder output: the peers compute the same function");
    }
  }
  if (x.torch && want_torch) {
    const auto& j = *x.torch;
    x.r.Str("pytorch_version", j.value("version", "?"), absl::StrCat("BLAS: ", j.value("blas", "?")));
    for (const char* suffix : {"", "_bf16"}) {
      const std::string off = std::string("offline") + suffix, st = std::string("streaming") + suffix;
      if (!j.contains(off) || !j.contains(st)) continue;
      x.r.Num(absl::StrCat("pytorch_offline_rtf_1core", suffix), j[off].value("median_s", 0.0) / x.audio_s,
              "%.5f", absl::StrFormat("%s; CPU %.4f s per pass", j[off].value("what", ""),
                                      j[off].value("median_cpu_s", 0.0)));
      x.r.Num(absl::StrCat("pytorch_streaming_rtf_1core", suffix), j[st].value("median_s", 0.0) / x.audio_s,
              "%.5f", absl::StrFormat("%s; CPU %.4f s per pass; max |diff| vs offline %.2g",
                                      j[st].value("what", ""), j[st].value("median_cpu_s", 0.0),
                                      j[st].value("max_abs_diff_vs_offline", -1.0)));
    }
  }
  if (want_ort) {
    auto o = x.torch ? RunOrtPeer(pc)
                     : absl::StatusOr<nlohmann::json>(
                           absl::FailedPreconditionError("needs the pytorch peer's features"));
    if (o.ok()) {
      x.ort = *o;
      const auto& j = *x.ort;
      x.r.Str("onnxruntime_version", j.value("version", "?"), j.value("onnx", ""));
      x.r.Num("onnxruntime_offline_rtf_1core", j["offline"].value("median_s", 0.0) / x.audio_s, "%.5f",
              absl::StrFormat("%s; CPU %.4f s per pass; max |diff| vs pytorch %.2g",
                              j["offline"].value("what", ""), j["offline"].value("median_cpu_s", 0.0),
                              j["offline"].value("max_abs_diff_vs_torch", -1.0)));
      const auto& js = j["streaming"];
      x.r.Num("onnxruntime_streaming_rtf_1core", js.value("median_s", 0.0) / x.audio_s, "%.5f",
              absl::StrFormat("%s; CPU %.4f s per pass; %d session.run() per pass at ~%.0f us fixed cost each; max |diff| vs pytorch %.2g",
                              js.value("what", ""), js.value("median_cpu_s", 0.0), js.value("calls_per_pass", 0),
                              1e6 * js.value("call_overhead_s", 0.0), js.value("max_abs_diff_vs_torch", -1.0)));
    } else {
      x.peer_status = o.status();
      x.r.Str("onnxruntime", "unavailable", std::string(o.status().message()));
    }
  }
}

// Memory of idle streams (streams that decoded idle_audio_ms and wait for more), per stream,
// for both key/value cache types and for audio given in one call and in chunk_ms chunks.
absl::Status Memory(Context& x, int threads) {
  const BenchConfig& c = x.c;
  const asr::StreamConfig sc = MakeStreamConfig(c);
  x.r.Section("memory");
  for (const std::string kv : {"f32", "bf16"}) {
    auto rec = MakeRecognizer(c, threads, "f32", kv);
    if (!rec.ok()) return rec.status();
    const std::string suffix = kv == "f32" ? "" : "_kv_bf16";
    const std::string what = kv == "f32" ? "f32 keys/values (RecognizerConfig::kv_cache default)"
                                         : "RecognizerConfig::kv_cache = bf16";
    for (const int chunk_ms : {0, c.chunk_ms}) {
      auto mem = MeasureIdleStreams(**rec, sc, x.samples, c.idle_streams, c.idle_audio_ms, chunk_ms);
      if (!mem.ok()) return mem.status();
      const std::string key = chunk_ms == 0 ? suffix : absl::StrCat(suffix, "_chunked");
      const std::string how = chunk_ms == 0 ? "in one call" : absl::StrFormat("in %d ms chunks", chunk_ms);
      x.r.Num("idle_stream_kb" + key, mem->rss_bytes_per_stream / 1024, "%.1f",
              absl::StrFormat("KiB: RSS growth / %d open streams that each decoded %d ms given %s; %s",
                              mem->streams, c.idle_audio_ms, how, what));
      x.r.Num("idle_stream_heap_kb" + key, mem->heap_bytes_per_stream / 1024, "%.1f",
              "KiB: malloc bytes in use, same streams");
      if (chunk_ms == 0) {
        x.r.Num("recognizer_first_use_mb" + suffix, mem->first_use_heap_bytes / (1024 * 1024), "%.1f",
                "MiB: what the same workload on streams closed again left in the heap (one-time, "
                "per recognizer: oneDNN primitives, encoder workspaces); not in the per-stream figures");
      }
    }
  }
  return absl::OkStatus();
}

// The encoder alone, N streams in lockstep on n threads, per compute type: achieved GFLOP/s
// against the matmul rates measured in this run. From wall time (what real time sees, waiting
// included) and from process CPU time (x n: the rate on n cores of its own, which a shared
// machine's other work distorts far less; it leaves out time a thread spends waiting for the
// other). Keys get a _<N>streams suffix except the first batch when first_unsuffixed.
absl::Status EncoderBatched(Context& x, int n, const std::vector<int>& batches, bool first_unsuffixed) {
  const BenchConfig& c = x.c;
  for (const auto& [name, type] : ComputeTypes()) {
    auto enc = asr::Encoder::Create(x.model, {.num_threads = n, .compute = type});
    if (!enc.ok()) continue;
    for (int batch : batches) {
      double cpu_s = 0;
      auto step = TimeEncoderBatchedStep(**enc, x.feats, batch, c.chunk_ms / 10, c.capacity.measure_s, &cpu_s);
      if (!step.ok()) return step.status();
      double frames = batch * (c.chunk_ms / double(x.mc.frame_ms));
      double gf = frames * x.flops.per_frame() / *step * 1e-9;
      double gfc = frames * x.flops.per_frame() / std::max(cpu_s, 1e-9) * n * 1e-9;
      const std::string key = absl::StrFormat(
          "ancat_encoder_batched_gflops_%dcores_%s%s", n, name,
          first_unsuffixed && batch == batches[0] ? "" : absl::StrCat("_", batch, "streams"));
      x.r.Num(key, gf, "%.1f",
              absl::StrFormat("%d streams x %d ms per Advance: median %.2f ms per step (%.1f%% of real time) = "
                              "%.0f%% of the %d-core %s matmul measured now, %.0f%% of %d x its 1-core rate "
                              "(the 2-thread matmul suffers most from a busy machine)",
                              batch, c.chunk_ms, *step * 1e3, 100 * *step / (c.chunk_ms * 1e-3),
                              PctOf(x, gf, name, n), n, name, PctOf(x, gf / n, name, 1), n));
      x.r.Num(key + "_cpu", gfc, "%.1f",
              absl::StrFormat("the same steps by CPU time: %.2f CPU-ms per step, x %d = %.0f%% of the %d-core %s "
                              "matmul per CPU-second measured now (waiting for the other thread not counted)",
                              cpu_s * 1e3, n, PctOf(x, gfc, name, n, /*cpu=*/true), n, name));
    }
  }
  return absl::OkStatus();
}

absl::Status ManyCores(Context& x, const std::vector<int>& cores) {
  const BenchConfig& c = x.c;
  const int n = static_cast<int>(cores.size());
  const asr::StreamConfig sc = MakeStreamConfig(c);
  auto rec = MakeRecognizer(c, n);
  if (!rec.ok()) return rec.status();
  CapacityConfig cap = c.capacity;
  auto print_points = [&](const CapacityResult& result, const std::string& json_key) {
    for (const auto& p : result.points) {
      std::printf("  streams %4d: step mean %7.2f ms  p50 %7.2f  p%.0f %7.2f  max %7.2f  cores %.2f  %s\n",
                  p.streams, p.mean_ms, p.p50_ms, cap.tail_pct, p.tail_ms, p.max_ms, p.cpu_cores,
                  p.sustained ? "real time" : "too slow");
      x.r.json()[json_key].push_back(
          {{"streams", p.streams}, {"mean_ms", p.mean_ms}, {"p50_ms", p.p50_ms},
           {"tail_ms", p.tail_ms}, {"max_ms", p.max_ms}, {"cores", p.cpu_cores},
           {"sustained", p.sustained}});
    }
  };
  auto capacity = FindCapacity(**rec, sc, x.samples, cap);
  if (!capacity.ok()) return capacity.status();
  print_points(*capacity, "capacity_points");
  x.capacity = capacity->max_streams;
  // CPU time per stream-step at the largest N that ran to the end (batching included); it
  // feeds a like-for-like comparison with the peers' CPU-time figures (see Ratios).
  for (const auto& p : capacity->points) {
    bool complete = p.sustained || p.mean_ms <= 2.0 * c.chunk_ms;
    if (complete && p.streams >= x.batched_cpu_rtf_streams && p.mean_ms > 0) {
      x.batched_cpu_rtf_streams = p.streams;
      x.batched_cpu_rtf_per_stream = p.cpu_cores * p.mean_ms / (p.streams * c.chunk_ms);
    }
  }
  x.r.Num(absl::StrFormat("ancat_realtime_streams_%dcores", n), x.capacity, "%.0f",
          absl::StrFormat("recognizer (%s), lockstep %d ms chunks: largest N with mean step <= %.0f%% "
                          "of %d ms and p%.0f <= %d ms",
                          c.decoding, c.chunk_ms, 100 * cap.margin, c.chunk_ms, cap.tail_pct, c.chunk_ms));
  // The same with int8 encoder matmuls (the search and the frontend unchanged).
  if (auto rec8 = MakeRecognizer(c, n, "int8"); rec8.ok()) {
    auto capacity8 = FindCapacity(**rec8, sc, x.samples, cap);
    if (!capacity8.ok()) return capacity8.status();
    print_points(*capacity8, "capacity_points_int8");
    x.r.Num(absl::StrFormat("ancat_realtime_streams_%dcores_int8", n), capacity8->max_streams, "%.0f",
            absl::StrFormat("recognizer (%s) with int8 encoder matmuls, same rule", c.decoding));
  } else {
    x.r.Str(absl::StrFormat("ancat_realtime_streams_%dcores_int8", n), "unavailable",
            std::string(rec8.status().message()));
  }
  // The encoder alone: how many streams it would sustain, per compute type (the ceiling the
  // transducer search and the frontend then lower).
  for (const auto& [name, type] : ComputeTypes()) {
    auto enc = asr::Encoder::Create(x.model, {.num_threads = n, .compute = type});
    if (!enc.ok()) continue;
    auto ec = FindEncoderCapacity(**enc, x.feats, cap);
    if (!ec.ok()) return ec.status();
    x.r.Num(absl::StrFormat("ancat_encoder_realtime_streams_%dcores_%s", n, name), ec->max_streams, "%.0f",
            absl::StrFormat("encoder alone, same rule; steps tried: %s", [&] {
              std::vector<std::string> v;
              for (const auto& p : ec->points) {
                v.push_back(absl::StrFormat("%d:%.1fms%s", p.streams, p.mean_ms, p.sustained ? "" : "(miss)"));
              }
              return absl::StrJoin(v, " ");
            }()));
  }
  // The encoder alone at that batch and at a fixed batch: achieved GFLOP/s against the matmul
  // rate (the fixed batch keeps the figure meaningful when the capacity search found little).
  std::vector<int> batches = {std::max(1, x.capacity)};
  if (c.batch_streams > 0 && c.batch_streams != batches[0]) batches.push_back(c.batch_streams);
  if (auto s = EncoderBatched(x, n, batches, /*first_unsuffixed=*/true); !s.ok()) return s;
  if (c.idle_streams > 0) return Memory(x, n);
  return absl::OkStatus();
}

// Wall and CPU seconds of one pass.
struct Clock {
  double wall = 0, cpu = 0;
};

Clock Of(const nlohmann::json& j) { return {j.value("median_s", 0.0), j.value("median_cpu_s", 0.0)}; }

void Ratios(Context& x) {
  x.r.Section("ratios (peer time / Ancat time on the same core; > 1: Ancat is faster; "
              "_cpu: the same from CPU time, steadier on a busy machine)");
  auto enc = [&](const std::map<std::string, EncoderTiming>& m, const std::string& type) {
    auto it = m.find(type);
    return it == m.end() ? Clock{} : Clock{it->second.median_s, it->second.cpu_s};
  };
  auto ratio = [&](const std::string& key, Clock peer, Clock ancat, const std::string& note) {
    if (peer.wall > 0 && ancat.wall > 0) x.r.Num(key, peer.wall / ancat.wall, "%.2f", note);
    if (peer.cpu > 0 && ancat.cpu > 0) x.r.Num(key + "_cpu", peer.cpu / ancat.cpu, "%.2f");
  };
  const bool torch = x.torch && std::count(x.c.peers.begin(), x.c.peers.end(), "pytorch");
  // Like with like: Ancat f32 against the peers in f32; Ancat bf16 against PyTorch in bf16
  // (whole model in bfloat16), and against onnxruntime f32 (its CPU kernels have no bf16 path
  // for these ops). Ancat int8 against both peers in f32 (the reference arithmetic; neither
  // peer runs this model in int8 here).
  for (const auto& [name, type] : ComputeTypes()) {
    const std::string suffix = name == "bf16" ? "_bf16" : "";
    const std::string torch_note = name == "int8" ? "Ancat int8, PyTorch f32" : "both " + name;
    if (torch && x.torch->contains("offline" + suffix)) {
      ratio("speedup_encoder_offline_vs_pytorch_" + name, Of((*x.torch)["offline" + suffix]),
            enc(x.enc_offline, name), torch_note + ": encoder on the whole utterance's fbank");
      ratio("speedup_encoder_streaming_vs_pytorch_" + name, Of((*x.torch)["streaming" + suffix]),
            enc(x.enc_streaming, name), torch_note + ": encoder stepped 40 ms at a time with caches, each node once");
    }
    if (x.ort) {
      const std::string note = name == "f32" ? "both f32" : "Ancat " + name + ", onnxruntime f32";
      ratio("speedup_encoder_offline_vs_onnxruntime_" + name, Of((*x.ort)["offline"]),
            enc(x.enc_offline, name), note + ": encoder on the whole utterance's fbank");
      ratio("speedup_encoder_streaming_vs_onnxruntime_" + name, Of((*x.ort)["streaming"]),
            enc(x.enc_streaming, name), note + ": encoder stepped 40 ms at a time with caches, each node once");
    }
  }
  if (torch && x.streaming) {
    ratio("speedup_recognizer_streaming_vs_pytorch_encoder", Of((*x.torch)["streaming"]),
          {x.streaming->wall_s, x.streaming->cpu_s}, "Ancat does more here: fbank + encoder + search per chunk");
  }
  if (x.ort && x.offline) {
    ratio("speedup_recognizer_offline_vs_onnxruntime_encoder", Of((*x.ort)["offline"]),
          {x.offline->wall_s, x.offline->cpu_s}, "Ancat does more here: fbank + encoder + search");
  }
  // What the peers' streaming speed would allow on the same cores: one stream per core-share,
  // perfect scaling (an upper bound for them: they batch nothing across streams).
  const int ncores = std::min<int>(x.c.cores, x.allowed.size());
  auto peer_streams = [&](const std::string& peer, const nlohmann::json& j) {
    double rtf = j["streaming"].value("median_cpu_s", 0.0) / x.audio_s;
    if (rtf <= 0) return;
    x.r.Num(absl::StrFormat("%s_streams_%dcores_upper_bound", peer, ncores),
            std::floor(ncores * x.c.capacity.margin / rtf), "%.0f",
            absl::StrFormat("%d cores x %.2f margin / CPU-time streaming RTF; compare ancat_realtime_streams_%dcores = %d",
                            ncores, x.c.capacity.margin, ncores, x.capacity));
  };
  if (torch) peer_streams("pytorch", *x.torch);
  if (x.ort) peer_streams("onnxruntime", *x.ort);
  if (x.batched_cpu_rtf_per_stream > 0) {
    x.r.Num(absl::StrFormat("ancat_streams_%dcores_cpu_estimate", ncores),
            std::floor(ncores * x.c.capacity.margin / x.batched_cpu_rtf_per_stream), "%.0f",
            absl::StrFormat("the same rule from Ancat's CPU time per stream-step at %d batched streams "
                            "(what the busy machine left out); the measured figure is ancat_realtime_streams_%dcores",
                            x.batched_cpu_rtf_streams, ncores));
  }
}

// The closing line, and the JSON file if asked for.
absl::Status Finish(Context& x) {
  x.r.Num("load_average_end", LoadAverage1(), "%.2f");
  if (!x.c.json_out.empty()) {
    std::ofstream f(x.c.json_out);
    f << x.r.json().dump(2) << "\n";
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", x.c.json_out));
  }
  return absl::OkStatus();
}

// The whole process on these CPUs, and the engine's threads one per CPU: every section's
// figures are measured on exactly the CPUs it names.
absl::Status UseCpus(const std::vector<int>& cpus) {
  if (auto s = PinProcess(cpus); !s.ok()) return s;
  asr::nn::SetNumThreads(static_cast<int>(cpus.size()));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunBench(const BenchConfig& c) {
  if (auto s = c.Validate(); !s.ok()) return s;
  std::error_code ec;
  fs::create_directories(c.work_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create work_dir ", c.work_dir));
  Context x(c);
  if (auto s = Setup(x); !s.ok()) return s;
  std::vector<int> cores(x.allowed.begin(),
                         x.allowed.begin() + std::min<size_t>(c.cores, x.allowed.size()));
  const int n = static_cast<int>(cores.size());
  if (c.memory_only) {
    if (auto s = UseCpus(cores); !s.ok()) return s;
    if (auto s = Memory(x, n); !s.ok()) return s;
    return Finish(x);
  }
  if (c.batched_only) {
    x.one_cpu = QuietestCpu(x.allowed, 0.3);
    if (auto s = UseCpus({x.one_cpu}); !s.ok()) return s;
    x.r.Section(absl::StrFormat("one core (cpu %d, 1 thread): matmul rates only", x.one_cpu));
    Matmuls(x, 1);
    if (auto s = UseCpus(cores); !s.ok()) return s;
    x.r.Section(absl::StrFormat("%d cores (cpus %s), %d threads, batched encoder only", n,
                                absl::StrJoin(cores, ","), n));
    Matmuls(x, n);
    if (auto s = EncoderBatched(x, n, {2 * c.batch_streams, c.batch_streams}, /*first_unsuffixed=*/false); !s.ok()) {
      return s;
    }
    return Finish(x);
  }

  // One core: the whole process (and later the peers) on the quieter CPU.
  x.one_cpu = QuietestCpu(x.allowed, 0.3);
  if (auto s = UseCpus({x.one_cpu}); !s.ok()) return s;
  x.r.Section(absl::StrFormat("one core (cpu %d, 1 thread)", x.one_cpu));
  Matmuls(x, 1);
  if (auto s = EncoderOneCore(x); !s.ok()) return s;
  if (auto s = RecognizerOneCore(x); !s.ok()) return s;
  if (!c.peers.empty()) Peers(x);

  // N cores: cross-stream batching.
  if (auto s = UseCpus(cores); !s.ok()) return s;
  x.r.Section(absl::StrFormat("%d cores (cpus %s), %d threads, cross-stream batching", n,
                              absl::StrJoin(cores, ","), n));
  Matmuls(x, n);
  if (auto s = ManyCores(x, cores); !s.ok()) return s;

  Ratios(x);
  if (auto s = Finish(x); !s.ok()) return s;
  return x.peer_status;
}

}  // namespace ancat::bench
