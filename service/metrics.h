// Prometheus metrics of the server (prometheus-cpp): calls by method and status code, open
// calls, audio received, and the scheduler's batches (size and DecodeStreams time), so that
// operators see load, errors and how well cross-stream batching works. Served over HTTP by
// AsrServer when ServerConfig::metrics_listen is set (GET /metrics).
#ifndef ANCAT_SERVICE_METRICS_H_
#define ANCAT_SERVICE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace ancat::service {

class ServiceMetrics {
 public:
  ServiceMetrics();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // `method` is the rpc name ("StreamingRecognize", "Recognize"); `code` a gRPC code name.
  void CallStarted(const std::string& method);
  void CallFinished(const std::string& method, const std::string& code);
  // A call turned away before it started (limits, draining): counted, never open.
  void CallRefused(const std::string& method, const std::string& code);
  void AudioReceived(double seconds) { audio_seconds_->Increment(seconds); }
  void BatchDecoded(int streams, double seconds);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* calls_;
  prometheus::Family<prometheus::Gauge>* open_calls_;
  prometheus::Counter* audio_seconds_;
  prometheus::Histogram* batch_streams_;
  prometheus::Histogram* decode_seconds_;
};

// gRPC status code names as they appear in the `code` label.
std::string StatusCodeName(int code);

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_METRICS_H_
