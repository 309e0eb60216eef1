#include "service/server_main.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "service/server.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, model, "", "Model folder (with model.json). Required.");
ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "HOST:PORT to listen on; port 0 picks one.");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving Prometheus metrics at /metrics; empty = off.");
ABSL_FLAG(std::string, port_file, "", "If set, the bound port is written to this file.");
ABSL_FLAG(int, num_threads, 1, "Threads for the recognizer's batched work.");
ABSL_FLAG(std::string, compute_type, "f32",
          "Encoder matmuls: f32 | bf16 (avx512_bf16 CPUs) | int8 (VNNI CPUs); the decoder stays f32.");
ABSL_FLAG(std::string, kv_cache, "f32",
          "Encoder key/value cache: f32 | bf16 (half the memory per stream, ~2e-3 relative drift).");
ABSL_FLAG(int, max_batch, 256, "Streams advanced in one batched decoder call, at most.");
ABSL_FLAG(int, max_streams, 256, "Concurrent recognitions; more get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_message_bytes, 8 << 20, "Largest request message accepted, in bytes.");
ABSL_FLAG(double, max_audio_seconds, 600, "Audio per call, at most; more gets OUT_OF_RANGE.");
ABSL_FLAG(int64_t, max_container_bytes, 64 << 20,
          "FLAC/OGG/WAV bytes buffered per stream, at most.");
ABSL_FLAG(double, idle_timeout_seconds, 30,
          "A stream without any message for this long ends with OUT_OF_RANGE; 0 = never.");
ABSL_FLAG(double, drain_seconds, 20, "On SIGTERM, time given to open calls to finish.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error.");

namespace ancat::service {
namespace {

int Run(const RecognizerFactory& create_recognizer) {

  asr::RecognizerConfig rec_config;
  rec_config.model_dir = absl::GetFlag(FLAGS_model);
  rec_config.num_threads = absl::GetFlag(FLAGS_num_threads);
  rec_config.max_batch = absl::GetFlag(FLAGS_max_batch);
  rec_config.compute_type = absl::GetFlag(FLAGS_compute_type);
  rec_config.kv_cache = absl::GetFlag(FLAGS_kv_cache);
  if (rec_config.model_dir.empty()) {
    spdlog::error("event=bad_flags message=\"--model DIR is required\"");
    return 2;
  }
  if (rec_config.compute_type != "f32" && rec_config.compute_type != "bf16" && rec_config.compute_type != "int8") {
    spdlog::error("event=bad_flags message=\"--compute_type must be f32, bf16 or int8, got {}\"",
                  rec_config.compute_type);
    return 2;
  }
  if (rec_config.kv_cache != "f32" && rec_config.kv_cache != "bf16") {
    spdlog::error("event=bad_flags message=\"--kv_cache must be f32 or bf16, got {}\"", rec_config.kv_cache);
    return 2;
  }

  ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.service.max_streams = absl::GetFlag(FLAGS_max_streams);
  config.service.max_audio_seconds = absl::GetFlag(FLAGS_max_audio_seconds);
  config.service.max_container_bytes = absl::GetFlag(FLAGS_max_container_bytes);
  config.service.idle_timeout_seconds = absl::GetFlag(FLAGS_idle_timeout_seconds);
  config.scheduler.max_batch = absl::GetFlag(FLAGS_max_batch);
  if (auto s = config.Validate(); !s.ok()) {
    spdlog::error("event=bad_flags message=\"{}\"", std::string(s.message()));
    return 2;
  }

  // SIGTERM/SIGINT are taken with sigwait below; block them before any thread starts so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  spdlog::info("event=model_loading model_dir={} compute_type={} kv_cache={}", rec_config.model_dir,
               rec_config.compute_type, rec_config.kv_cache);
  auto recognizer = create_recognizer(rec_config);
  if (!recognizer.ok()) {
    spdlog::error("event=model_load_failed model_dir={} status=\"{}\"", rec_config.model_dir,
                  recognizer.status().ToString());
    return 1;
  }
  const asr::ModelInfo& info = (*recognizer)->Info();
  spdlog::info("event=model_loaded name={} version={} vocab={} sample_rate={}", info.name,
               info.version, info.vocab_size, info.sample_rate);

  auto server = AsrServer::Start(config, **recognizer);
  if (!server.ok()) {
    spdlog::error("event=start_failed status=\"{}\"", server.status().ToString());
    return 1;
  }
  spdlog::info("event=serving listen={} port={} metrics_port={} {}", config.listen,
               (*server)->port(), (*server)->metrics_port(), config.ToString());
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    // Written whole to a temporary name, then renamed, so a reader never sees half of it.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("event=signal signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  const auto stats = (*server)->scheduler_stats();
  spdlog::info("event=stopped decode_calls={} streams_decoded={} max_batch_seen={}",
               stats.decode_calls, stats.streams_decoded, stats.max_batch_seen);
  return 0;
}

}  // namespace

int ServerMain(int argc, char** argv, const RecognizerFactory& create_recognizer) {
  absl::SetProgramUsageMessage(
      "Ancat speech recognition server.\n  ancat-server --model DIR --listen HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  // Logs go to stderr as logfmt-style key=value records, one per line.
  auto logger = spdlog::stderr_logger_mt("ancat-server");
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));
  return Run(create_recognizer);
}

}  // namespace ancat::service
