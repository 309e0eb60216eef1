// Log-mel filterbank features, defined exactly as torchaudio.compliance.kaldi.fbank
// (models/FORMAT.md, "Frontend"), computed frame by frame as audio arrives.
//
//   auto computer = FbankComputer::Create(config);          // once per model: window, mel
//                                                           // banks, FFTW plan
//   OnlineFbank fbank(*computer);                           // once per stream
//   fbank.AcceptWaveform(samples);                          // any chunk size
//   for (int64_t t = fbank.FirstFrameKept(); t < fbank.NumFramesReady(); ++t)
//     Use(fbank.GetFrame(t));                               // Dim() floats
//   fbank.DropFramesBefore(t);                              // bound memory
//
// Any chunking of the same samples gives bit-identical frames to one call with all of them
// (each frame is computed from exactly the same samples by the same code).
#ifndef ANCAT_ASR_FRONTEND_FBANK_H_
#define ANCAT_ASR_FRONTEND_FBANK_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ancat::asr {

// The option names and defaults of torchaudio.compliance.kaldi.fbank where they differ only
// in spelling (sample_frequency -> sample_rate, frame_length -> frame_length_ms); defaults
// are the model's (80 bins, dither 0). waveform_scale is applied to input samples in [-1, 1]
// before anything else (32768 = Kaldi's 16-bit integer range).
struct FbankConfig {
  int sample_rate = 16000;
  int num_mel_bins = 80;
  double frame_length_ms = 25.0;
  double frame_shift_ms = 10.0;
  double dither = 0.0;                   // only 0 is supported (deterministic inference)
  double preemphasis_coefficient = 0.97;
  bool remove_dc_offset = true;
  std::string window_type = "povey";     // povey | hanning | hamming | rectangular | blackman
  double blackman_coeff = 0.42;
  bool round_to_power_of_two = true;
  bool snip_edges = true;                // only true is supported (no look at future edges)
  double low_freq = 20.0;
  double high_freq = 0.0;                // <= 0: offset from Nyquist
  bool use_energy = false;               // true: log energy first, Dim() = num_mel_bins + 1
  double energy_floor = 1.0;
  bool raw_energy = true;
  bool use_log_fbank = true;
  bool use_power = true;
  double waveform_scale = 32768.0;

  absl::Status Validate() const;  // names the bad field
  std::string ToString() const;

  int WindowSize() const;         // samples per frame (400 at 16 kHz, 25 ms)
  int WindowShift() const;        // samples between frames (160)
  int PaddedWindowSize() const;   // FFT size (512)
  int Dim() const;                // values per frame

  // From the "frontend" object of model.json (JSON text of that object). Keys it does not
  // know are errors, so a model that needs an option this code lacks fails loudly.
  static absl::StatusOr<FbankConfig> FromJson(std::string_view frontend_json);
};

// The immutable part: window, mel banks and the FFTW plan, made once and shared by every
// stream (thread-safe to share; each OnlineFbank keeps its own FFT buffers).
class FbankComputer {
 public:
  static absl::StatusOr<std::shared_ptr<const FbankComputer>> Create(const FbankConfig& config);
  ~FbankComputer();
  FbankComputer(const FbankComputer&) = delete;
  FbankComputer& operator=(const FbankComputer&) = delete;

  const FbankConfig& config() const { return config_; }
  int Dim() const { return config_.Dim(); }

  // Per-stream FFT buffers (FFTW-aligned, double: see ComputeFrame).
  class Scratch {
   public:
    explicit Scratch(const FbankComputer& computer);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

   private:
    friend class FbankComputer;
    double* time_;  // [padded window]
    void* freq_;    // fftw_complex [padded window / 2 + 1]
    std::vector<double> power_;
  };

  // One frame (Dim() floats) from WindowSize() samples in [-1, 1].
  // Computed in double: bins with little energy (e.g. below 100 Hz after pre-emphasis) are
  // dominated by float32 FFT rounding, where two float32 implementations (or torchaudio in
  // float32 vs float64) differ by several 1e-3 in log; in double they agree to ~1e-6.
  void ComputeFrame(const float* window, Scratch* scratch, float* out) const;

 private:
  explicit FbankComputer(const FbankConfig& config);
  absl::Status Init();

  struct MelBin {
    int first_fft_bin;
    std::vector<float> weights;  // for fft bins first_fft_bin ...
  };
  FbankConfig config_;
  std::vector<double> window_;
  std::vector<MelBin> mel_bins_;
  void* plan_ = nullptr;  // fftw_plan
};

// Streaming fbank of one stream. Not thread-safe; one per stream.
class OnlineFbank {
 public:
  explicit OnlineFbank(std::shared_ptr<const FbankComputer> computer);
  // Makes its own FbankComputer (FFTW planning included): for tools and tests; servers
  // share one computer across streams.
  static absl::StatusOr<std::unique_ptr<OnlineFbank>> Create(const FbankConfig& config);

  int Dim() const { return computer_->Dim(); }
  const FbankConfig& config() const { return computer_->config(); }

  // Samples at config().sample_rate in [-1, 1], any count (0 included). Frames are computed
  // right away. FailedPrecondition after InputFinished().
  absl::Status AcceptWaveform(absl::Span<const float> samples);
  // No more audio. With snip_edges the trailing partial frame is dropped, as in torchaudio.
  void InputFinished();
  bool IsInputFinished() const { return input_finished_; }

  // Frames made so far, counted from the start of the stream (dropped ones included).
  int64_t NumFramesReady() const { return first_kept_ + NumFramesKept(); }
  // Frames before this index were dropped.
  int64_t FirstFrameKept() const { return first_kept_; }
  // Frame `t`, FirstFrameKept() <= t < NumFramesReady(). The span is valid until the next
  // AcceptWaveform or DropFramesBefore.
  absl::Span<const float> GetFrame(int64_t t) const;
  // Frees frames [FirstFrameKept(), t); t is clamped to NumFramesReady().
  void DropFramesBefore(int64_t t);
  // Appends up to max_frames kept frames (row-major) to `out`, drops them, returns how many.
  int64_t PopFrames(std::vector<float>* out,
                    int64_t max_frames = std::numeric_limits<int64_t>::max());

  int64_t NumSamplesAccepted() const { return samples_accepted_; }

 private:
  int64_t NumFramesKept() const {
    return static_cast<int64_t>(frames_.size() - frames_offset_) / Dim();
  }

  std::shared_ptr<const FbankComputer> computer_;
  FbankComputer::Scratch scratch_;
  std::vector<float> pending_;   // samples from the start of the next frame on
  std::vector<float> frames_;    // kept frames, row-major, from frames_offset_ on
  size_t frames_offset_ = 0;     // floats of dropped frames not yet erased (amortized)
  int64_t first_kept_ = 0;
  int64_t skip_ = 0;             // samples no frame uses (frame shift > frame length)
  int64_t samples_accepted_ = 0;
  bool input_finished_ = false;
};

// All frames of a whole waveform, row-major [T, Dim()], T = 1 + (n - WindowSize()) /
// WindowShift() (0 when n < WindowSize()): the same code path as OnlineFbank.
absl::StatusOr<std::vector<float>> ComputeFbank(const FbankConfig& config,
                                                absl::Span<const float> samples);

}  // namespace ancat::asr

#endif  // ANCAT_ASR_FRONTEND_FBANK_H_
