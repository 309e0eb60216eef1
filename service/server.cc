#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace ancat::service {

absl::Status ServerConfig::Validate() const {
  if (listen.empty() || listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: '", listen, "' is not HOST:PORT"));
  }
  if (max_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes: ", max_message_bytes, " is < 1024"));
  }
  if (!(drain_seconds >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("drain_seconds: ", drain_seconds, " is < 0"));
  }
  if (auto s = service.Validate(); !s.ok()) return s;
  return scheduler.Validate();
}

std::string ServerConfig::ToString() const {
  return absl::StrCat("ServerConfig(listen=", listen, ", metrics_listen=", metrics_listen,
                      ", max_message_bytes=", max_message_bytes,
                      ", drain_seconds=", drain_seconds, ", ", service.ToString(), ", ",
                      scheduler.ToString(), ")");
}

absl::StatusOr<std::unique_ptr<AsrServer>> AsrServer::Start(const ServerConfig& config,
                                                            asr::Recognizer& recognizer) {
  if (auto s = config.Validate(); !s.ok()) return s;
  std::unique_ptr<AsrServer> server(new AsrServer());
  server->config_ = config;
  server->metrics_ = std::make_unique<ServiceMetrics>();
  if (!config.metrics_listen.empty()) {
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(config.metrics_listen);
    } catch (const std::exception& e) {  // civetweb reports a busy port by throwing
      return absl::UnavailableError(
          absl::StrCat("metrics_listen: cannot listen on ", config.metrics_listen, ": ",
                       e.what()));
    }
    server->exposer_->RegisterCollectable(server->metrics_->registry());
  }
  server->scheduler_ =
      std::make_unique<Scheduler>(recognizer, config.scheduler, server->metrics_.get());
  server->service_ = std::make_unique<SpeechService>(recognizer, *server->scheduler_,
                                                     config.service, server->metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  // Pings find clients that vanished without closing their connection (a dropped network),
  // so their streams are cancelled instead of holding a slot until the audio limit.
  // gRPC sets SO_REUSEPORT by default: a second server on a busy port would start and share
  // its traffic instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  server->scheduler_->Start();
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(pb::Speech::service_full_name(), true);
  return server;
}

AsrServer::~AsrServer() { Shutdown(); }

int AsrServer::metrics_port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void AsrServer::Shutdown() {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  service_->BeginDrain();
  const int open = service_->active_calls();
  spdlog::info("event=drain_begin open_calls={} deadline_s={}", open, config_.drain_seconds);
  const bool idle = service_->WaitIdle(absl::Now() + absl::Seconds(config_.drain_seconds));
  spdlog::info("event=drain_end drained={} left={}", idle, service_->active_calls());
  // Cancels what is still open; returns once every call has finished.
  server_->Shutdown(std::chrono::system_clock::now());
  scheduler_->Stop();
  server_->Wait();
}

void AsrServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace ancat::service
