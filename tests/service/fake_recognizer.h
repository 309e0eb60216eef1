// A test double of asr::Recognizer for the service's tests: it lets the gRPC layer be tested
// without a trained model, with transcripts a test can predict.
//
// It "recognizes" energy: the audio is cut into 40 ms frames; each run of loud frames
// (RMS > 0.01) is one word "tone". Endpointing follows StreamConfig::endpoint: a silence of
// trailing_silence_ms after a word ends the utterance with a final result. Partials carry the
// words so far. Like the real recognizer, it only advances in DecodeStreams, so the service's
// scheduler has to call it; it counts the batch sizes it was given.
#ifndef ANCAT_TESTS_SERVICE_FAKE_RECOGNIZER_H_
#define ANCAT_TESTS_SERVICE_FAKE_RECOGNIZER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "asr/recognizer.h"

namespace ancat::service::testing {

class FakeRecognizer final : public asr::Recognizer {
 public:
  FakeRecognizer();
  static absl::StatusOr<std::unique_ptr<asr::Recognizer>> Create(const asr::RecognizerConfig&);

  const asr::ModelInfo& Info() const override { return info_; }
  absl::StatusOr<std::unique_ptr<asr::Stream>> CreateStream(
      const asr::StreamConfig& config) override;
  absl::Status DecodeStreams(absl::Span<asr::Stream* const> streams) override;

  // Sizes of the batches DecodeStreams was called with, in order.
  std::vector<int> batch_sizes() const;

 private:
  asr::ModelInfo info_;
  mutable std::mutex mu_;
  std::vector<int> batch_sizes_;
};

}  // namespace ancat::service::testing

#endif  // ANCAT_TESTS_SERVICE_FAKE_RECOGNIZER_H_
