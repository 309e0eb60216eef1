#include "service/scheduler.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ancat::service {

void Session::AddAudio(std::vector<float> samples) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (inbox_.end || inbox_.cancelled) return;
    inbox_.samples.insert(inbox_.samples.end(), samples.begin(), samples.end());
  }
  owner_->Wake();
}

void Session::EndAudio() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.end = true;
  }
  owner_->Wake();
}

void Session::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.cancelled = true;
  }
  owner_->Wake();
}

Session::Inbox Session::TakeInbox() {
  std::lock_guard<std::mutex> lock(mu_);
  Inbox out;
  out.samples.swap(inbox_.samples);
  out.end = inbox_.end;
  out.cancelled = inbox_.cancelled;
  return out;
}

absl::Status SchedulerConfig::Validate() const {
  if (max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch: ", max_batch, " is < 1"));
  }
  return absl::OkStatus();
}

std::string SchedulerConfig::ToString() const {
  return absl::StrCat("SchedulerConfig(max_batch=", max_batch, ")");
}

Scheduler::Scheduler(asr::Recognizer& recognizer, const SchedulerConfig& config,
                     ServiceMetrics* metrics)
    : recognizer_(recognizer), config_(config), metrics_(metrics) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whatever is left (also sessions that never reached a started thread) ends now.
  std::vector<std::shared_ptr<Session>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(opening_);
  }
  for (Entry& e : entries_) left.push_back(e.session);
  entries_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = 0;
  }
  for (auto& s : left) s->sink_->OnFinished(absl::CancelledError("server is shutting down"));
}

std::shared_ptr<Session> Scheduler::Open(const asr::StreamConfig& config,
                                         std::shared_ptr<ResultSink> sink) {
  std::shared_ptr<Session> session(new Session(config, std::move(sink), this));
  {
    std::lock_guard<std::mutex> lock(mu_);
    opening_.push_back(session);
    ++active_;
    dirty_ = true;
  }
  cv_.notify_one();
  return session;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int Scheduler::active_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void Scheduler::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void Scheduler::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || dirty_; });
      if (stop_) return;
      dirty_ = false;
    }
    // Keep going while rounds make progress; new input sets dirty_ again meanwhile.
    while (Round()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
  }
}

bool Scheduler::Round() {
  Admit();
  Feed();
  const bool any_ready = std::any_of(entries_.begin(), entries_.end(),
                                     [](const Entry& e) { return e.stream->IsReady(); });
  if (any_ready) Decode();
  Deliver();
  return any_ready;
}

// Creates the library streams of newly opened sessions (on this thread: streams and the
// recognizer's batched calls are only ever touched here).
void Scheduler::Admit() {
  std::vector<std::shared_ptr<Session>> opening;
  {
    std::lock_guard<std::mutex> lock(mu_);
    opening.swap(opening_);
  }
  for (auto& session : opening) {
    auto stream = recognizer_.CreateStream(session->config_);
    if (!stream.ok()) {
      Retire(1);
      session->sink_->OnFinished(stream.status());
      continue;
    }
    entries_.push_back(Entry{session, std::move(*stream), false});
  }
}

void Scheduler::Feed() {
  std::vector<Entry> kept;
  std::vector<std::pair<std::shared_ptr<Session>, absl::Status>> failed;
  kept.reserve(entries_.size());
  size_t dropped = 0;
  for (Entry& e : entries_) {
    Session::Inbox in = e.session->TakeInbox();
    if (in.cancelled) {  // the client is gone: drop the stream, tell no one
      ++dropped;
      continue;
    }
    absl::Status status = absl::OkStatus();
    if (!in.samples.empty() && !e.input_finished) status = e.stream->AcceptWaveform(in.samples);
    if (!status.ok()) {
      failed.emplace_back(e.session, status);
      continue;
    }
    if (in.end && !e.input_finished) {
      e.stream->InputFinished();
      e.input_finished = true;
    }
    kept.push_back(std::move(e));
  }
  entries_.swap(kept);
  Retire(dropped + failed.size());
  for (auto& [session, status] : failed) session->sink_->OnFinished(status);
}

void Scheduler::Decode() {
  std::vector<asr::Stream*> ready;
  std::vector<size_t> index;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].stream->IsReady()) {
      ready.push_back(entries_[i].stream.get());
      index.push_back(i);
    }
  }
  std::vector<bool> failed(entries_.size(), false);
  for (size_t begin = 0; begin < ready.size(); begin += config_.max_batch) {
    const size_t n = std::min<size_t>(config_.max_batch, ready.size() - begin);
    const auto start = std::chrono::steady_clock::now();
    absl::Status status =
        recognizer_.DecodeStreams(absl::MakeConstSpan(ready.data() + begin, n));
    if (metrics_ != nullptr) {
      metrics_->BatchDecoded(static_cast<int>(n),
                             std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                           start)
                                 .count());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.decode_calls;
      stats_.streams_decoded += static_cast<int64_t>(n);
      stats_.max_batch_seen = std::max(stats_.max_batch_seen, static_cast<int>(n));
    }
    if (!status.ok()) {
      spdlog::error("event=decode_failed batch={} status=\"{}\"", n, status.ToString());
      for (size_t k = begin; k < begin + n; ++k) failed[index[k]] = true;
    }
  }
  if (std::none_of(failed.begin(), failed.end(), [](bool f) { return f; })) return;
  std::vector<Entry> kept, broken;
  for (size_t i = 0; i < entries_.size(); ++i) {
    (failed[i] ? broken : kept).push_back(std::move(entries_[i]));
  }
  entries_.swap(kept);
  Retire(broken.size());
  for (Entry& e : broken) {
    e.session->sink_->OnFinished(absl::InternalError("the recognizer failed on this stream"));
  }
}

void Scheduler::Deliver() {
  std::vector<Entry> kept, done;
  kept.reserve(entries_.size());
  for (Entry& e : entries_) {
    std::vector<asr::Result> results = e.stream->TakeResults();
    if (!results.empty()) e.session->sink_->OnResults(std::move(results));
    (e.input_finished && e.stream->IsDone() ? done : kept).push_back(std::move(e));
  }
  entries_.swap(kept);
  // Counted out before the sinks hear of it, so that a caller woken by OnFinished sees it.
  Retire(done.size());
  for (Entry& e : done) e.session->sink_->OnFinished(absl::OkStatus());
}

void Scheduler::Retire(size_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  active_ -= static_cast<int>(n);
}

}  // namespace ancat::service
