#include "service/speech_service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asr/audio/audio.h"
#include "service/responses.h"
#include "spdlog/spdlog.h"

namespace ancat::service {
namespace {

constexpr char kStreamingMethod[] = "StreamingRecognize";
constexpr char kRecognizeMethod[] = "Recognize";

using StreamingReactor =
    grpc::ServerBidiReactor<pb::StreamingRecognizeRequest, pb::StreamingRecognizeResponse>;

// Audio problems are the client's: whatever libsndfile or the converter says (corrupt,
// truncated, unreadable format), the answer is INVALID_ARGUMENT naming where it happened.
absl::Status AudioError(absl::string_view where, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.message()));
}

absl::Status TooLong(double seconds, double limit) {
  return absl::OutOfRangeError(absl::StrCat("the audio is longer than this server's limit of ",
                                            limit, " s (got at least ", seconds, " s)"));
}

// Forwards scheduler output to a call that may already be gone: the call detaches in OnDone,
// after which results are dropped. The mutex orders delivery before detaching.
template <typename Call>
class CallSink final : public ResultSink {
 public:
  explicit CallSink(Call* call) : call_(call) {}
  void OnResults(std::vector<asr::Result> results) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (call_ != nullptr) call_->Deliver(std::move(results));
  }
  void OnFinished(absl::Status status) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (call_ != nullptr) call_->End(std::move(status));
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    call_ = nullptr;
  }

 private:
  std::mutex mu_;
  Call* call_;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One StreamingRecognize call. Reads run one at a time on gRPC threads; results arrive on the
// scheduler thread; writes are queued because gRPC allows one in flight.
class StreamingCall final : public StreamingReactor, public IdleCall {
 public:
  StreamingCall(SpeechService* service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        id_(service->NextCallId()),
        sink_(std::make_shared<CallSink<StreamingCall>>(this)) {
    if (absl::Status admit = service_->Admit(); !admit.ok()) {
      admitted_ = false;
      if (ServiceMetrics* m = service_->metrics(); m != nullptr) {
        m->CallRefused(kStreamingMethod, StatusCodeName(static_cast<int>(admit.code())));
      }
      std::lock_guard<std::mutex> lock(mu_);
      FinishLocked(admit);
      return;
    }
    spdlog::info("event=stream_open call={} peer={}", id_, context_->peer());
    if (service_->metrics() != nullptr) service_->metrics()->CallStarted(kStreamingMethod);
    last_read_ns_ = NowNs();
    service_->WatchIdle(this);
    watched_ = true;
    StartRead(&request_);
  }

  void EndIfIdleSince(int64_t cutoff_ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_.has_value() || input_done_ || last_read_ns_ >= cutoff_ns) return;
    if (session_ != nullptr) session_->Cancel();
    spdlog::warn("event=stream_idle call={} messages={}", id_, messages_);
    FinishLocked(absl::OutOfRangeError(absl::StrCat(
        "audio timeout: no message for ", service_->config().idle_timeout_seconds,
        " s; send audio close to real time and half-close the stream when done")));
  }

