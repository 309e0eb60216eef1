#include "asr/frontend/fbank.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace ancat::asr {
namespace {

// FFTW's planner is not thread-safe (fftw_execute_* is); streams are made concurrently.
std::mutex& FftwPlannerMutex() {
  static std::mutex mutex;
  return mutex;
}

// torch.finfo(torch.float32).eps: the floor torchaudio puts under mel energies.
constexpr double kEpsilon = 1.1920928955078125e-07;

int NextPowerOfTwo(int x) { return x <= 1 ? 1 : 1 << (32 - __builtin_clz(x - 1)); }

// torchaudio computes the mel banks in float32 from Python-double scalars; mirror that so
// the weights agree to the last bit where possible.
float MelScale(float freq) { return 1127.0f * std::log(1.0f + freq / 700.0f); }
double MelScaleScalar(double freq) { return 1127.0 * std::log(1.0 + freq / 700.0); }

std::vector<double> MakeWindow(const FbankConfig& c) {
  const int n = c.WindowSize();
  std::vector<double> w(n);
  const double a = 2.0 * M_PI / (n - 1);
  for (int i = 0; i < n; ++i) {
    const double hann = 0.5 - 0.5 * std::cos(a * i);
    if (c.window_type == "povey") {
      w[i] = std::pow(hann, 0.85);
    } else if (c.window_type == "hanning") {
      w[i] = hann;
    } else if (c.window_type == "hamming") {
      w[i] = 0.54 - 0.46 * std::cos(a * i);
    } else if (c.window_type == "rectangular") {
      w[i] = 1.0;
    } else {  // blackman
      w[i] = c.blackman_coeff - 0.5 * std::cos(a * i) +
             (0.5 - c.blackman_coeff) * std::cos(2 * a * i);
    }
  }
  return w;
}

bool IsKnownWindow(const std::string& w) {
  return w == "povey" || w == "hanning" || w == "hamming" || w == "rectangular" ||
         w == "blackman";
}

}  // namespace

// ---------------------------------------------------------------- FbankConfig

int FbankConfig::WindowSize() const {
  return static_cast<int>(sample_rate * frame_length_ms * 0.001);
}
int FbankConfig::WindowShift() const {
  return static_cast<int>(sample_rate * frame_shift_ms * 0.001);
}
int FbankConfig::PaddedWindowSize() const {
  return round_to_power_of_two ? NextPowerOfTwo(WindowSize()) : WindowSize();
}
int FbankConfig::Dim() const { return num_mel_bins + (use_energy ? 1 : 0); }

absl::Status FbankConfig::Validate() const {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("FbankConfig.", what));
  };
  if (sample_rate < 1000 || sample_rate > 768000)
    return bad(absl::StrCat("sample_rate must be in [1000, 768000], got ", sample_rate));
  if (num_mel_bins <= 3) return bad(absl::StrCat("num_mel_bins must be > 3, got ", num_mel_bins));
  if (!(frame_length_ms > 0) || WindowSize() < 2)
    return bad(absl::StrCat("frame_length_ms must give at least 2 samples, got ", frame_length_ms));
  if (!(frame_shift_ms > 0) || WindowShift() < 1)
    return bad(absl::StrCat("frame_shift_ms must give at least 1 sample, got ", frame_shift_ms));
  if (PaddedWindowSize() % 2 != 0)
    return bad(absl::StrCat("frame_length_ms gives an odd FFT size ", PaddedWindowSize(),
                            "; set round_to_power_of_two"));
  if (dither != 0.0)
    return bad(absl::StrCat("dither must be 0 (inference is deterministic), got ", dither));
  if (!(preemphasis_coefficient >= 0.0 && preemphasis_coefficient <= 1.0))
    return bad(absl::StrCat("preemphasis_coefficient must be in [0, 1], got ",
                            preemphasis_coefficient));
  if (!IsKnownWindow(window_type))
    return bad(absl::StrCat("window_type must be povey, hanning, hamming, rectangular or "
                            "blackman, got '", window_type, "'"));
  if (!snip_edges) return bad("snip_edges must be true (false needs audio past the end)");
  const double nyquist = 0.5 * sample_rate;
  const double high = high_freq <= 0.0 ? high_freq + nyquist : high_freq;
  if (!(low_freq >= 0.0 && low_freq < nyquist))
    return bad(absl::StrCat("low_freq must be in [0, ", nyquist, "), got ", low_freq));
  if (!(high > 0.0 && high <= nyquist && low_freq < high))
    return bad(absl::StrCat("high_freq gives ", high, " Hz, must be in (low_freq, ", nyquist,
                            "]"));
  if (!(energy_floor >= 0.0))
    return bad(absl::StrCat("energy_floor must be >= 0, got ", energy_floor));
  if (!(waveform_scale > 0.0) || !std::isfinite(waveform_scale))
    return bad(absl::StrCat("waveform_scale must be positive, got ", waveform_scale));
  return absl::OkStatus();
}

