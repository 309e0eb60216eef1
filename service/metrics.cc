#include "service/metrics.h"

namespace ancat::service {

ServiceMetrics::ServiceMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  calls_ = &prometheus::BuildCounter()
                .Name("ancat_calls_total")
                .Help("Finished recognition calls by method and gRPC status code")
                .Register(*registry_);
  open_calls_ = &prometheus::BuildGauge()
                     .Name("ancat_open_calls")
                     .Help("Recognition calls in progress")
                     .Register(*registry_);
  audio_seconds_ = &prometheus::BuildCounter()
                        .Name("ancat_audio_seconds_total")
                        .Help("Audio received, in seconds at the model's sample rate")
                        .Register(*registry_)
                        .Add({});
  batch_streams_ = &prometheus::BuildHistogram()
                        .Name("ancat_decode_batch_streams")
                        .Help("Streams advanced by one Recognizer::DecodeStreams call")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     1, 2, 4, 8, 16, 32, 64, 128, 256});
  decode_seconds_ = &prometheus::BuildHistogram()
                         .Name("ancat_decode_seconds")
                         .Help("Wall time of one Recognizer::DecodeStreams call")
                         .Register(*registry_)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1});
}

void ServiceMetrics::CallStarted(const std::string& method) {
  open_calls_->Add({{"method", method}}).Increment();
}

void ServiceMetrics::CallFinished(const std::string& method, const std::string& code) {
  open_calls_->Add({{"method", method}}).Decrement();
  calls_->Add({{"method", method}, {"code", code}}).Increment();
}

void ServiceMetrics::CallRefused(const std::string& method, const std::string& code) {
  calls_->Add({{"method", method}, {"code", code}}).Increment();
}

void ServiceMetrics::BatchDecoded(int streams, double seconds) {
  batch_streams_->Observe(streams);
  decode_seconds_->Observe(seconds);
}

std::string StatusCodeName(int code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? kNames[code] : "UNKNOWN";
}

}  // namespace ancat::service
