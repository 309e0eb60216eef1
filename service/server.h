// The running gRPC server: the Speech service, grpc.health.v1 and server reflection on one
// port, the batching scheduler behind them, and graceful shutdown.
#ifndef ANCAT_SERVICE_SERVER_H_
#define ANCAT_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "asr/recognizer.h"
#include "service/metrics.h"
#include "service/scheduler.h"
#include "service/speech_service.h"

namespace grpc {
class Server;
}
namespace prometheus {
class Exposer;
}

namespace ancat::service {

struct ServerConfig {
  std::string listen = "0.0.0.0:50051";  // HOST:PORT; port 0 picks a free one
  int max_message_bytes = 8 << 20;       // larger requests fail with RESOURCE_EXHAUSTED
  double drain_seconds = 20;             // how long Shutdown lets open calls finish
  std::string metrics_listen;            // HOST:PORT for Prometheus' GET /metrics; empty: off
  ServiceConfig service;
  SchedulerConfig scheduler;

  absl::Status Validate() const;
  std::string ToString() const;
};

class AsrServer {
 public:
  // Binds and starts serving. `recognizer` must outlive the server.
  static absl::StatusOr<std::unique_ptr<AsrServer>> Start(const ServerConfig& config,
                                                           asr::Recognizer& recognizer);
  ~AsrServer();  // Shutdown()

  int port() const { return port_; }
  // The metrics port (0 when metrics_listen is empty).
  int metrics_port() const;
  // Graceful: health NOT_SERVING, new calls refused (UNAVAILABLE), open calls drained for up
  // to drain_seconds, then the rest cancelled and the server stopped. Idempotent.
  void Shutdown();
  void Wait();

  const SpeechService& speech_service() const { return *service_; }
  SchedulerStats scheduler_stats() const { return scheduler_->stats(); }

 private:
  AsrServer() = default;

  ServerConfig config_;
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<SpeechService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_SERVER_H_
