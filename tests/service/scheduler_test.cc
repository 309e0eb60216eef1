// The batching scheduler: streams that are ready together go to the recognizer in one
// DecodeStreams call; results and the end reach each stream's own sink; cancelled streams
// are dropped without disturbing the others.
#include "service/scheduler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "tests/service/fake_recognizer.h"
#include "tests/service/test_audio.h"

namespace ancat::service {
namespace {

using testing::FakeRecognizer;

class CollectingSink final : public ResultSink {
 public:
  void OnResults(std::vector<asr::Result> results) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : results) results_.push_back(std::move(r));
    cv_.notify_all();
  }
  void OnFinished(absl::Status status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }
  absl::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }
  std::vector<std::string> Finals() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& r : results_) {
      if (r.is_final) out.push_back(r.alternatives.at(0).transcript);
    }
    return out;
  }
  int Partials() {
    std::lock_guard<std::mutex> lock(mu_);
    return PartialsLocked();
  }
  // Blocks until a partial result has arrived.
  void WaitForPartial() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return PartialsLocked() > 0 || done_; });
  }

 private:
  int PartialsLocked() const {
    int n = 0;
    for (const auto& r : results_) n += r.is_final ? 0 : 1;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<asr::Result> results_;
  absl::Status status_;
  bool done_ = false;
};

TEST(SchedulerTest, ReadyStreamsShareOneBatch) {
  FakeRecognizer recognizer;
  Scheduler scheduler(recognizer, SchedulerConfig{.max_batch = 256});
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 5; ++i) {
    auto sink = std::make_shared<CollectingSink>();
    sinks.push_back(sink);
    asr::StreamConfig config;
    std::shared_ptr<Session> session = scheduler.Open(config, sink);
    session->AddAudio(testing::ToneBursts(i + 1, 0.3, 1.0));  // stream i: i+1 bursts
    session->EndAudio();
  }
  scheduler.Start();  // all five are queued: the first round must batch them together
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(sinks[i]->Wait().ok());
    EXPECT_EQ(sinks[i]->Finals(), std::vector<std::string>(i + 1, "tone")) << "stream " << i;
  }
  const std::vector<int> batches = recognizer.batch_sizes();
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches.front(), 5);
  EXPECT_EQ(scheduler.stats().max_batch_seen, 5);
  EXPECT_EQ(scheduler.active_streams(), 0);
}

TEST(SchedulerTest, MaxBatchSplitsTheRound) {
  FakeRecognizer recognizer;
  Scheduler scheduler(recognizer, SchedulerConfig{.max_batch = 2});
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int i = 0; i < 5; ++i) {
    auto sink = std::make_shared<CollectingSink>();
    sinks.push_back(sink);
    auto session = scheduler.Open(asr::StreamConfig{}, sink);
    session->AddAudio(testing::ToneBursts(1, 0.3, 1.0));
    session->EndAudio();
  }
  scheduler.Start();
  for (auto& s : sinks) ASSERT_TRUE(s->Wait().ok());
  const std::vector<int> batches = recognizer.batch_sizes();
  ASSERT_GE(batches.size(), 3u);
  EXPECT_EQ(batches[0], 2);
  EXPECT_EQ(batches[1], 2);
  EXPECT_EQ(batches[2], 1);
  EXPECT_EQ(scheduler.stats().max_batch_seen, 2);
}

TEST(SchedulerTest, StreamingInputGivesPartialsThenFinal) {
  FakeRecognizer recognizer;
  Scheduler scheduler(recognizer, SchedulerConfig{});
  scheduler.Start();
  auto sink = std::make_shared<CollectingSink>();
  asr::StreamConfig config;
  config.interim_results = true;
  auto session = scheduler.Open(config, sink);
  // Half a burst first: the stream has heard a word but not its end, so a partial must come.
  session->AddAudio(testing::ToneBursts(1, 0.2, 0.0));
  sink->WaitForPartial();
  EXPECT_EQ(sink->Partials(), 1);
  EXPECT_TRUE(sink->Finals().empty());
  const std::vector<float> audio = testing::ToneBursts(2, 0.4, 1.0);
  for (size_t pos = 0; pos < audio.size(); pos += 1600) {
    const size_t end = std::min(audio.size(), pos + 1600);
    session->AddAudio(std::vector<float>(audio.begin() + pos, audio.begin() + end));
  }
  session->EndAudio();
  ASSERT_TRUE(sink->Wait().ok());
  // The first burst continues as 0.2 + 0.4 s of tone: still one word.
  EXPECT_EQ(sink->Finals(), (std::vector<std::string>{"tone", "tone"}));
}

TEST(SchedulerTest, CancelledStreamDoesNotDisturbOthers) {
  FakeRecognizer recognizer;
  Scheduler scheduler(recognizer, SchedulerConfig{});
  auto gone = std::make_shared<CollectingSink>();
  auto kept = std::make_shared<CollectingSink>();
  auto gone_session = scheduler.Open(asr::StreamConfig{}, gone);
  auto kept_session = scheduler.Open(asr::StreamConfig{}, kept);
  gone_session->AddAudio(testing::ToneBursts(1, 0.3, 0.1));
  kept_session->AddAudio(testing::ToneBursts(3, 0.3, 1.0));
  gone_session->Cancel();
  kept_session->EndAudio();
  scheduler.Start();
  ASSERT_TRUE(kept->Wait().ok());
  EXPECT_EQ(kept->Finals().size(), 3u);
  EXPECT_EQ(scheduler.active_streams(), 0);
  scheduler.Stop();
  EXPECT_TRUE(gone->Finals().empty());
}

TEST(SchedulerTest, CreateStreamErrorReachesTheSink) {
  FakeRecognizer recognizer;
  Scheduler scheduler(recognizer, SchedulerConfig{});
  scheduler.Start();
  auto sink = std::make_shared<CollectingSink>();
  asr::StreamConfig config;
  config.sample_rate = 8000;  // FakeRecognizer takes 16 kHz only
  scheduler.Open(config, sink);
  absl::Status status = sink->Wait();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, StopFinishesOpenStreamsWithCancelled) {
  FakeRecognizer recognizer;
  auto scheduler = std::make_unique<Scheduler>(recognizer, SchedulerConfig{});
  scheduler->Start();
  auto sink = std::make_shared<CollectingSink>();
  auto session = scheduler->Open(asr::StreamConfig{}, sink);
  session->AddAudio(testing::ToneBursts(1, 0.2, 0.0));
  scheduler->Stop();
  EXPECT_EQ(sink->Wait().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace ancat::service
