// Row-wise kernels around the matmuls: layer norm, activations, rotary positions.
#ifndef ANCAT_ASR_NN_OPS_H_
#define ANCAT_ASR_NN_OPS_H_

#include <cstdint>
#include <vector>

namespace ancat::asr::nn {

// y = (x - mean) / sqrt(var + eps) * gamma + beta, per row of d. y may equal x.
void LayerNorm(const float* x, int x_stride, int rows, int d, const float* gamma, const float* beta,
               float eps, float* y, int y_stride);

// In place on n values.
void Relu(float* x, int64_t n);
void Silu(float* x, int64_t n);
void Tanh(float* x, int64_t n);
// Numerically safe softmax over n values, in place.
void Softmax(float* x, int n);
// log-softmax over n values, in place (joiner output).
void LogSoftmax(float* x, int n);

// Rotary position embedding with rotate-half pairing (FORMAT.md): within each head of dh values,
// (x_i, x_{i+dh/2}) -> (x_i cos - x_{i+dh/2} sin, x_i sin + x_{i+dh/2} cos), angle = pos * base^(-2i/dh).
// Angles are computed in double, as the recipe does.
class Rope {
 public:
  Rope() = default;
  // Angles come from two tables (positions p = a * table_positions + b, cos/sin of the sum by
  // the addition formulas in double), so hours-long streams need no trigonometry per frame.
  Rope(int head_dim, float base, int table_positions = 1024);
  int head_dim() const { return head_dim_; }
  // Rotates num_heads consecutive heads of x (num_heads * head_dim floats) for one position.
  void Apply(float* x, int num_heads, int64_t position) const;
  // The same for two vectors at one position (a frame's query and key): the angles once.
  void Apply(float* x, float* y, int num_heads, int64_t position) const;

 private:
  int head_dim_ = 0;
  double base_ = 10000.0;
  int table_positions_ = 0;
  std::vector<double> inv_freq_;
  std::vector<double> cos_, sin_;              // [table_positions, head_dim/2]: angle b * theta_i
  std::vector<double> coarse_cos_, coarse_sin_;  // the same for angles a * table_positions * theta_i

  // cos and sin of the half head_dim angles of `position`, in float.
  void Angles(int64_t position, float* c, float* s) const;
  void Rotate(float* x, int num_heads, const float* c, const float* s) const;
};

}  // namespace ancat::asr::nn

#endif  // ANCAT_ASR_NN_OPS_H_