std::string FbankConfig::ToString() const {
  auto B = [](bool b) { return b ? "true" : "false"; };
  return absl::StrFormat(
      "FbankConfig(sample_rate=%d, num_mel_bins=%d, frame_length_ms=%g, frame_shift_ms=%g, "
      "dither=%g, preemphasis_coefficient=%g, remove_dc_offset=%s, window_type=%s, "
      "blackman_coeff=%g, round_to_power_of_two=%s, snip_edges=%s, low_freq=%g, high_freq=%g, "
      "use_energy=%s, energy_floor=%g, raw_energy=%s, use_log_fbank=%s, use_power=%s, "
      "waveform_scale=%g)",
      sample_rate, num_mel_bins, frame_length_ms, frame_shift_ms, dither,
      preemphasis_coefficient, B(remove_dc_offset), window_type, blackman_coeff,
      B(round_to_power_of_two), B(snip_edges), low_freq, high_freq, B(use_energy), energy_floor,
      B(raw_energy), B(use_log_fbank), B(use_power), waveform_scale);
}

absl::StatusOr<FbankConfig> FbankConfig::FromJson(std::string_view frontend_json) {
  nlohmann::json j = nlohmann::json::parse(frontend_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("frontend: not a JSON object");
  }
  FbankConfig c;
  for (const auto& [key, value] : j.items()) {
    auto need = [&](bool ok, const char* type) -> absl::Status {
      if (ok) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("frontend.", key, " must be ", type, ", got ", value.dump()));
    };
    auto number = [&](double* field) {
      auto s = need(value.is_number(), "a number");
      if (s.ok()) *field = value.get<double>();
      return s;
    };
    auto boolean = [&](bool* field) {
      auto s = need(value.is_boolean(), "true or false");
      if (s.ok()) *field = value.get<bool>();
      return s;
    };
    auto integer = [&](int* field) {
      auto s = need(value.is_number() && value.get<double>() == std::floor(value.get<double>()),
                    "an integer");
      if (s.ok()) *field = static_cast<int>(value.get<double>());
      return s;
    };
    absl::Status s;
    if (key == "sample_rate") s = integer(&c.sample_rate);
    else if (key == "num_mel_bins") s = integer(&c.num_mel_bins);
    else if (key == "frame_length_ms") s = number(&c.frame_length_ms);
    else if (key == "frame_shift_ms") s = number(&c.frame_shift_ms);
    else if (key == "dither") s = number(&c.dither);
    else if (key == "preemphasis_coefficient") s = number(&c.preemphasis_coefficient);
    else if (key == "remove_dc_offset") s = boolean(&c.remove_dc_offset);
    else if (key == "window_type") {
      s = need(value.is_string(), "a string");
      if (s.ok()) c.window_type = value.get<std::string>();
    } else if (key == "blackman_coeff") s = number(&c.blackman_coeff);
    else if (key == "round_to_power_of_two") s = boolean(&c.round_to_power_of_two);
    else if (key == "snip_edges") s = boolean(&c.snip_edges);
    else if (key == "low_freq") s = number(&c.low_freq);
    else if (key == "high_freq") s = number(&c.high_freq);
    else if (key == "use_energy") s = boolean(&c.use_energy);
    else if (key == "energy_floor") s = number(&c.energy_floor);
    else if (key == "raw_energy") s = boolean(&c.raw_energy);
    else if (key == "use_log_fbank") s = boolean(&c.use_log_fbank);
    else if (key == "use_power") s = boolean(&c.use_power);
    else if (key == "waveform_scale") s = number(&c.waveform_scale);
    else {
      return absl::InvalidArgumentError(
          absl::StrCat("frontend.", key, ": unknown option (this runtime cannot honour it)"));
    }
    if (!s.ok()) return s;
  }
  if (auto s = c.Validate(); !s.ok()) return s;
  return c;
}

// ---------------------------------------------------------------- FbankComputer

FbankComputer::FbankComputer(const FbankConfig& config) : config_(config) {}

FbankComputer::~FbankComputer() {
  if (plan_ != nullptr) {
    std::lock_guard<std::mutex> lock(FftwPlannerMutex());
    fftw_destroy_plan(static_cast<fftw_plan>(plan_));
  }
}

absl::StatusOr<std::shared_ptr<const FbankComputer>> FbankComputer::Create(
    const FbankConfig& config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  std::shared_ptr<FbankComputer> computer(new FbankComputer(config));
  if (auto s = computer->Init(); !s.ok()) return s;
  return std::shared_ptr<const FbankComputer>(std::move(computer));
}

