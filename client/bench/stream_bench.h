// Ancat's own figures, measured through the public API (asr/recognizer.h): real-time factor
// of one stream, how many real-time streams the machine sustains with cross-stream batching,
// and the memory an idle stream holds.
#ifndef ANCAT_CLIENT_BENCH_STREAM_BENCH_H_
#define ANCAT_CLIENT_BENCH_STREAM_BENCH_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "asr/recognizer.h"

namespace ancat::bench {

struct TimedRun {
  double audio_s = 0;  // audio processed
  double wall_s = 0;   // median wall time of one pass over the audio
  double cpu_s = 0;    // process CPU time of that pass (shows how many cores it really used)
  int runs = 0;
  std::string text;    // final transcript of the last pass (a sanity check, not a score)
  double rtf() const { return audio_s > 0 ? wall_s / audio_s : 0; }
};

// One stream fed chunk_ms of audio per step, DecodeStreams after each chunk, then
// InputFinished and decoding to the end. Repeated for at least min_seconds.
absl::StatusOr<TimedRun> MeasureStreaming(asr::Recognizer& rec, const asr::StreamConfig& config,
                                          absl::Span<const float> samples, int chunk_ms,
                                          double min_seconds);

// Recognizer::RecognizeClip on the whole audio (offline mode), repeated for min_seconds.
absl::StatusOr<TimedRun> MeasureOffline(asr::Recognizer& rec, const asr::StreamConfig& config,
                                        absl::Span<const float> samples, double min_seconds);

struct CapacityConfig {
  int chunk_ms = 40;         // audio each stream receives per step
  double margin = 0.8;       // sustained: mean step time <= margin * chunk_ms ...
  double tail_pct = 95;      // ... and this percentile of step times <= chunk_ms
  double warmup_s = 1.0;     // audio per stream before timing starts (fills the caches)
  double measure_s = 4.0;    // audio per stream that is timed
  int max_streams = 512;     // search limit
  absl::Status Validate() const;
  std::string ToString() const;
};

// Step time of N streams in lockstep: each step gives every stream chunk_ms of new audio,
// calls DecodeStreams once on all N and takes their results. Real time holds while a step
// takes less than chunk_ms.
struct CapacityPoint {
  int streams = 0;
  double mean_ms = 0, p50_ms = 0, tail_ms = 0, max_ms = 0;
  double cpu_cores = 0;      // process CPU time / wall time during the timed steps
  bool sustained = false;
};

struct CapacityResult {
  int max_streams = 0;                  // largest N that was sustained
  std::vector<CapacityPoint> points;    // every N tried, in order
};

// Step times (ms) of N streams over the timed steps -> a point; `complete` is false when the
// trial stopped early (far too slow).
CapacityPoint Summarize(int n, const std::vector<double>& step_ms, bool complete, double cpu_cores,
                        const CapacityConfig& capacity);

// Runs warmup_s of steps, then times measure_s of them (stopping early when far too slow).
absl::StatusOr<CapacityPoint> TimeLockstep(int n, const std::function<absl::Status()>& step,
                                           const CapacityConfig& capacity);

// One trial at N streams.
using CapacityTrial = std::function<absl::StatusOr<CapacityPoint>(int n)>;

// The search of FindCapacity for any kind of trial (the recognizer's, the encoder's).
absl::StatusOr<CapacityResult> SearchCapacity(const CapacityTrial& trial,
                                              const CapacityConfig& capacity);

// Doubles N until a step misses the bar, then bisects between the last good and first bad N.
// A missed N is tried a second time before it counts as a miss. Streams start at different
// offsets of the (looped) audio.
absl::StatusOr<CapacityResult> FindCapacity(asr::Recognizer& rec, const asr::StreamConfig& config,
                                            absl::Span<const float> samples,
                                            const CapacityConfig& capacity);

struct StreamMemory {
  int streams = 0;
  double rss_bytes_per_stream = 0;   // resident set growth / streams
  double heap_bytes_per_stream = 0;  // malloc bytes in use growth / streams
  // What the same workload left in the process once its streams were closed again: the
  // recognizer's one-time growth (oneDNN primitives for new batch sizes, the encoder's
  // workspaces), which is not per stream and is not in the figures above.
  double first_use_heap_bytes = 0;
};

// Creates `count` streams, gives each audio_ms of audio (in chunks of chunk_ms, 0: in one
// call), decodes it (DecodeStreams over 64 streams at a time, after every chunk), keeps them
// open, and measures the process's growth. The same workload runs once before on streams that
// are then closed, so that the recognizer's first-use growth is not divided among the streams.
absl::StatusOr<StreamMemory> MeasureIdleStreams(asr::Recognizer& rec,
                                                const asr::StreamConfig& config,
                                                absl::Span<const float> samples, int count,
                                                int audio_ms, int chunk_ms = 0);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_STREAM_BENCH_H_
