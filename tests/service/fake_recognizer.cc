#include "tests/service/fake_recognizer.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ancat::service::testing {
namespace {

constexpr int kFrameSamples = 640;  // 40 ms at 16 kHz
constexpr double kFrameSeconds = 0.04;
constexpr float kLoudRms = 0.01f;

class FakeStream final : public asr::Stream {
 public:
  explicit FakeStream(const asr::StreamConfig& config) : config_(config) {}

  absl::Status AcceptWaveform(absl::Span<const float> samples) override {
    if (finished_) return absl::FailedPreconditionError("AcceptWaveform after InputFinished");
    pending_.insert(pending_.end(), samples.begin(), samples.end());
    return absl::OkStatus();
  }
  void InputFinished() override { finished_ = true; }
  bool IsReady() const override {
    return !done_ && (pending_.size() >= kFrameSamples || finished_);
  }
  bool IsDone() const override { return done_; }
  std::vector<asr::Result> TakeResults() override {
    std::vector<asr::Result> out;
    out.swap(results_);
    return out;
  }

  // What DecodeStreams does for this stream.
  void Advance() {
    size_t pos = 0;
    bool progressed = false;
    for (; pos + kFrameSamples <= pending_.size(); pos += kFrameSamples) {
      Frame(absl::MakeConstSpan(pending_.data() + pos, kFrameSamples));
      progressed = true;
      if (done_) break;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pos));
    if (finished_ && !done_) {
      if (!pending_.empty()) Frame(pending_);
      pending_.clear();
      if (!words_.empty() || finals_ == 0) EmitFinal(/*endpoint=*/false);
      done_ = true;
      return;
    }
    if (progressed && config_.interim_results && !words_.empty() && !done_) {
      results_.push_back(MakeResult(/*is_final=*/false));
    }
  }

 private:
  void Frame(absl::Span<const float> frame) {
    double energy = 0;
    for (float s : frame) energy += static_cast<double>(s) * s;
    const bool loud = std::sqrt(energy / static_cast<double>(frame.size())) > kLoudRms;
    const double t = frames_ * kFrameSeconds;
    ++frames_;
    if (loud) {
      if (!in_word_) {
        words_.push_back(asr::Word{"tone", t, t + kFrameSeconds, 0.9f});
        if (words_.size() == 1) utterance_start_ = t;
      }
      words_.back().end_s = t + kFrameSeconds;
      in_word_ = true;
      silence_frames_ = 0;
      return;
    }
    in_word_ = false;
    ++silence_frames_;
    if (config_.endpoint.enabled && !words_.empty() &&
        silence_frames_ * kFrameSeconds * 1000 >= config_.endpoint.trailing_silence_ms) {
      EmitFinal(/*endpoint=*/true);
      if (config_.single_utterance) done_ = true;
    }
  }

  asr::Result MakeResult(bool is_final) const {
    asr::Result r;
    r.is_final = is_final;
    r.stability = is_final ? 1.0f : 0.5f;
    r.start_s = utterance_start_;
    r.end_s = frames_ * kFrameSeconds;
    r.mean_lookahead_ms = 80;
    r.p90_lookahead_ms = 160;
    std::vector<std::string> texts;
    for (const auto& w : words_) texts.push_back(w.text);
    asr::Alternative best{absl::StrJoin(texts, " "), is_final ? 0.9f : 0.0f,
                          is_final ? words_ : std::vector<asr::Word>{}};
    r.alternatives.push_back(best);
    for (int k = 1; is_final && k < config_.decoding.max_alternatives; ++k) {
      asr::Alternative alt = best;
      alt.transcript = absl::StrCat(best.transcript, " alt", k);
      alt.confidence = 0.9f / static_cast<float>(k + 1);
      r.alternatives.push_back(alt);
    }
    return r;
  }

  void EmitFinal(bool endpoint) {
    asr::Result r = MakeResult(/*is_final=*/true);
    r.end_of_utterance = endpoint;
    results_.push_back(std::move(r));
    ++finals_;
    words_.clear();
    silence_frames_ = 0;
    utterance_start_ = frames_ * kFrameSeconds;
  }

  const asr::StreamConfig config_;
  std::vector<float> pending_;
  std::vector<asr::Result> results_;
  std::vector<asr::Word> words_;  // of the current utterance
  int64_t frames_ = 0;
  int silence_frames_ = 0;
  int finals_ = 0;
  double utterance_start_ = 0;
  bool in_word_ = false;
  bool finished_ = false;
  bool done_ = false;
};

}  // namespace

FakeRecognizer::FakeRecognizer() {
  info_.name = "fake-energy";
  info_.version = "test";
  info_.sample_rate = 16000;
  info_.lookahead_ms = {0, 80, 160, 320};
  info_.vocab_size = 2;
  info_.frame_ms = 40;
}

absl::StatusOr<std::unique_ptr<asr::Recognizer>> FakeRecognizer::Create(
    const asr::RecognizerConfig& config) {
  if (config.model_dir.empty()) return absl::InvalidArgumentError("model_dir: empty");
  return std::make_unique<FakeRecognizer>();
}

absl::StatusOr<std::unique_ptr<asr::Stream>> FakeRecognizer::CreateStream(
    const asr::StreamConfig& config) {
  if (config.sample_rate != info_.sample_rate) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample_rate: ", config.sample_rate, " is not the model's ",
                     info_.sample_rate));
  }
  return std::make_unique<FakeStream>(config);
}

absl::Status FakeRecognizer::DecodeStreams(absl::Span<asr::Stream* const> streams) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch_sizes_.push_back(static_cast<int>(streams.size()));
  }
  for (asr::Stream* s : streams) static_cast<FakeStream*>(s)->Advance();
  return absl::OkStatus();
}

std::vector<int> FakeRecognizer::batch_sizes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batch_sizes_;
}

}  // namespace ancat::service::testing