absl::Status FbankComputer::Init() {
  const FbankConfig& c = config_;
  window_ = MakeWindow(c);

  // Mel banks as torchaudio's get_mel_banks (no VTLN): triangles in mel, over fft bins
  // 0 .. padded/2 - 1 (the Nyquist bin gets weight 0).
  const int padded = c.PaddedWindowSize();
  const int num_fft_bins = padded / 2;
  const double nyquist = 0.5 * c.sample_rate;
  const double high_freq = c.high_freq <= 0.0 ? c.high_freq + nyquist : c.high_freq;
  const float fft_bin_width = static_cast<float>(static_cast<double>(c.sample_rate) / padded);
  const float mel_low = static_cast<float>(MelScaleScalar(c.low_freq));
  const double mel_delta_d =
      (MelScaleScalar(high_freq) - MelScaleScalar(c.low_freq)) / (c.num_mel_bins + 1);
  const float mel_delta = static_cast<float>(mel_delta_d);
  std::vector<float> fft_mel(num_fft_bins);
  for (int k = 0; k < num_fft_bins; ++k) {
    fft_mel[k] = MelScale(fft_bin_width * static_cast<float>(k));
  }
  mel_bins_.clear();
  for (int b = 0; b < c.num_mel_bins; ++b) {
    const float left = mel_low + static_cast<float>(b) * mel_delta;
    const float center = mel_low + static_cast<float>(b + 1) * mel_delta;
    const float right = mel_low + static_cast<float>(b + 2) * mel_delta;
    MelBin bin{-1, {}};
    for (int k = 0; k < num_fft_bins; ++k) {
      const float up = (fft_mel[k] - left) / (center - left);
      const float down = (right - fft_mel[k]) / (right - center);
      const float w = std::max(0.0f, std::min(up, down));
      if (w > 0.0f) {
        if (bin.first_fft_bin < 0) bin.first_fft_bin = k;
        bin.weights.resize(k - bin.first_fft_bin + 1, 0.0f);
        bin.weights[k - bin.first_fft_bin] = w;
      }
    }
    if (bin.first_fft_bin < 0) bin.first_fft_bin = 0;  // empty bin: energy 0 -> log(eps)
    mel_bins_.push_back(std::move(bin));
  }

  std::lock_guard<std::mutex> lock(FftwPlannerMutex());
  double* in = fftw_alloc_real(padded);
  fftw_complex* out = fftw_alloc_complex(padded / 2 + 1);
  plan_ = fftw_plan_dft_r2c_1d(padded, in, out, FFTW_ESTIMATE);
  fftw_free(in);
  fftw_free(out);
  if (plan_ == nullptr) return absl::InternalError("FFTW could not plan the fbank FFT");
  return absl::OkStatus();
}

FbankComputer::Scratch::Scratch(const FbankComputer& computer) {
  const int padded = computer.config().PaddedWindowSize();
  time_ = fftw_alloc_real(padded);
  freq_ = fftw_alloc_complex(padded / 2 + 1);
  power_.resize(padded / 2 + 1);
}

FbankComputer::Scratch::~Scratch() {
  fftw_free(time_);
  fftw_free(freq_);
}

void FbankComputer::ComputeFrame(const float* samples, Scratch* scratch, float* out) const {
  const FbankConfig& c = config_;
  const int n = c.WindowSize();
  const int padded = c.PaddedWindowSize();
  double* x = scratch->time_;
  for (int i = 0; i < n; ++i) x[i] = static_cast<double>(samples[i]) * c.waveform_scale;

  if (c.remove_dc_offset) {
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += x[i];
    const double mean = sum / n;
    for (int i = 0; i < n; ++i) x[i] -= mean;
  }
  auto log_energy = [&](int count) {
    double e = 0;
    for (int i = 0; i < count; ++i) e += x[i] * x[i];
    double le = std::log(std::max(e, kEpsilon));
    if (c.energy_floor > 0.0) le = std::max(le, std::log(c.energy_floor));
    return le;
  };
  double energy = 0;
  if (c.use_energy && c.raw_energy) energy = log_energy(n);
  if (c.preemphasis_coefficient != 0.0) {
    const double p = c.preemphasis_coefficient;
    for (int i = n - 1; i > 0; --i) x[i] -= p * x[i - 1];
    x[0] -= p * x[0];
  }
  for (int i = 0; i < n; ++i) x[i] *= window_[i];
  std::fill(x + n, x + padded, 0.0);
  if (c.use_energy && !c.raw_energy) energy = log_energy(padded);

  auto* freq = static_cast<fftw_complex*>(scratch->freq_);
  fftw_execute_dft_r2c(static_cast<fftw_plan>(plan_), x, freq);
  double* power = scratch->power_.data();
  for (int k = 0; k <= padded / 2; ++k) {
    const double p2 = freq[k][0] * freq[k][0] + freq[k][1] * freq[k][1];
    power[k] = c.use_power ? p2 : std::sqrt(p2);
  }

  float* mel_out = out;
  if (c.use_energy) *mel_out++ = static_cast<float>(energy);  // first, as without htk_compat
  for (size_t b = 0; b < mel_bins_.size(); ++b) {
    const MelBin& bin = mel_bins_[b];
    double sum = 0;
    for (size_t j = 0; j < bin.weights.size(); ++j) {
      sum += static_cast<double>(bin.weights[j]) * power[bin.first_fft_bin + j];
    }
    mel_out[b] = static_cast<float>(c.use_log_fbank ? std::log(std::max(sum, kEpsilon)) : sum);
  }
}