  void OnReadDone(bool ok) override {
    bool read_more = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finish_.has_value()) return;
      last_read_ns_ = NowNs();
      if (!ok) {
        input_done_ = true;
        EndOfInputLocked();
        return;
      }
      ++messages_;
      absl::Status status = session_ == nullptr ? ConfigureLocked() : AcceptAudioLocked();
      if (!status.ok()) {
        if (session_ != nullptr) session_->Cancel();
        FinishLocked(status);
        return;
      }
      read_more = !finish_.has_value();
    }
    if (read_more) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) queue_.clear();  // the client is gone; nothing more will get through
    if (!queue_.empty()) {
      StartWriteLocked();
    } else if (finish_.has_value() && !finished_) {
      finished_ = true;
      Finish(*finish_);
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (session_ != nullptr) session_->Cancel();
    queue_.erase(queue_.begin() + (writing_ ? 1 : 0), queue_.end());
    FinishLocked(absl::CancelledError("the call was cancelled"));
  }

  void OnDone() override {
    if (watched_) service_->UnwatchIdle(this);
    sink_->Detach();
    if (session_ != nullptr) session_->Cancel();
    if (admitted_) {
      service_->Release();
      const int code = finish_.has_value() ? static_cast<int>(finish_->error_code()) : 2;
      spdlog::info("event=stream_close call={} messages={} audio_s={:.2f} finals={} code={}",
                   id_, messages_, audio_seconds_, builder_ ? builder_->finals() : 0,
                   StatusCodeName(code));
      if (ServiceMetrics* m = service_->metrics(); m != nullptr) {
        m->AudioReceived(audio_seconds_);
        m->CallFinished(kStreamingMethod, StatusCodeName(code));
      }
    }
    delete this;
  }

  // Scheduler thread (through the sink).
  void Deliver(std::vector<asr::Result> results) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_.has_value()) return;
    bool final_seen = false;
    google::protobuf::Duration final_end;
    for (auto& response : builder_->Build(results)) {
      for (const auto& r : response.results()) {
        if (r.is_final() && !final_seen) final_end = r.result_end_offset();
        final_seen = final_seen || r.is_final();
      }
      EnqueueLocked(std::move(response));
      if (final_seen && config_.single_utterance) break;
    }
    if (final_seen && config_.single_utterance) {
      pb::StreamingRecognizeResponse end;
      end.set_speech_event_type(pb::StreamingRecognizeResponse::END_OF_SINGLE_UTTERANCE);
      *end.mutable_speech_event_offset() = final_end;
      EnqueueLocked(std::move(end));
      session_->Cancel();
      FinishLocked(absl::OkStatus());
    }
  }

  void End(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status.ok()) {
      spdlog::warn("event=stream_failed call={} status=\"{}\"", id_, status.ToString());
    }
    FinishLocked(status);
  }

 private:
  absl::Status ConfigureLocked() {
    if (request_.streaming_request_case() != pb::StreamingRecognizeRequest::kStreamingConfig) {
      return absl::InvalidArgumentError(absl::StrCat(
          "message #1: the first message must carry streaming_config (got ",
          request_.has_audio_content() ? "audio_content" : "an empty message", ")"));
    }
    auto setup = ToRequestSetup(request_.streaming_config(), service_->limits());
    if (!setup.ok()) return setup.status();
    auto converter = asr::StreamingAudioConverter::Create(setup->audio);
    if (!converter.ok()) return AudioError("streaming_config.config", converter.status());
    converter_ = std::move(*converter);
    config_ = setup->stream;
    builder_.emplace(config_);
    session_ = service_->scheduler().Open(config_, sink_);
    spdlog::info(
        "event=stream_config call={} encoding={} rate_in={} interim={} single_utterance={} "
        "beta={} max_lookahead_ms={} alternatives={} endpointing={}",
        id_, pb::AudioEncoding_Name(request_.streaming_config().config().encoding()),
        setup->audio.sample_rate, config_.interim_results, config_.single_utterance,
        config_.latency.beta, config_.latency.max_lookahead_ms,
        config_.decoding.max_alternatives, config_.endpoint.enabled);
    return absl::OkStatus();
  }

  absl::Status AcceptAudioLocked() {
    switch (request_.streaming_request_case()) {
      case pb::StreamingRecognizeRequest::kAudioContent: break;
      case pb::StreamingRecognizeRequest::kStreamingConfig:
        return absl::InvalidArgumentError(absl::StrCat(
            "message #", messages_, ": streaming_config is only allowed in the first message"));
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "message #", messages_, ": carries neither streaming_config nor audio_content"));
    }
    std::vector<float> samples;
    if (absl::Status s = converter_->Accept(request_.audio_content(), &samples); !s.ok()) {
      return AudioError(absl::StrCat("message #", messages_, " audio_content"), s);
    }
    return AddSamplesLocked(std::move(samples));
  }

  absl::Status AddSamplesLocked(std::vector<float> samples) {
    audio_seconds_ += static_cast<double>(samples.size()) / config_.sample_rate;
    if (audio_seconds_ > service_->config().max_audio_seconds) {
      return TooLong(audio_seconds_, service_->config().max_audio_seconds);
    }
    if (!samples.empty()) session_->AddAudio(std::move(samples));
    return absl::OkStatus();
  }

  // The client half-closed (or the call broke; OnCancel covers that case).
  void EndOfInputLocked() {
    if (session_ == nullptr) {
      FinishLocked(absl::InvalidArgumentError(
          "the stream ended before its first message (streaming_config)"));
      return;
    }
    std::vector<float> tail;
    absl::Status status = converter_->Finish(&tail);
    if (!status.ok()) status = AudioError("audio_content (end of stream)", status);
    if (status.ok()) status = AddSamplesLocked(std::move(tail));
    if (!status.ok()) {
      session_->Cancel();
      FinishLocked(status);
      return;
    }
    session_->EndAudio();  // the scheduler flushes and then calls End(OK)
  }

  void EnqueueLocked(pb::StreamingRecognizeResponse response) {
    queue_.push_back(std::move(response));
    if (!writing_) StartWriteLocked();
  }

  void StartWriteLocked() {
    writing_ = true;
    StartWrite(&queue_.front());
  }

  // Finishes once queued responses are written. The first status wins.
  void FinishLocked(const absl::Status& status) {
    if (finish_.has_value()) return;
    finish_ = ToGrpcStatus(status);
    if (!writing_) {
      finished_ = true;
      Finish(*finish_);
    }
  }

  SpeechService* const service_;
  grpc::CallbackServerContext* const context_;
  const int64_t id_;
  const std::shared_ptr<CallSink<StreamingCall>> sink_;
  bool admitted_ = true;
  bool watched_ = false;

  std::mutex mu_;
  int64_t last_read_ns_ = 0;  // when the last message (or the half-close) arrived
  bool input_done_ = false;   // the client half-closed
  pb::StreamingRecognizeRequest request_;
  int64_t messages_ = 0;
  double audio_seconds_ = 0;
  asr::StreamConfig config_;
  std::unique_ptr<asr::StreamingAudioConverter> converter_;
  std::optional<ResponseBuilder> builder_;
  std::shared_ptr<Session> session_;
  std::deque<pb::StreamingRecognizeResponse> queue_;  // front is being written if writing_
  bool writing_ = false;
  std::optional<grpc::Status> finish_;
  bool finished_ = false;
};

