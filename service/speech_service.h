// The ancat.asr.v1.Speech service on gRPC's callback API. It adapts requests to the library
// (request_config.h), feeds audio through asr::StreamingAudioConverter to the scheduler, and
// turns results into responses (responses.h). No model math here.
#ifndef ANCAT_SERVICE_SPEECH_SERVICE_H_
#define ANCAT_SERVICE_SPEECH_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ancat/asr/v1/speech.grpc.pb.h"
#include "asr/recognizer.h"
#include "service/metrics.h"
#include "service/request_config.h"
#include "service/scheduler.h"

namespace ancat::service {

struct ServiceConfig {
  int max_streams = 256;              // concurrent StreamingRecognize + Recognize calls
  double max_audio_seconds = 600;     // audio per call, after which it fails with OUT_OF_RANGE
  int64_t max_container_bytes = 64 << 20;  // FLAC/OGG/... bytes buffered per stream
  // A stream whose client sends nothing for this long (before half-closing) ends with
  // OUT_OF_RANGE, as Google's "audio timeout": it frees its slot. 0 disables.
  double idle_timeout_seconds = 30;

  absl::Status Validate() const;
  std::string ToString() const;
};

grpc::Status ToGrpcStatus(const absl::Status& status);

// A call the idle watchdog can end (streaming calls register while their input is open).
class IdleCall {
 public:
  virtual ~IdleCall() = default;
  // Ends the call if it has been idle since `cutoff`; called with the registry locked.
  virtual void EndIfIdleSince(int64_t cutoff_ns) = 0;
};

class SpeechService final : public pb::Speech::CallbackService {
 public:
  // Both must outlive the service (and the gRPC server that runs it).
  // `metrics` is optional; it must outlive the service too.
  SpeechService(asr::Recognizer& recognizer, Scheduler& scheduler, const ServiceConfig& config,
                ServiceMetrics* metrics = nullptr);
  ~SpeechService() override;

  grpc::ServerBidiReactor<pb::StreamingRecognizeRequest, pb::StreamingRecognizeResponse>*
  StreamingRecognize(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Recognize(grpc::CallbackServerContext* context,
                                      const pb::RecognizeRequest* request,
                                      pb::RecognizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const pb::GetModelInfoRequest* request,
                                         pb::ModelInfo* response) override;

  // Graceful shutdown, first half: new recognition calls are refused with UNAVAILABLE.
  void BeginDrain();
  // Waits until no recognition call is open or `deadline` passes; true if none is open.
  bool WaitIdle(absl::Time deadline);
  int active_calls() const;

  // For the calls (internal).
  absl::Status Admit();
  void Release();
  Scheduler& scheduler() { return scheduler_; }
  const ServiceConfig& config() const { return config_; }
  const RequestLimits& limits() const { return limits_; }
  int64_t NextCallId() { return ++call_ids_; }
  ServiceMetrics* metrics() { return metrics_; }
  void WatchIdle(IdleCall* call);
  void UnwatchIdle(IdleCall* call);  // after it returns, the watchdog no longer uses `call`

 private:
  asr::Recognizer& recognizer_;
  Scheduler& scheduler_;
  const ServiceConfig config_;
  RequestLimits limits_;
  ServiceMetrics* const metrics_;
  std::atomic<int64_t> call_ids_{0};

  void WatchdogLoop();

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  std::vector<IdleCall*> watched_;  // guarded by watch_mu_
  bool watch_stop_ = false;         // guarded by watch_mu_
  std::thread watchdog_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  bool draining_ = false;  // guarded by mu_
  int active_ = 0;         // guarded by mu_
};

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_SPEECH_SERVICE_H_
