#include "asr/encoder/encoder.h"

#include <omp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "asr/nn/attention.h"
#include "asr/nn/ops.h"
#include "asr/nn/subsampling.h"

namespace ancat::asr {
namespace {

constexpr int64_t kNoEnd = std::numeric_limits<int64_t>::max() / 4;
// Frames of excess a KV ring or the waiting slots may keep beyond their steady size (ShrinkRings).
// 2, not 4: with 4 an idle beam-search stream of models/ancat-en fed in 40 ms chunks held
// 1000-1015 kB (over the 1 MB target); 2 gives 958-969 kB at no measurable step-time cost
// (BENCHMARKS.md, run M-slack2).
constexpr int64_t kRingSlack = 2;
// Output rows whose buffer an emptied output queue keeps (PopOutputFrames).
constexpr int64_t kKeepOutRows = 8;

struct LayerWeights {
  std::vector<float> norm1_w, norm1_b, norm2_w, norm2_b;
  nn::Linear qkva;  // qkv (3d) and the arbiter (K) in one matmul
  // int8 only: the arbiter on its own, in f32 (then qkva holds qkv alone). Its argmax is a
  // discrete choice that sets latency and which frames a query sees; it costs K / (12 d) of a
  // layer's matmul work, so it keeps the full precision.
  nn::Linear arbiter;
  nn::Linear out, w1, w2;
};

// Per stream, per layer l: the layer's inputs x_{l-1}(s) arrive in order ("projected"); each
// frame gets its K/V into a ring (kept left_context frames back), and waits in a slot with its
// query and residual until its lookahead is available. Finished outputs overwrite the residual
// in the slot; the next layer consumes the finished prefix.
struct LayerState {
  int64_t projected = 0;   // input frames whose K/V/q/choice are computed
  int64_t done_upto = 0;   // frames [0, done_upto) finished
  int64_t consumed = 0;    // frames handed on to the next layer / the output
  int32_t running_max = -1;  // P_l over consumed frames

  int64_t kv_cap = 0;            // ring slots; frame s at slot s % kv_cap
  std::vector<std::byte> kt;     // [d, kv_cap] of the cache type: keys column-wise (RoPE'd)
  std::vector<std::byte> v;      // [kv_cap, d]: values
  std::vector<int32_t> p_in;     // [kv_cap]: P_{l-1}(s)

  int64_t slot_cap = 0;          // frame t at slot t % slot_cap
  std::vector<float> slots;      // [slot_cap, 2d]: x (residual in, then output) then q
  std::vector<int8_t> choice;    // [slot_cap]
  std::vector<uint8_t> done;     // [slot_cap]
  std::vector<int32_t> r;        // [slot_cap]: R_l(t)

