// The batching scheduler: one thread owns the recognizer's streams and, in each round,
// advances every stream that has work with a single Recognizer::DecodeStreams call, so that
// frames of many clients share one batched matmul (DESIGN.md §3, "cross-stream batching").
//
// RPC handlers never touch an asr::Stream: they hand audio to a Session (thread-safe) and get
// results back through their ResultSink, called on the scheduler thread.
#ifndef ANCAT_SERVICE_SCHEDULER_H_
#define ANCAT_SERVICE_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "asr/recognizer.h"
#include "service/metrics.h"

namespace ancat::service {

// Receives one session's output, on the scheduler thread. Implementations must not block.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void OnResults(std::vector<asr::Result> results) = 0;
  // The last call: OK once every result was delivered, or the error that ended the stream.
  virtual void OnFinished(absl::Status status) = 0;
};

// The RPC side's handle of one stream. Thread-safe.
class Session {
 public:
  void AddAudio(std::vector<float> samples);
  // No more audio; the stream flushes and finishes.
  void EndAudio();
  // Drops the stream; the sink gets no further calls once the scheduler sees it (it may get
  // one that is already under way).
  void Cancel();

 private:
  friend class Scheduler;
  struct Inbox {
    std::vector<float> samples;
    bool end = false;
    bool cancelled = false;
  };
  Session(asr::StreamConfig config, std::shared_ptr<ResultSink> sink, class Scheduler* owner)
      : config_(std::move(config)), sink_(std::move(sink)), owner_(owner) {}
  Inbox TakeInbox();

  const asr::StreamConfig config_;
  const std::shared_ptr<ResultSink> sink_;
  class Scheduler* const owner_;
  std::mutex mu_;
  Inbox inbox_;  // guarded by mu_
};

struct SchedulerConfig {
  int max_batch = 256;  // streams per DecodeStreams call

  absl::Status Validate() const;
  std::string ToString() const;
};

struct SchedulerStats {
  int64_t decode_calls = 0;
  int64_t streams_decoded = 0;  // sum of batch sizes
  int max_batch_seen = 0;
};

class Scheduler {
 public:
  // `recognizer` must outlive the scheduler. The thread starts with Start(); sessions opened
  // before that are queued (tests use this to make a batch deterministic).
  // `metrics`, if given, must outlive the scheduler.
  Scheduler(asr::Recognizer& recognizer, const SchedulerConfig& config,
            ServiceMetrics* metrics = nullptr);
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Start();
  // Ends the thread; open sessions are finished with CANCELLED.
  void Stop();

  // Opens a stream with `config`; errors of CreateStream reach sink->OnFinished.
  std::shared_ptr<Session> Open(const asr::StreamConfig& config,
                                std::shared_ptr<ResultSink> sink);

  SchedulerStats stats() const;
  int active_streams() const;

 private:
  friend class Session;
  struct Entry {
    std::shared_ptr<Session> session;
    std::unique_ptr<asr::Stream> stream;
    bool input_finished = false;
  };

  void Wake();
  void Run();
  // One round; returns false when nothing was left to do.
  bool Round();
  void Admit();
  void Feed();
  void Decode();
  void Deliver();
  void Retire(size_t n);  // n streams left

  asr::Recognizer& recognizer_;
  const SchedulerConfig config_;
  ServiceMetrics* const metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                               // guarded by mu_
  bool dirty_ = false;                              // guarded by mu_: new input or session
  std::vector<std::shared_ptr<Session>> opening_;   // guarded by mu_
  SchedulerStats stats_;                            // guarded by mu_
  int active_ = 0;                                  // guarded by mu_

  std::vector<Entry> entries_;  // scheduler thread only
  std::thread thread_;
};

}  // namespace ancat::service

#endif  // ANCAT_SERVICE_SCHEDULER_H_
