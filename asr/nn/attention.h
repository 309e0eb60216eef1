// THE attention core of Ancat: multi-head scaled dot-product attention where query i sees the
// keys [lo_i, hi_i] of a key/value store. The streaming encoder passes a ring buffer (KV cache)
// and per-query windows [t - left_context, t + lookahead(t)]; the text reranker passes a plain
// array and the whole sequence (bidirectional). Q/K/V projections and RoPE happen outside
// (Linear, Rope) so callers can batch them across streams.
#ifndef ANCAT_ASR_NN_ATTENTION_H_
#define ANCAT_ASR_NN_ATTENTION_H_

#include <cstdint>

#include "asr/nn/linear.h"
#include "asr/nn/ops.h"

namespace ancat::asr::nn {

struct AttentionDims {
  int num_heads = 4;
  int head_dim = 64;
  int d() const { return num_heads * head_dim; }
};

// Element type of a key/value store. kBF16 halves the memory and the bandwidth attention needs
// (streaming attention reads every cached row once per query, so it is bandwidth-bound), at the
// price of rounding keys and values to 8 significant bits.
enum class KvType { kF32, kBF16 };

// Converts n floats into a key/value store of `type` at dst (elements dst_stride apart: a
// column of transposed keys).
void StoreKv(const float* src, int n, KvType type, void* dst, int64_t dst_stride = 1);

// Keys and values of one sequence, all heads side by side (head h at columns h*dh..). The row
// of position s is s % capacity: a ring buffer for streaming caches, or a plain array when
// capacity >= the sequence length.
//
// keys_transposed: keys stored column-wise, element (position s, channel c) at
// keys[c * capacity + s % capacity]. Scores for one query are then vertical multiply-adds over
// the ring (no horizontal sums per key and head), about 10x faster for streaming's one query
// per stream; the encoder's KV cache uses it. Values stay row-major either way.
struct KeyValueView {
  const void* keys = nullptr;
  const void* values = nullptr;
  int64_t stride = 0;    // elements between consecutive rows (values; keys unless transposed)
  int64_t capacity = 0;  // rows in the store
  KvType type = KvType::kF32;
  bool keys_transposed = false;
};

// out[i] = concat_h softmax_s(q_i,h . k_s,h / sqrt(dh)) v_s,h over s in [lo[i], hi[i]] (inclusive;
// the caller guarantees lo <= hi and that those rows are live in the store).
void Attend(const AttentionDims& dims, const float* q, int64_t q_stride, int num_queries,
            const KeyValueView& kv, const int64_t* lo, const int64_t* hi, float* out, int64_t out_stride);

// Bidirectional mode: every query sees keys [0, n).
void AttendBidirectional(const AttentionDims& dims, const float* q, int64_t q_stride, const float* k,
                         const float* v, int64_t kv_stride, int n, float* out, int64_t out_stride);

// A whole self-attention block for text (the reranker): y = out(attend(rope(qkv(x)))), positions
// 0..n-1, every token sees every token. Weights as FORMAT.md's attn.qkv / attn.out.
class BidirectionalSelfAttention {
 public:
  BidirectionalSelfAttention() = default;
  BidirectionalSelfAttention(Linear qkv, Linear out, AttentionDims dims, float rope_base);
  // x: [n, d] -> y: [n, d] (y must not alias x).
  void Forward(const float* x, int n, float* y) const;

 private:
  Linear qkv_, out_;
  AttentionDims dims_;
  Rope rope_;
};

}  // namespace ancat::asr::nn

#endif  // ANCAT_ASR_NN_ATTENTION_H_