// One Recognize call: the whole clip goes through the same scheduler as the streams.
class RecognizeCall final : public grpc::ServerUnaryReactor {
 public:
  RecognizeCall(SpeechService* service, grpc::CallbackServerContext* context,
                const pb::RecognizeRequest* request, pb::RecognizeResponse* response)
      : service_(service),
        id_(service->NextCallId()),
        response_(response),
        sink_(std::make_shared<CallSink<RecognizeCall>>(this)) {
    if (absl::Status admit = service_->Admit(); !admit.ok()) {
      admitted_ = false;
      if (ServiceMetrics* m = service_->metrics(); m != nullptr) {
        m->CallRefused(kRecognizeMethod, StatusCodeName(static_cast<int>(admit.code())));
      }
      End(admit);
      return;
    }
    spdlog::info("event=recognize_open call={} peer={} bytes={}", id_, context->peer(),
                 request->audio().content().size());
    if (service_->metrics() != nullptr) service_->metrics()->CallStarted(kRecognizeMethod);
    absl::Status status = StartRecognition(*request);
    if (!status.ok()) End(status);
  }

  void OnCancel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (session_ != nullptr) session_->Cancel();
    }
    End(absl::CancelledError("the call was cancelled"));
  }

  void OnDone() override {
    sink_->Detach();
    if (session_ != nullptr) session_->Cancel();
    if (admitted_) {
      service_->Release();
      const std::string code = StatusCodeName(static_cast<int>(code_));
      spdlog::info("event=recognize_close call={} results={} audio_s={:.2f} code={}", id_,
                   response_->results_size(), audio_seconds_, code);
      if (ServiceMetrics* m = service_->metrics(); m != nullptr) {
        m->AudioReceived(audio_seconds_);
        m->CallFinished(kRecognizeMethod, code);
      }
    }
    delete this;
  }

  void Deliver(std::vector<asr::Result> results) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    for (const asr::Result& r : results) {
      if (r.is_final) ToSpeechRecognitionResult(r, config_, response_->add_results());
    }
  }

  void End(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    if (!status.ok()) response_->Clear();
    code_ = static_cast<grpc::StatusCode>(status.code());
    Finish(ToGrpcStatus(status));
  }

 private:
  absl::Status StartRecognition(const pb::RecognizeRequest& request) {
    if (!request.has_config()) return absl::InvalidArgumentError("config: required");
    auto setup = ToRequestSetup(request.config(), "config", /*interim_results=*/false,
                                /*single_utterance=*/false, service_->limits());
    if (!setup.ok()) return setup.status();
    if (request.audio().content().empty()) {
      return absl::InvalidArgumentError("audio.content: empty (send the clip's bytes)");
    }
    auto converter = asr::StreamingAudioConverter::Create(setup->audio);
    if (!converter.ok()) return AudioError("config", converter.status());
    std::vector<float> samples;
    absl::Status status = (*converter)->Accept(request.audio().content(), &samples);
    if (status.ok()) status = (*converter)->Finish(&samples);
    if (!status.ok()) return AudioError("audio.content", status);
    const double seconds = static_cast<double>(samples.size()) / setup->stream.sample_rate;
    if (seconds > service_->config().max_audio_seconds) {
      return TooLong(seconds, service_->config().max_audio_seconds);
    }
    SetDuration(seconds, response_->mutable_total_audio_duration());
    std::lock_guard<std::mutex> lock(mu_);
    audio_seconds_ = seconds;
    config_ = setup->stream;
    session_ = service_->scheduler().Open(config_, sink_);
    session_->AddAudio(std::move(samples));
    session_->EndAudio();
    return absl::OkStatus();
  }

  SpeechService* const service_;
  const int64_t id_;
  pb::RecognizeResponse* const response_;
  const std::shared_ptr<CallSink<RecognizeCall>> sink_;
  bool admitted_ = true;

  std::mutex mu_;
  asr::StreamConfig config_;
  std::shared_ptr<Session> session_;
  bool finished_ = false;
  double audio_seconds_ = 0;
  grpc::StatusCode code_ = grpc::StatusCode::OK;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status ServiceConfig::Validate() const {
  if (max_streams < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_streams: ", max_streams, " is < 1"));
  }
  if (!(max_audio_seconds > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_audio_seconds: ", max_audio_seconds, " is not > 0"));
  }
  if (!(idle_timeout_seconds >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("idle_timeout_seconds: ", idle_timeout_seconds, " is < 0"));
  }
  if (max_container_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_container_bytes: ", max_container_bytes, " is < 1"));
  }
  return absl::OkStatus();
}

std::string ServiceConfig::ToString() const {
  return absl::StrCat("ServiceConfig(max_streams=", max_streams,
                      ", max_audio_seconds=", max_audio_seconds,
                      ", max_container_bytes=", max_container_bytes,
                      ", idle_timeout_seconds=", idle_timeout_seconds, ")");
}

SpeechService::SpeechService(asr::Recognizer& recognizer, Scheduler& scheduler,
                             const ServiceConfig& config, ServiceMetrics* metrics)
    : recognizer_(recognizer), scheduler_(scheduler), config_(config), metrics_(metrics) {
  limits_.model_sample_rate = recognizer_.Info().sample_rate;
  limits_.max_container_bytes = config_.max_container_bytes;
  if (config_.idle_timeout_seconds > 0) watchdog_ = std::thread([this] { WatchdogLoop(); });
}

SpeechService::~SpeechService() {
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void SpeechService::WatchIdle(IdleCall* call) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  watched_.push_back(call);
}

void SpeechService::UnwatchIdle(IdleCall* call) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  watched_.erase(std::remove(watched_.begin(), watched_.end(), call), watched_.end());
}