// ---------------------------------------------------------------- OnlineFbank

OnlineFbank::OnlineFbank(std::shared_ptr<const FbankComputer> computer)
    : computer_(std::move(computer)), scratch_(*computer_) {}

absl::StatusOr<std::unique_ptr<OnlineFbank>> OnlineFbank::Create(const FbankConfig& config) {
  auto computer = FbankComputer::Create(config);
  if (!computer.ok()) return computer.status();
  return std::make_unique<OnlineFbank>(std::move(*computer));
}

absl::Status OnlineFbank::AcceptWaveform(absl::Span<const float> samples) {
  if (input_finished_) {
    return absl::FailedPreconditionError("OnlineFbank: AcceptWaveform after InputFinished");
  }
  const FbankConfig& c = config();
  samples_accepted_ += static_cast<int64_t>(samples.size());
  // pending_ starts at the first sample of the next frame; a shift longer than the window
  // leaves a gap of samples no frame uses, skipped here.
  size_t start = 0;
  if (skip_ > 0) {
    start = static_cast<size_t>(std::min<int64_t>(skip_, samples.size()));
    skip_ -= static_cast<int64_t>(start);
  }
  pending_.insert(pending_.end(), samples.begin() + static_cast<ptrdiff_t>(start), samples.end());

  const size_t window = static_cast<size_t>(c.WindowSize());
  const size_t shift = static_cast<size_t>(c.WindowShift());
  size_t pos = 0;
  const int dim = Dim();
  while (pos + window <= pending_.size()) {
    const size_t at = frames_.size();
    frames_.resize(at + dim);
    computer_->ComputeFrame(pending_.data() + pos, &scratch_, frames_.data() + at);
    pos += shift;
  }
  if (pos > pending_.size()) {
    skip_ = static_cast<int64_t>(pos - pending_.size());
    pending_.clear();
  } else if (pos > 0) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pos));
  }
  return absl::OkStatus();
}

void OnlineFbank::InputFinished() {
  input_finished_ = true;
  pending_.clear();
  pending_.shrink_to_fit();
}

absl::Span<const float> OnlineFbank::GetFrame(int64_t t) const {
  const size_t at = frames_offset_ + static_cast<size_t>(t - first_kept_) * Dim();
  return absl::Span<const float>(frames_.data() + at, static_cast<size_t>(Dim()));
}

void OnlineFbank::DropFramesBefore(int64_t t) {
  t = std::min(t, NumFramesReady());
  if (t <= first_kept_) return;
  frames_offset_ += static_cast<size_t>(t - first_kept_) * Dim();
  first_kept_ = t;
  // Erase once the dropped part dominates, so dropping frame by frame stays O(1) amortized.
  if (frames_offset_ >= frames_.size() / 2) {
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<ptrdiff_t>(frames_offset_));
    frames_offset_ = 0;
  }
}

int64_t OnlineFbank::PopFrames(std::vector<float>* out, int64_t max_frames) {
  const int64_t n = std::min(max_frames, NumFramesKept());
  if (n <= 0) return 0;
  const auto begin = frames_.begin() + static_cast<ptrdiff_t>(frames_offset_);
  out->insert(out->end(), begin, begin + static_cast<ptrdiff_t>(n * Dim()));
  DropFramesBefore(first_kept_ + n);
  return n;
}

absl::StatusOr<std::vector<float>> ComputeFbank(const FbankConfig& config,
                                                absl::Span<const float> samples) {
  auto fbank = OnlineFbank::Create(config);
  if (!fbank.ok()) return fbank.status();
  if (auto s = (*fbank)->AcceptWaveform(samples); !s.ok()) return s;
  (*fbank)->InputFinished();
  std::vector<float> out;
  (*fbank)->PopFrames(&out);
  return out;
}

}  // namespace ancat::asr