  size_t MemoryBytes() const {
    return kt.capacity() + v.capacity() + p_in.capacity() * 4 + slots.capacity() * 4 + choice.capacity() + done.capacity() +
           r.capacity() * 4;
  }
};

// Threads that each advance a share of the streams. Sleeping workers (condition variable), not
// OpenMP: OpenMP's spinning barriers stall badly when the machine has other work.
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int k = 1; k < threads; ++k) workers_.emplace_back([this, k] { Loop(k); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // fn(0) on the caller, fn(1..n-1) on workers; returns when all are done. n <= size().
  void Run(int n, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      job_n_ = n;
      pending_ = n - 1;
      ++generation_;
    }
    cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void Loop(int k) {
    nn::SetNumThreads(1);
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (k >= job_n_) continue;
      const auto* fn = job_;
      lock.unlock();
      (*fn)(k);
      lock.lock();
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int job_n_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

// ---------------------------------------------------------------------------------- stream

struct EncoderStream::State {
  EncoderStreamOptions options;
  std::vector<float> bias;   // per k: -beta * W[k], or -inf when above the cap
  int max_w = 0;             // largest lookahead this stream can pick
  int left_context = 0;
  int d = 0;
  const nn::CausalConvSubsampling* subsampling = nullptr;  // the encoder's (CMVN + convs)
  nn::CausalConvSubsampling::State sub;
  bool finished = false;
  std::vector<LayerState> layers;
  // Output queue: rows [out_head, out_rows) of `out` are frames out_first.. not yet popped.
  std::vector<float> out;
  std::vector<int> out_latency;
  int64_t out_head = 0, out_rows = 0, out_first = 0;
  int64_t produced = 0;
  std::vector<std::vector<int>> choices;

  int64_t TotalFrames() const {  // T2 once the input is finished
    if (!finished) return kNoEnd;
    return sub.num_frames == 0 ? 0 : (sub.num_frames - 1) / 4 + 1;
  }
  int64_t Last() const { return finished ? TotalFrames() - 1 : kNoEnd; }
};

EncoderStream::EncoderStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
EncoderStream::~EncoderStream() = default;

bool EncoderStream::input_finished() const { return state_->finished; }
void EncoderStream::InputFinished() { state_->finished = true; }
int EncoderStream::NumOutputFrames() const { return static_cast<int>(state_->out_rows - state_->out_head); }
int64_t EncoderStream::FirstOutputIndex() const { return state_->out_first; }
int64_t EncoderStream::NumFramesProduced() const { return state_->produced; }
const EncoderStreamOptions& EncoderStream::options() const { return state_->options; }

absl::Span<const float> EncoderStream::OutputFrame(int i) const {
  return absl::Span<const float>(state_->out.data() + (state_->out_head + i) * state_->d, state_->d);
}

int EncoderStream::OutputLatency(int i) const { return state_->out_latency[state_->out_head + i]; }

void EncoderStream::PopOutputFrames(int n) {
  State& s = *state_;
  n = std::min<int64_t>(n, s.out_rows - s.out_head);
  s.out_head += n;
  s.out_first += n;
  if (s.out_head == s.out_rows) {
    s.out_head = s.out_rows = 0;  // reuse the buffer from the start
    // ... unless a burst made it big: Advance cannot free it (the reader pops after Advance),
    // and an idle stream would hold it for good.
    if (s.out.capacity() > static_cast<size_t>(kKeepOutRows * s.d)) {
      std::vector<float>().swap(s.out);
      std::vector<int>().swap(s.out_latency);
    }
  } else if (s.out_head * 2 > s.out_rows) {  // a reader that pops part: keep the buffer bounded
    const int64_t left = s.out_rows - s.out_head;
    std::memmove(s.out.data(), s.out.data() + s.out_head * s.d, sizeof(float) * left * s.d);
    std::memmove(s.out_latency.data(), s.out_latency.data() + s.out_head, sizeof(int) * left);
    s.out_head = 0;
    s.out_rows = left;
  }
}

const std::vector<int>& EncoderStream::Choices(int layer) const {
  static const std::vector<int> kEmpty;
  return layer >= 0 && layer < static_cast<int>(state_->choices.size()) ? state_->choices[layer] : kEmpty;
}

bool EncoderStream::IsDone() const {
  const State& s = *state_;
  return s.finished && s.produced == s.TotalFrames();
}

std::vector<EncoderStream::LayerMemory> EncoderStream::MemoryByLayer() const {
  std::vector<LayerMemory> out;
  for (const auto& l : state_->layers) {
    const int64_t key_from = std::max<int64_t>(0, l.done_upto - state_->left_context);
    out.push_back({.kv_capacity = l.kv_cap,
                   .kv_live = l.projected - std::min(key_from, l.projected),
                   .slot_capacity = l.slot_cap,
                   .waiting = l.projected - l.consumed});
  }
  return out;
}

size_t EncoderStream::MemoryBytes() const {
  const State& s = *state_;
  size_t n = sizeof(State) + s.sub.MemoryBytes() + s.out.capacity() * 4 + s.out_latency.capacity() * 4 +
             s.bias.capacity() * 4;
  for (const auto& l : s.layers) n += sizeof(LayerState) + l.MemoryBytes();
  for (const auto& c : s.choices) n += c.capacity() * sizeof(int);
  return n;
}

// ---------------------------------------------------------------------------------- encoder

struct Encoder::Impl {
  std::shared_ptr<const Model> model;
  EncoderConfig config;
  int L = 0, d = 0, F = 0, K = 0, left_context = 0, bins = 0;
  int kv_elem = 4;  // bytes per cached key/value element
  float eps = 1e-5f;
  std::vector<int> W;
  nn::AttentionDims dims;
  nn::Rope rope;
  nn::CausalConvSubsampling sub;
  std::vector<LayerWeights> layers;
  std::vector<float> final_w, final_b;
  std::unique_ptr<WorkerPool> pool_threads;  // num_threads > 1

  // Scratch matrices of one Advance call; a pool so concurrent calls do not share them.
  struct Workspace {
    std::vector<float> xin, h, qkva, o, y, f;
    std::vector<int32_t> p;              // P_{l-1} of each input row
    std::vector<int> counts;             // rows per stream
    std::vector<EncoderStream::State*> sub_states;
    std::vector<nn::CausalConvSubsampling::State*> sub_ptrs;
    struct Query {
      EncoderStream::State* s;
      int64_t t, lo, hi;
      const float* q;  // its query and residual: in ws.qkva / ws.xin when projected in this
      const float* x;  // round, else in the frame's slot
    };
    std::vector<Query> queries;
    // Slot rings of layers whose frames have all been handed on (ParkSlots), for the next
    // layer that needs one (TakeSlots): a live stream's slot rings circulate through here
    // instead of being allocated per call, and between calls a stream holds slots only for
    // layers with frames that wait for their lookahead.
    struct SlotRing {
      std::vector<float> slots;
      std::vector<int8_t> choice;
      std::vector<uint8_t> done;
      std::vector<int32_t> r;
      int64_t cap = 0;
    };
    std::vector<SlotRing> spare;
  };
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Workspace>> pool;

  std::unique_ptr<Workspace> Acquire() {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (pool.empty()) return std::make_unique<Workspace>();
    auto w = std::move(pool.back());
    pool.pop_back();
    return w;
  }
  void Release(std::unique_ptr<Workspace> w) {
    std::lock_guard<std::mutex> lock(pool_mu);
    pool.push_back(std::move(w));
  }

  void Project(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws);
  void Attend(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws, int threads);
  void AdvanceGroup(absl::Span<EncoderStream::State* const> states, int threads);
  void ShrinkRings(EncoderStream::State* s);
  void ParkSlots(LayerState* ls, Workspace& ws) const;
  void TakeSlots(LayerState* ls, Workspace& ws) const;
  void ResizeKv(LayerState* ls, int64_t new_cap, int64_t live_from);
  int GatherLayerInput(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws);
  void EmitOutputs(absl::Span<EncoderStream::State* const> streams, Workspace& ws);
};

Encoder::Encoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Encoder::~Encoder() = default;
const Model& Encoder::model() const { return *impl_->model; }
const EncoderConfig& Encoder::config() const { return impl_->config; }
int Encoder::d_model() const { return impl_->d; }

double Encoder::MacsPerFrame() const {
  const Impl& m = *impl_;
  const double per_layer = static_cast<double>(m.d) * (3 * m.d + m.K) + static_cast<double>(m.d) * m.d +
                           2.0 * m.d * m.F + 2.0 * m.d * (m.left_context + 1 + m.W.back());
  return m.sub.MacsPerFrame() + m.L * per_layer;
}

absl::Status EncoderConfig::Validate() const {
  if (num_threads < 1) return absl::InvalidArgumentError("EncoderConfig.num_threads must be >= 1");
  if (max_frames_per_round < 1) return absl::InvalidArgumentError("EncoderConfig.max_frames_per_round must be >= 1");
  if (round_rows < 1) return absl::InvalidArgumentError("EncoderConfig.round_rows must be >= 1");
  return absl::OkStatus();
}

std::string EncoderConfig::ToString() const {
  return absl::StrCat("EncoderConfig(num_threads=", num_threads, ", compute=", nn::ComputeTypeName(compute),
                      ", max_frames_per_round=", max_frames_per_round, ", round_rows=", round_rows,
                      ", kv_cache=", kv_cache == nn::KvType::kBF16 ? "bf16" : "f32", ")");
}

absl::Status EncoderStreamOptions::Validate() const {
  if (!(beta >= 0)) return absl::InvalidArgumentError("EncoderStreamOptions.beta must be >= 0");
  if (max_lookahead_frames < -1) return absl::InvalidArgumentError("EncoderStreamOptions.max_lookahead_frames must be >= -1");
  return absl::OkStatus();
}

std::string EncoderStreamOptions::ToString() const {
  return absl::StrCat("EncoderStreamOptions(beta=", beta, ", max_lookahead_frames=", max_lookahead_frames,
                      ", record_choices=", record_choices, ")");
}

absl::StatusOr<std::unique_ptr<Encoder>> Encoder::Create(std::shared_ptr<const Model> model,
                                                         const EncoderConfig& config) {
  if (model == nullptr) return absl::InvalidArgumentError("Encoder::Create: no model");
  if (auto s = config.Validate(); !s.ok()) return s;
  if (config.compute == nn::ComputeType::kBF16 && !nn::Bf16MatmulSupported()) {
    return absl::FailedPreconditionError("EncoderConfig.compute: bf16 matmuls need a CPU with avx512_bf16 or AMX");
  }
  if (config.compute == nn::ComputeType::kInt8 && !nn::Int8MatmulSupported()) {
    return absl::FailedPreconditionError("EncoderConfig.compute: int8 matmuls need a CPU with avx512_vnni or AMX");
  }
  auto m = std::make_unique<Impl>();
  const ModelConfig& c = model->config();
  m->model = model;
  m->config = config;
  m->L = c.encoder.num_layers;
  m->d = c.encoder.d_model;
  m->F = c.encoder.ffn_dim;
  m->W = c.encoder.lookahead_frames;
  m->K = static_cast<int>(m->W.size());
  m->left_context = c.encoder.left_context;
  m->eps = c.encoder.norm_eps;
  m->bins = c.frontend.num_mel_bins;
  m->dims = {c.encoder.num_heads, c.encoder.head_dim()};
  m->kv_elem = config.kv_cache == nn::KvType::kBF16 ? 2 : 4;
  m->rope = nn::Rope(c.encoder.head_dim(), c.encoder.rope_base);
  auto w = [&](const std::string& name) { return model->Weight(name).data.data(); };
  const nn::ComputeType ct = config.compute;
  m->sub = nn::CausalConvSubsampling(
      {w("frontend.cmvn_mean"), w("frontend.cmvn_istd"), w("subsample.conv1.weight"), w("subsample.conv1.bias"),
       w("subsample.conv2.weight"), w("subsample.conv2.bias"), w("subsample.out.weight"), w("subsample.out.bias")},
      m->bins, c.subsampling.channels, m->d, ct, c.subsampling.online_mean_frames);
  auto vec = [&](const std::string& name) { return model->Weight(name).data; };
  for (int l = 0; l < m->L; ++l) {
    const std::string p = absl::StrCat("encoder.layers.", l, ".");
    LayerWeights lw;
    lw.norm1_w = vec(p + "norm1.weight");
    lw.norm1_b = vec(p + "norm1.bias");
    lw.norm2_w = vec(p + "norm2.weight");
    lw.norm2_b = vec(p + "norm2.bias");
    nn::Linear qkv(w(p + "attn.qkv.weight"), w(p + "attn.qkv.bias"), 3 * m->d, m->d, ct);
    // One matmul computes q, k, v and the arbiter logits (all read LN1(x)).
    if (ct == nn::ComputeType::kInt8) {
      lw.qkva = std::move(qkv);
      lw.arbiter = nn::Linear(w(p + "arbiter.weight"), w(p + "arbiter.bias"), m->K, m->d, nn::ComputeType::kF32);
    } else {
      nn::Linear arb(w(p + "arbiter.weight"), w(p + "arbiter.bias"), m->K, m->d, ct);
      lw.qkva = nn::Linear::Stack({&qkv, &arb}, ct);
    }
    lw.out = nn::Linear(w(p + "attn.out.weight"), w(p + "attn.out.bias"), m->d, m->d, ct);
    lw.w1 = nn::Linear(w(p + "ffn.w1.weight"), w(p + "ffn.w1.bias"), m->F, m->d, ct);
    lw.w2 = nn::Linear(w(p + "ffn.w2.weight"), w(p + "ffn.w2.bias"), m->d, m->F, ct);
    m->layers.push_back(std::move(lw));
  }
  m->final_w = vec("encoder.final_norm.weight");
  m->final_b = vec("encoder.final_norm.bias");
  if (config.num_threads > 1) m->pool_threads = std::make_unique<WorkerPool>(config.num_threads);
  return std::unique_ptr<Encoder>(new Encoder(std::move(m)));
}

absl::StatusOr<std::unique_ptr<EncoderStream>> Encoder::CreateStream(const EncoderStreamOptions& options) const {
  if (auto s = options.Validate(); !s.ok()) return s;
  const Impl& m = *impl_;
  auto st = std::make_unique<EncoderStream::State>();
  st->options = options;
  st->d = m.d;
  st->left_context = m.left_context;
  st->bias.resize(m.K);
  // Cap below every choice: the smallest lookahead is the only one left (as the recipe does).
  const int cap = options.max_lookahead_frames < 0 ? std::numeric_limits<int>::max()
                                                   : std::max(options.max_lookahead_frames, m.W.front());
  for (int k = 0; k < m.K; ++k) {
    st->bias[k] = m.W[k] <= cap ? -options.beta * static_cast<float>(m.W[k]) : -std::numeric_limits<float>::infinity();
    if (m.W[k] <= cap) st->max_w = std::max(st->max_w, m.W[k]);
  }
  st->subsampling = &m.sub;
  st->layers.resize(m.L);
  if (options.record_choices) st->choices.resize(m.L);
  return std::unique_ptr<EncoderStream>(new EncoderStream(std::move(st)));
}

void EncoderStream::AcceptFeatures(const float* fbank, int n) {
  if (n > 0 && !state_->finished) state_->subsampling->AcceptFrames(&state_->sub, fbank, n);
}

bool EncoderStream::IsReady() const {
  const State& s = *state_;
  if (s.subsampling->NumReady(s.sub) > 0) return true;
  // At the end, frames waiting for lookahead past the last frame are released.
  if (s.finished && s.produced < s.TotalFrames()) return true;
  return false;
}

namespace {

// Makes room in a ring of `cap` rows x `width` values for frames [keep_from, need_to); rows of
// live frames [keep_from, live_to) keep their contents (re-laid out when the ring grows).
template <typename T>
void GrowRing(std::vector<T>* ring, int64_t* cap, int width, int64_t keep_from, int64_t live_to, int64_t need_to,
              int64_t min_cap) {
  const int64_t need = need_to - keep_from;
  if (need <= *cap) return;
  // Exactly what is needed (plus a little): growth is rare and idle streams stay small.
  const int64_t new_cap = std::max(need, min_cap);
  std::vector<T> grown(static_cast<size_t>(new_cap) * width);
  for (int64_t f = keep_from; f < live_to; ++f) {
    std::copy_n(ring->data() + (f % *cap) * width, width, grown.data() + (f % new_cap) * width);
  }
  ring->swap(grown);
  *cap = new_cap;
}

}  // namespace

// Copies layer l's new input rows into ws.xin (with P_{l-1}); returns the row count.
// Layer 0 reads the subsampling output already in ws.xin.
int Encoder::Impl::GatherLayerInput(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws) {
  ws.counts.assign(streams.size(), 0);
  int total = 0;
  for (auto* s : streams) {
    const LayerState& prev = s->layers[l - 1];
    total += static_cast<int>(prev.done_upto - prev.consumed);
  }
  ws.xin.resize(static_cast<size_t>(total) * d);
  ws.p.resize(total);
  int row = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    LayerState& prev = streams[i]->layers[l - 1];
    for (int64_t t = prev.consumed; t < prev.done_upto; ++t, ++row) {
      const int64_t slot = t % prev.slot_cap;
      std::memcpy(ws.xin.data() + static_cast<size_t>(row) * d, prev.slots.data() + slot * 2 * d, sizeof(float) * d);
      prev.running_max = std::max(prev.running_max, prev.r[slot]);
      ws.p[row] = prev.running_max;
    }
    ws.counts[i] = static_cast<int>(prev.done_upto - prev.consumed);
    prev.consumed = prev.done_upto;
    ParkSlots(&prev, ws);
  }
  return total;
}

// LN1, then q/k/v/arbiter for the rows in ws.xin; K/V into the ring, q and the residual into
// the frames' slots.
void Encoder::Impl::Project(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws) {
  int total = 0;
  for (int c : ws.counts) total += c;
  if (total == 0) return;
  const LayerWeights& lw = layers[l];
  const int width = 3 * d + K;
  ws.h.resize(static_cast<size_t>(total) * d);
  ws.qkva.resize(static_cast<size_t>(total) * width);
  nn::LayerNorm(ws.xin.data(), d, total, d, lw.norm1_w.data(), lw.norm1_b.data(), eps, ws.h.data(), d);
  if (lw.arbiter.empty()) {
    lw.qkva.Forward(ws.h.data(), total, ws.qkva.data());
  } else {
    lw.qkva.Forward(ws.h.data(), d, total, ws.qkva.data(), width);
    lw.arbiter.Forward(ws.h.data(), d, total, ws.qkva.data() + 3 * d, width);
  }
  int row = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    EncoderStream::State& s = *streams[i];
    LayerState& ls = s.layers[l];
    const int n = ws.counts[i];
    if (n == 0) continue;
    const int64_t end = ls.projected + n, last = s.Last();
    const int64_t key_from = std::max<int64_t>(0, ls.done_upto - left_context);
    const int64_t min_kv = left_context + s.max_w + 1;  // steady state: one new frame, max_w waiting
    // A young stream's ring doubles up to the steady size instead of taking it at once: a
    // stream that has heard 500 ms and waits holds about 16 frames per layer, not 37.
    const int64_t need = end - key_from;
    if (need > ls.kv_cap) ResizeKv(&ls, std::max(need, std::min(min_kv, 2 * ls.kv_cap)), key_from);
    TakeSlots(&ls, ws);
    const int64_t old_slot_cap = ls.slot_cap;
    const int64_t min_slots = s.max_w + 1;
    GrowRing(&ls.slots, &ls.slot_cap, 2 * d, ls.consumed, ls.projected, end, min_slots);
    int64_t c1 = old_slot_cap, c2 = old_slot_cap, c3 = old_slot_cap;
    GrowRing(&ls.choice, &c1, 1, ls.consumed, ls.projected, end, min_slots);
    GrowRing(&ls.done, &c2, 1, ls.consumed, ls.projected, end, min_slots);
    GrowRing(&ls.r, &c3, 1, ls.consumed, ls.projected, end, min_slots);
    for (int64_t t = ls.projected; t < end; ++t, ++row) {
      float* qkva = ws.qkva.data() + static_cast<size_t>(row) * width;
      const float* logits = qkva + 3 * d;
      int best = 0;
      float best_v = -std::numeric_limits<float>::infinity();
      for (int k = 0; k < K; ++k) {
        const float v = logits[k] + s.bias[k];
        if (v > best_v) {  // first maximum wins, as torch.argmax
          best_v = v;
          best = k;
        }
      }
      rope.Apply(qkva, qkva + d, dims.num_heads, t);  // q and k
      const int64_t kv_row = t % ls.kv_cap;
      nn::StoreKv(qkva + d, d, config.kv_cache, ls.kt.data() + kv_row * kv_elem, ls.kv_cap);  // key, column-wise
      nn::StoreKv(qkva + 2 * d, d, config.kv_cache, ls.v.data() + kv_row * d * kv_elem);
      ls.p_in[kv_row] = ws.p[row];
      const int64_t slot = t % ls.slot_cap;
      // A frame whose window is complete now is attended in this round from ws.xin / ws.qkva
      // (Attend); only a frame that waits for its lookahead needs its residual and query kept.
      if (std::min<int64_t>(t + W[best], last) > end - 1) {
        float* sl = ls.slots.data() + slot * 2 * d;
        std::memcpy(sl, ws.xin.data() + static_cast<size_t>(row) * d, sizeof(float) * d);
        std::memcpy(sl + d, qkva, sizeof(float) * d);
      }
      ls.choice[slot] = static_cast<int8_t>(best);
      ls.done[slot] = 0;
      if (!s.choices.empty()) s.choices[l].push_back(best);
    }
    ls.projected = end;
  }
}

// Runs every query of layer l whose window is available, all streams in one batch.
void Encoder::Impl::Attend(int l, absl::Span<EncoderStream::State* const> streams, Workspace& ws, int threads) {
  ws.queries.clear();
  const int width = 3 * d + K;
  size_t row = 0;  // stream i's frames projected in this round are rows row.. of ws.xin / ws.qkva
  for (size_t i = 0; i < streams.size(); ++i) {
    EncoderStream::State& s = *streams[i];
    LayerState& ls = s.layers[l];
    const int64_t last = s.Last();
    const int64_t first_new = ls.projected - ws.counts[i];
    for (int64_t t = ls.done_upto; t < ls.projected; ++t) {
      const int64_t slot = t % ls.slot_cap;
      if (ls.done[slot]) continue;
      const int64_t hi = std::min<int64_t>(t + W[ls.choice[slot]], last);
      if (hi > ls.projected - 1) continue;  // waits for lookahead
      const float *q, *x;
      if (t >= first_new) {
        const size_t r = row + (t - first_new);
        q = ws.qkva.data() + r * width;
        x = ws.xin.data() + r * d;
      } else {
        x = ls.slots.data() + slot * 2 * d;
        q = x + d;
      }
      ws.queries.push_back({streams[i], t, std::max<int64_t>(0, t - left_context), hi, q, x});
    }
    row += ws.counts[i];
  }
  const int total = static_cast<int>(ws.queries.size());
  if (total == 0) return;
  const LayerWeights& lw = layers[l];
  ws.o.resize(static_cast<size_t>(total) * d);
  ws.y.resize(static_cast<size_t>(total) * d);
  ws.h.resize(static_cast<size_t>(total) * d);
  ws.f.resize(static_cast<size_t>(total) * F);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && total >= 16)
  for (int i = 0; i < total; ++i) {
    const auto& q = ws.queries[i];
    LayerState& ls = q.s->layers[l];
    nn::KeyValueView kv{ls.kt.data(), ls.v.data(), d, ls.kv_cap, config.kv_cache, /*keys_transposed=*/true};
    nn::Attend(dims, q.q, d, 1, kv, &q.lo, &q.hi, ws.o.data() + static_cast<size_t>(i) * d, d);
    std::memcpy(ws.y.data() + static_cast<size_t>(i) * d, q.x, sizeof(float) * d);  // residual
  }
  lw.out.Forward(ws.o.data(), total, ws.y.data(), nn::Epilogue::kAccumulate);
  nn::LayerNorm(ws.y.data(), d, total, d, lw.norm2_w.data(), lw.norm2_b.data(), eps, ws.h.data(), d);
  lw.w1.Forward(ws.h.data(), total, ws.f.data(), nn::Epilogue::kSilu);
  lw.w2.Forward(ws.f.data(), total, ws.y.data(), nn::Epilogue::kAccumulate);
  for (int i = 0; i < total; ++i) {
    const auto& q = ws.queries[i];
    LayerState& ls = q.s->layers[l];
    const int64_t slot = q.t % ls.slot_cap;
    std::memcpy(ls.slots.data() + slot * 2 * d, ws.y.data() + static_cast<size_t>(i) * d, sizeof(float) * d);
    ls.done[slot] = 1;
    ls.r[slot] = ls.p_in[q.hi % ls.kv_cap];  // R_l(t) = P_{l-1}(min(t + W, last))
  }
  for (auto* sp : streams) {
    LayerState& ls = sp->layers[l];
    while (ls.done_upto < ls.projected && ls.done[ls.done_upto % ls.slot_cap]) ++ls.done_upto;
  }
}

// The top layer's finished prefix -> final norm -> each stream's output queue.
void Encoder::Impl::EmitOutputs(absl::Span<EncoderStream::State* const> streams, Workspace& ws) {
  for (auto* sp : streams) {
    EncoderStream::State& s = *sp;
    LayerState& top = s.layers[L - 1];
    const int64_t n = top.done_upto - top.consumed;
    if (n == 0) continue;
    if (static_cast<int64_t>(s.out.size()) < (s.out_rows + n) * d) s.out.resize((s.out_rows + n) * d);
    if (static_cast<int64_t>(s.out_latency.size()) < s.out_rows + n) s.out_latency.resize(s.out_rows + n);
    for (int64_t t = top.consumed; t < top.done_upto; ++t) {
      const int64_t slot = t % top.slot_cap;
      nn::LayerNorm(top.slots.data() + slot * 2 * d, d, 1, d, final_w.data(), final_b.data(), eps,
                    s.out.data() + s.out_rows * d, d);
      s.out_latency[s.out_rows] = static_cast<int>(top.r[slot] - t);
      ++s.out_rows;
    }
    top.consumed = top.done_upto;
    ParkSlots(&top, ws);
    s.produced += n;
  }
}

absl::Status Encoder::Advance(absl::Span<EncoderStream* const> streams) {
  Impl& m = *impl_;
  std::vector<EncoderStream::State*> states;
  states.reserve(streams.size());
  for (EncoderStream* s : streams) {
    if (s == nullptr) return absl::InvalidArgumentError("Encoder::Advance: null stream");
    if (s->state_->subsampling != &m.sub) return absl::InvalidArgumentError("Encoder::Advance: stream of another encoder");
    states.push_back(s->state_.get());
  }
  // A stream listed twice would be advanced by two threads at once.
  std::sort(states.begin(), states.end());
  states.erase(std::unique(states.begin(), states.end()), states.end());
  // Only streams with work: they are what gets split across threads.
  std::vector<EncoderStream::State*> busy;
  int64_t ready_frames = 0;
  for (auto* st : states) {
    const int64_t r = m.sub.NumReady(st->sub);
    if (r > 0 || (st->finished && st->produced < st->TotalFrames())) busy.push_back(st);
    ready_frames += r;
  }
  const int threads = m.config.num_threads;
  const int groups = std::min<int>(threads, static_cast<int>(busy.size()));
  if (groups > 1) {
    // Many streams: each thread advances its own share with single-threaded matmuls, so rows
    // per matmul stay plentiful and threads meet once per call, not once per matmul.
    const absl::Span<EncoderStream::State* const> all(busy);
    m.pool_threads->Run(groups, [&](int g) {
      const size_t begin = all.size() * g / groups, end = all.size() * (g + 1) / groups;
      m.AdvanceGroup(all.subspan(begin, end - begin), 1);
    });
  } else if (!busy.empty()) {
    // One stream: threads inside the matmuls pay off only for big batches (a file, not 40 ms).
    m.AdvanceGroup(busy, ready_frames >= 32 ? threads : 1);
  }
  return absl::OkStatus();
}

void Encoder::Impl::AdvanceGroup(absl::Span<EncoderStream::State* const> states, int threads) {
  nn::SetNumThreads(threads);
  auto ws = Acquire();
  bool more = true;
  while (more) {
    // Subsampling: up to max_frames_per_round new frames per stream, all streams in one batch.
    ws->sub_ptrs.clear();
    ws->counts.clear();
    int total = 0;
    const int64_t per_stream = std::max<int64_t>(config.max_frames_per_round,
                                                 config.round_rows / std::max<size_t>(1, states.size()));
    for (auto* s : states) {
      const int n = static_cast<int>(std::min<int64_t>(sub.NumReady(s->sub), per_stream));
      ws->sub_ptrs.push_back(&s->sub);
      ws->counts.push_back(n);
      total += n;
    }
    more = false;
    for (size_t i = 0; i < states.size(); ++i) {
      if (sub.NumReady(states[i]->sub) > ws->counts[i]) more = true;
    }
    ws->xin.resize(static_cast<size_t>(total) * d);
    ws->p.resize(total);
    if (total > 0) {
      // R_0(t) = t: layer 0's P values are the frame indices.
      int row = 0;
      for (size_t i = 0; i < states.size(); ++i)
        for (int k = 0; k < ws->counts[i]; ++k) ws->p[row++] = static_cast<int32_t>(states[i]->sub.num_outputs + k);
      sub.Forward(ws->sub_ptrs, ws->counts, ws->xin.data());
    }
    for (int l = 0; l < L; ++l) {
      if (l > 0) GatherLayerInput(l, states, *ws);
      Project(l, states, *ws);
      Attend(l, states, *ws, threads);
    }
    EmitOutputs(states, *ws);
  }
  for (auto* s : states) ShrinkRings(s);
  // What the next call needs at most (a ring per stream and layer in flight, handed on layer
  // by layer): the rest goes, so that a workspace does not keep a big group's rings.
  if (ws->spare.size() > states.size()) ws->spare.resize(states.size());
  Release(std::move(ws));
}

// Once every frame of a layer's slot ring has been handed on, the ring goes to the workspace
// (rings of ordinary size; a burst's big ring is freed).
void Encoder::Impl::ParkSlots(LayerState* ls, Workspace& ws) const {
  if (ls->slot_cap == 0 || ls->consumed != ls->projected) return;
  if (ls->slot_cap <= *std::max_element(W.begin(), W.end()) + 1 + kRingSlack) {
    Workspace::SlotRing& ring = ws.spare.emplace_back();
    ring.slots.swap(ls->slots);
    ring.choice.swap(ls->choice);
    ring.done.swap(ls->done);
    ring.r.swap(ls->r);
    ring.cap = ls->slot_cap;
  } else {
    std::vector<float>().swap(ls->slots);
    std::vector<int8_t>().swap(ls->choice);
    std::vector<uint8_t>().swap(ls->done);
    std::vector<int32_t>().swap(ls->r);
  }
  ls->slot_cap = 0;
}

// A layer without a slot ring (nothing in it is live) takes a parked one, if any.
void Encoder::Impl::TakeSlots(LayerState* ls, Workspace& ws) const {
  if (ls->slot_cap != 0 || ws.spare.empty()) return;
  Workspace::SlotRing& ring = ws.spare.back();
  ls->slots.swap(ring.slots);
  ls->choice.swap(ring.choice);
  ls->done.swap(ring.done);
  ls->r.swap(ring.r);
  ls->slot_cap = ring.cap;
  ws.spare.pop_back();
}

// Re-lays out the KV ring (keys column-wise, values and P rows) with new_cap slots, keeping the
// frames [live_from, projected).
void Encoder::Impl::ResizeKv(LayerState* ls, int64_t new_cap, int64_t live_from) {
  std::vector<std::byte> kt(static_cast<size_t>(d) * new_cap * kv_elem), v(static_cast<size_t>(new_cap) * d * kv_elem);
  std::vector<int32_t> p_in(new_cap);
  // In runs of frames contiguous in both rings (at most three): one copy per key column per run,
  // not one per key element (rings change size whenever a burst arrives and again after it).
  for (int64_t f = live_from; f < ls->projected;) {
    const int64_t from = f % ls->kv_cap, to = f % new_cap;
    const int64_t n = std::min({ls->projected - f, ls->kv_cap - from, new_cap - to});
    for (int c = 0; c < d; ++c) {
      std::memcpy(kt.data() + (c * new_cap + to) * kv_elem, ls->kt.data() + (c * ls->kv_cap + from) * kv_elem,
                  n * kv_elem);
    }
    std::memcpy(v.data() + to * d * kv_elem, ls->v.data() + from * d * kv_elem, static_cast<size_t>(n) * d * kv_elem);
    std::copy_n(ls->p_in.data() + from, n, p_in.data() + to);
    f += n;
  }
  ls->kt.swap(kt);
  ls->v.swap(v);
  ls->p_in.swap(p_in);
  ls->kv_cap = new_cap;
}

// After a backlog (a burst of audio, or a round of many frames) the rings are bigger than a
// live stream needs: give the memory back, so that streams idle at their steady size. Steady:
// the KV ring holds left_context keys behind the oldest unfinished frame, the <= max_w frames
// waiting for lookahead and one new frame; a layer with waiting frames keeps its slot ring of
// max_w + 1 slots (one with none has parked its ring already: ParkSlots). kRingSlack frames of excess
// are kept, so that the ordinary bursts of a live stream (a layer below releasing up to
// max_w + 1 frames at once when a long-lookahead frame finishes, or a client's chunks of up to
// ~200 ms) do not re-lay out the rings on every call; bigger chunks pay one copy of the live
// rows per layer per call, small next to computing those frames. (Keeping anything below 4x the
// steady size, as before, left a stream that had heard 3 s in 500 ms chunks idling at 1.6 MB
// instead of 0.97 MB on models/ancat-en, f32.)
void Encoder::Impl::ShrinkRings(EncoderStream::State* s) {
  sub.Trim(&s->sub);
  const int64_t min_kv = left_context + s->max_w + 1, min_slots = s->max_w + 1;
  for (LayerState& ls : s->layers) {
    if (ls.kv_cap > min_kv + kRingSlack) {
      const int64_t key_from = std::max<int64_t>(0, ls.done_upto - left_context);
      if (ls.projected - key_from <= min_kv) ResizeKv(&ls, min_kv, key_from);
    }
    if (ls.slot_cap > min_slots + kRingSlack && ls.projected - ls.consumed <= min_slots) {
      std::vector<float> slots;
      std::vector<int8_t> choice;
      std::vector<uint8_t> done;
      std::vector<int32_t> r;
      int64_t c = 0, c1 = 0, c2 = 0, c3 = 0;
      GrowRing(&slots, &c, 2 * d, ls.consumed, ls.consumed, ls.projected, min_slots);
      GrowRing(&choice, &c1, 1, ls.consumed, ls.consumed, ls.projected, min_slots);
      GrowRing(&done, &c2, 1, ls.consumed, ls.consumed, ls.projected, min_slots);
      GrowRing(&r, &c3, 1, ls.consumed, ls.consumed, ls.projected, min_slots);
      for (int64_t t = ls.consumed; t < ls.projected; ++t) {
        const int64_t from = t % ls.slot_cap, to = t % c;
        std::memcpy(slots.data() + to * 2 * d, ls.slots.data() + from * 2 * d, sizeof(float) * 2 * d);
        choice[to] = ls.choice[from];
        done[to] = ls.done[from];
        r[to] = ls.r[from];
      }
      ls.slots.swap(slots);
      ls.choice.swap(choice);
      ls.done.swap(done);
      ls.r.swap(r);
      ls.slot_cap = c;
    }
  }
}

absl::StatusOr<EncoderOutput> Encoder::EncodeOffline(const float* fbank, int num_frames,
                                                     const EncoderStreamOptions& options) {
  auto stream = CreateStream(options);
  if (!stream.ok()) return stream.status();
  EncoderStream* s = stream->get();
  s->AcceptFeatures(fbank, num_frames);
  s->InputFinished();
  if (auto st = Advance({&s, 1}); !st.ok()) return st;
  EncoderOutput out;
  out.d_model = impl_->d;
  out.num_frames = s->NumOutputFrames();
  out.frames.resize(static_cast<size_t>(out.num_frames) * out.d_model);
  for (int i = 0; i < out.num_frames; ++i) {
    std::copy_n(s->OutputFrame(i).data(), out.d_model, out.frames.data() + static_cast<size_t>(i) * out.d_model);
    out.latency.push_back(s->OutputLatency(i));
  }
  if (options.record_choices) {
    for (int l = 0; l < impl_->L; ++l) out.choices.push_back(s->Choices(l));
  }
  return out;
}

}  // namespace ancat::asr