// Checks a few times per timeout; the timeout is a floor, not an exact moment.
void SpeechService::WatchdogLoop() {
  const auto timeout = std::chrono::duration<double>(config_.idle_timeout_seconds);
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(timeout / 4) +
                      std::chrono::milliseconds(1);
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!watch_cv_.wait_for(lock, period, [this] { return watch_stop_; })) {
    const int64_t cutoff =
        NowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    for (IdleCall* call : watched_) call->EndIfIdleSince(cutoff);
  }
}

StreamingReactor* SpeechService::StreamingRecognize(grpc::CallbackServerContext* context) {
  return new StreamingCall(this, context);
}

grpc::ServerUnaryReactor* SpeechService::Recognize(grpc::CallbackServerContext* context,
                                                   const pb::RecognizeRequest* request,
                                                   pb::RecognizeResponse* response) {
  return new RecognizeCall(this, context, request, response);
}

grpc::ServerUnaryReactor* SpeechService::GetModelInfo(grpc::CallbackServerContext* context,
                                                      const pb::GetModelInfoRequest* /*request*/,
                                                      pb::ModelInfo* response) {
  ToModelInfo(recognizer_.Info(), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::Status SpeechService::Admit() {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return absl::UnavailableError("the server is shutting down; retry elsewhere");
  if (active_ >= config_.max_streams) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is at its limit of ", config_.max_streams, " concurrent recognitions"));
  }
  ++active_;
  return absl::OkStatus();
}

void SpeechService::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  --active_;
  if (active_ == 0) idle_cv_.notify_all();
}

void SpeechService::BeginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool SpeechService::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return active_ == 0; });
}

int SpeechService::active_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

}  // namespace ancat::service
