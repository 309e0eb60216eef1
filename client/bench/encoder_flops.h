// The encoder's arithmetic, counted analytically from model.json (models/FORMAT.md), so that
// a measured time turns into achieved GFLOP/s.
#ifndef ANCAT_CLIENT_BENCH_ENCODER_FLOPS_H_
#define ANCAT_CLIENT_BENCH_ENCODER_FLOPS_H_

#include <string>

#include "asr/model/model_config.h"

namespace ancat::bench {

// FLOPs (2 per multiply-add) per 40 ms encoder frame in steady streaming state. Counted:
// the two convolutions and subsample.out, per layer the arbiter, qkv, attention scores and
// weighted sum over left_context + 1 keys (lookahead keys not counted, so this errs low),
// attn.out, ffn.w1 and ffn.w2. Not counted: norms, RoPE, softmax, activations (a few
// percent), and the predictor/joiner (the transducer search, not the encoder).
struct EncoderFlops {
  double subsampling = 0;   // per encoder frame
  double dense = 0;         // per frame: the matmuls of all layers (weights x activations)
  double attention = 0;     // per frame: q.k and p.v over the left context
  double per_frame() const { return subsampling + dense + attention; }
  double per_audio_second = 0;
  double parameters = 0;    // encoder + subsampling weights (the ones the FLOPs multiply)
  std::string ToString() const;
};

EncoderFlops CountEncoderFlops(const asr::ModelConfig& config);

}  // namespace ancat::bench

#endif  // ANCAT_CLIENT_BENCH_ENCODER_FLOPS_H_
