#include "client/bench/encoder_flops.h"

#include "absl/strings/str_format.h"

namespace ancat::bench {

EncoderFlops CountEncoderFlops(const asr::ModelConfig& config) {
  const auto& e = config.encoder;
  const double c = config.subsampling.channels;
  const double f1 = (config.frontend.num_mel_bins - 3) / 2 + 1;  // 80 -> 39
  const double f2 = config.subsampled_bins();                     // 39 -> 19
  const double d = e.d_model, ff = e.ffn_dim, k = e.lookahead_frames.size();
  EncoderFlops r;
  // Per encoder frame: 2 conv1 output rows (stride 2 in time), 1 conv2 row.
  double conv1 = 2 * c * f1 * 9;
  double conv2 = c * f2 * c * 9;
  double out = c * f2 * d;
  r.subsampling = 2 * (conv1 + conv2 + out);
  double dense_macs = d * k + 3 * d * d + d * d + 2 * d * ff;
  r.dense = 2 * e.num_layers * dense_macs;
  r.attention = 2 * e.num_layers * 2 * (e.left_context + 1) * d;
  r.per_audio_second = r.per_frame() * 1000.0 / config.frame_ms;
  r.parameters = (c * 9 + c) + (c * c * 9 + c) + (c * f2 * d + d) +
                 e.num_layers * (dense_macs + k + 3 * d + d + ff + d + 4 * d) + 2 * d;
  return r;
}

std::string EncoderFlops::ToString() const {
  return absl::StrFormat(
      "%.2f MFLOP/frame (subsampling %.2f, dense %.2f, attention %.2f), %.3f GFLOP per audio "
      "second, %.2fM parameters",
      per_frame() * 1e-6, subsampling * 1e-6, dense * 1e-6, attention * 1e-6,
      per_audio_second * 1e-9, parameters * 1e-6);
}

}  // namespace ancat::bench
