// The recognizer: audio -> resampler (asr/audio) -> fbank (asr/frontend) -> ANCAT encoder
// (asr/encoder) -> transducer decoder (asr/decoder). DecodeStreams batches the encoder and
// the joiner across streams.
#include "asr/recognizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "asr/audio/audio.h"
#include "asr/decoder/decoder.h"
#include "asr/decoder/ngram_lm.h"
#include "asr/decoder/sentencepiece_pieces.h"
#include "asr/decoder/transducer_head.h"
#include "asr/encoder/encoder.h"
#include "asr/frontend/fbank.h"
#include "asr/model/model.h"

namespace ancat::asr {
namespace {

const char* MethodName(DecodingConfig::Method m) {
  return m == DecodingConfig::Method::kGreedy ? "greedy" : "modified_beam";
}

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

// ---------------------------------------------------------------- configs

absl::Status LatencyConfig::Validate() const {
  if (!(beta >= 0.0f) || !std::isfinite(beta)) {
    return absl::InvalidArgumentError(absl::StrCat("latency.beta must be >= 0, got ", beta));
  }
  if (max_lookahead_ms < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency.max_lookahead_ms must be >= 0 or -1 (no cap), got ", max_lookahead_ms));
  }
  return absl::OkStatus();
}

std::string LatencyConfig::ToString() const {
  return absl::StrFormat("LatencyConfig(beta=%g, max_lookahead_ms=%d)", beta, max_lookahead_ms);
}

absl::Status DecodingConfig::Validate() const {
  if (method != Method::kGreedy && method != Method::kModifiedBeam) {
    return absl::InvalidArgumentError("decoding.method is not a known method");
  }
  if (beam < 1 || beam > 64) {
    return absl::InvalidArgumentError(absl::StrCat("decoding.beam must be in [1, 64], got ", beam));
  }
  if (max_alternatives < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding.max_alternatives must be >= 1, got ", max_alternatives));
  }
  if (method == Method::kModifiedBeam && max_alternatives > beam) {
    return absl::InvalidArgumentError(absl::StrCat("decoding.max_alternatives (",
                                                   max_alternatives, ") must be <= beam (",
                                                   beam, ")"));
  }
  if (!std::isfinite(lm_weight) || lm_weight > 10.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding.lm_weight must be <= 10 (< 0 = model default), got ", lm_weight));
  }
  if (!std::isfinite(word_bonus) || word_bonus > 20.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoding.word_bonus must be <= 20 (< 0 = model default), got ", word_bonus));
  }
  if (!std::isfinite(blank_penalty) || blank_penalty > 20.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoding.blank_penalty must be <= 20 (< 0 = model default), got ", blank_penalty));
  }
  return absl::OkStatus();
}

std::string DecodingConfig::ToString() const {
  return absl::StrFormat(
      "DecodingConfig(method=%s, beam=%d, max_alternatives=%d, lm_weight=%g, word_bonus=%g, "
      "blank_penalty=%g)",
      MethodName(method), beam, max_alternatives, lm_weight, word_bonus, blank_penalty);
}

absl::Status EndpointConfig::Validate() const {
  if (trailing_silence_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint.trailing_silence_ms must be >= 0 (0 = off), got ",
                     trailing_silence_ms));
  }
  if (leading_silence_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint.leading_silence_ms must be >= 0 (0 = off), got ", leading_silence_ms));
  }
  if (max_utterance_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint.max_utterance_ms must be >= 0 (0 = off), got ", max_utterance_ms));
  }
  return absl::OkStatus();
}

std::string EndpointConfig::ToString() const {
  return absl::StrFormat(
      "EndpointConfig(enabled=%s, trailing_silence_ms=%d, leading_silence_ms=%d, "
      "max_utterance_ms=%d)",
      Bool(enabled), trailing_silence_ms, leading_silence_ms, max_utterance_ms);
}

absl::Status StreamConfig::Validate() const {
  if (sample_rate < 1000 || sample_rate > 384000) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample_rate must be in [1000, 384000], got ", sample_rate));
  }
  for (absl::Status s : {latency.Validate(), decoding.Validate(), endpoint.Validate()}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string StreamConfig::ToString() const {
  return absl::StrFormat(
      "StreamConfig(sample_rate=%d, interim_results=%s, single_utterance=%s, "
      "word_time_offsets=%s, word_confidence=%s, latency=%s, decoding=%s, endpoint=%s)",
      sample_rate, Bool(interim_results), Bool(single_utterance), Bool(word_time_offsets),
      Bool(word_confidence),
      latency.ToString(), decoding.ToString(), endpoint.ToString());
}

absl::Status RecognizerConfig::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("model_dir is empty");
  if (num_threads < 1 || num_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads must be in [1, 256], got ", num_threads));
  }
  if (max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch must be >= 1, got ", max_batch));
  }
  if (auto t = nn::ParseComputeType(compute_type); !t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("compute_type: ", t.status().message()));
  }
  if (kv_cache != "f32" && kv_cache != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat("kv_cache must be f32 or bf16, got \"", kv_cache, "\""));
  }
  return absl::OkStatus();
}

std::string RecognizerConfig::ToString() const {
  return absl::StrFormat(
      "RecognizerConfig(model_dir=%s, num_threads=%d, max_batch=%d, compute_type=%s, kv_cache=%s, "
      "lm_lookahead=%s)",
      model_dir, num_threads, max_batch, compute_type, kv_cache, Bool(lm_lookahead));
}

// ---------------------------------------------------------------- the engine

namespace {

absl::Status Annotate(const absl::Status& s, const std::string& what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

class RecognizerImpl;

constexpr size_t kKeepScratch = 4096;  // floats of resampled audio a stream keeps buffered

class StreamImpl : public Stream {
 public:
  absl::Status AcceptWaveform(absl::Span<const float> samples) override;
  void InputFinished() override;
  bool IsReady() const override;
  bool IsDone() const override { return input_finished_ && decoder_->IsDone(); }
  std::vector<Result> TakeResults() override { return decoder_->TakeResults(); }

 private:
  friend class RecognizerImpl;
  StreamImpl() = default;
  absl::Status Feed(absl::Span<const float> samples_16k);
  // Encoder frames made so far -> decoder.
  void MoveEncoderOutput();

  const RecognizerImpl* owner_ = nullptr;
  StreamConfig config_;
  std::unique_ptr<StreamingResampler> resampler_;  // null at the model's rate
  std::unique_ptr<OnlineFbank> fbank_;
  std::unique_ptr<EncoderStream> encoder_;
  std::unique_ptr<DecoderStream> decoder_;
  std::vector<float> scratch_;
  bool input_finished_ = false;
  bool decoder_told_finished_ = false;
};

class RecognizerImpl : public Recognizer {
 public:
  static absl::StatusOr<std::unique_ptr<Recognizer>> Make(const RecognizerConfig& config);

  const ModelInfo& Info() const override { return info_; }
  absl::StatusOr<std::unique_ptr<Stream>> CreateStream(const StreamConfig& config) override;
  absl::Status DecodeStreams(absl::Span<Stream* const> streams) override;

 private:
  RecognizerConfig config_;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const FbankComputer> fbank_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<TransducerHead> head_;
  std::unique_ptr<NgramLm> lm_;
  std::unique_ptr<TransducerDecoder> decoder_;
  ModelInfo info_;
};

absl::StatusOr<std::unique_ptr<Recognizer>> RecognizerImpl::Make(const RecognizerConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return Annotate(s, "RecognizerConfig");
  auto r = std::make_unique<RecognizerImpl>();
  r->config_ = config;
  // The tokenizer's pieces are read by asr/decoder, not libsentencepiece: see
  // sentencepiece_pieces.h (libsentencepiece aborts in processes that link gRPC).
  auto model = Model::Load(config.model_dir, {.load_tokenizer = false});
  if (!model.ok()) return Annotate(model.status(), "loading model " + config.model_dir);
  r->model_ = *model;
  const ModelConfig& mc = r->model_->config();
  auto sp = ReadSentencePieceModel(config.model_dir + "/" + mc.vocab.tokenizer);
  if (!sp.ok()) return Annotate(sp.status(), "loading model " + config.model_dir);
  if (static_cast<int>(sp->size()) != mc.vocab.size) {
    return absl::InvalidArgumentError(absl::StrCat(config.model_dir, ": tokenizer has ",
                                                   sp->size(), " pieces, model.json vocab.size ",
                                                   mc.vocab.size));
  }
  auto fbank = FbankComputer::Create(mc.frontend);
  if (!fbank.ok()) return Annotate(fbank.status(), "model.json frontend");
  r->fbank_ = *fbank;
  EncoderConfig ec;
  ec.num_threads = config.num_threads;
  ec.compute = *nn::ParseComputeType(config.compute_type);  // validated above
  ec.kv_cache = config.kv_cache == "bf16" ? nn::KvType::kBF16 : nn::KvType::kF32;
  auto encoder = Encoder::Create(r->model_, ec);
  if (!encoder.ok()) return Annotate(encoder.status(), "encoder");
  r->encoder_ = std::move(*encoder);
  // The predictor and joiner stay f32 whatever compute_type says: their matmuls are a few rows
  // per symbol step (little to gain), and their outputs are the log-probabilities that beam
  // search ranks, LM fusion adds to and confidences are made of, where int8 rounding noise
  // would act directly on the result.
  auto head = TransducerHead::Create(*r->model_);
  if (!head.ok()) return Annotate(head.status(), "predictor/joiner");
  r->head_ = std::move(*head);
  const std::string lm_path = r->model_->lm_path();
  if (!lm_path.empty()) {
    auto lm = NgramLm::LoadArpa(lm_path);
    if (!lm.ok()) return Annotate(lm.status(), "n-gram LM");
    r->lm_ = std::move(*lm);
  }
  std::vector<std::string> pieces;
  for (const SentencePiecePiece& p : *sp) pieces.push_back(p.piece);
  PieceTable table = PieceTable::FromPieces(pieces, mc.vocab.blank_id, mc.vocab.unk_id);
  for (size_t i = 0; i < sp->size(); ++i) {
    const auto type = (*sp)[i].type;
    if (type != SentencePiecePiece::kNormal && type != SentencePiecePiece::kUserDefined) {
      table.special[i] = 1;  // <blk>, <unk>, control and unused pieces are no text
      table.text[i].clear();
      table.display[i].clear();
      table.starts_word[i] = 0;
    }
  }
  WordLmFusion::Options fusion;
  fusion.lookahead = config.lm_lookahead;
  r->decoder_ = std::make_unique<TransducerDecoder>(r->head_.get(), r->lm_.get(),
                                                    std::move(table), mc.frame_ms, fusion);

  r->info_.name = mc.name;
  r->info_.version = mc.version;
  r->info_.sample_rate = mc.frontend.sample_rate;
  for (int w : mc.encoder.lookahead_frames) r->info_.lookahead_ms.push_back(w * mc.frame_ms);
  r->info_.vocab_size = mc.vocab.size;
  r->info_.frame_ms = mc.frame_ms;
  return std::unique_ptr<Recognizer>(std::move(r));
}

absl::StatusOr<std::unique_ptr<Stream>> RecognizerImpl::CreateStream(const StreamConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const ModelConfig& mc = model_->config();
  auto stream = std::unique_ptr<StreamImpl>(new StreamImpl());
  stream->owner_ = this;
  stream->config_ = config;
  if (config.sample_rate != mc.frontend.sample_rate) {
    auto rs = StreamingResampler::Create(config.sample_rate, mc.frontend.sample_rate);
    if (!rs.ok()) return Annotate(rs.status(), "resampler");
    stream->resampler_ = std::move(*rs);
  }
  stream->fbank_ = std::make_unique<OnlineFbank>(fbank_);
  EncoderStreamOptions eo;
  eo.beta = config.latency.beta;
  eo.max_lookahead_frames =
      config.latency.max_lookahead_ms < 0 ? -1 : config.latency.max_lookahead_ms / mc.frame_ms;
  auto enc = encoder_->CreateStream(eo);
  if (!enc.ok()) return Annotate(enc.status(), "encoder stream");
  stream->encoder_ = std::move(*enc);

  DecoderStreamOptions d;
  const DecodingConfig& dc = config.decoding;
  d.search.beam_search = dc.method == DecodingConfig::Method::kModifiedBeam;
  d.search.beam = dc.beam;
  d.search.max_symbols_per_frame = mc.max_symbols_per_frame;
  const float default_weight = mc.lm ? mc.lm->weight : 0.0f;
  const float default_bonus = mc.lm ? mc.lm->word_bonus : 0.0f;
  d.search.lm_weight = lm_ == nullptr ? 0.0f : (dc.lm_weight < 0 ? default_weight : dc.lm_weight);
  d.search.word_bonus = dc.word_bonus < 0 ? default_bonus : dc.word_bonus;
  // The model's penalty was tuned with beam search and its LM; greedy, the parity
  // reference, stays the network's own argmax unless the request sets one.
  const float default_penalty = d.search.beam_search ? mc.blank_penalty : 0.0f;
  d.search.blank_penalty = dc.blank_penalty < 0 ? default_penalty : dc.blank_penalty;
  d.max_alternatives = d.search.beam_search ? dc.max_alternatives : 1;
  d.endpoint = config.endpoint;
  d.interim_results = config.interim_results;
  d.single_utterance = config.single_utterance;
  d.word_time_offsets = config.word_time_offsets;
  d.word_confidence = config.word_confidence;
  stream->decoder_ = decoder_->CreateStream(d);
  return std::unique_ptr<Stream>(std::move(stream));
}

absl::Status StreamImpl::AcceptWaveform(absl::Span<const float> samples) {
  if (input_finished_) return absl::FailedPreconditionError("AcceptWaveform after InputFinished");
  if (resampler_ == nullptr) return Feed(samples);
  scratch_.clear();
  if (absl::Status s = resampler_->Accept(samples, &scratch_); !s.ok()) return s;
  absl::Status s = Feed(scratch_);
  // Do not keep a big chunk's resampled buffer for the stream's lifetime.
  if (scratch_.capacity() > kKeepScratch) std::vector<float>().swap(scratch_);
  return s;
}

absl::Status StreamImpl::Feed(absl::Span<const float> samples_16k) {
  // The fbank's buffers keep the capacity of the biggest chunk it was given (a 500 ms chunk
  // left ~47 KB in every idle stream): fed in pieces of kFbankPiece samples, they stay a few KB
  // whatever the client's chunk size. The frames are the same for any split.
  constexpr size_t kFbankPiece = 1600;  // 100 ms at 16 kHz
  std::vector<float> rows;
  int64_t n = 0;
  for (size_t at = 0; at < samples_16k.size(); at += kFbankPiece) {
    const auto piece = samples_16k.subspan(at, kFbankPiece);
    if (absl::Status s = fbank_->AcceptWaveform(piece); !s.ok()) return s;
    n += fbank_->PopFrames(&rows);
  }
  if (n > 0) encoder_->AcceptFeatures(rows.data(), static_cast<int>(n));
  return absl::OkStatus();
}

void StreamImpl::InputFinished() {
  if (input_finished_) return;
  if (resampler_ != nullptr) {
    scratch_.clear();
    if (resampler_->Finish(&scratch_).ok()) Feed(scratch_).IgnoreError();
  }
  fbank_->InputFinished();
  std::vector<float> rows;
  const int64_t n = fbank_->PopFrames(&rows);
  if (n > 0) encoder_->AcceptFeatures(rows.data(), static_cast<int>(n));
  encoder_->InputFinished();
  input_finished_ = true;
}

bool StreamImpl::IsReady() const {
  return encoder_->IsReady() || encoder_->NumOutputFrames() > 0 || decoder_->IsReady() ||
         (input_finished_ && encoder_->IsDone() && !decoder_told_finished_);
}

void StreamImpl::MoveEncoderOutput() {
  const int n = encoder_->NumOutputFrames();
  if (n > 0) {
    const int d = static_cast<int>(encoder_->OutputFrame(0).size());
    std::vector<float> frames(static_cast<size_t>(n) * d);
    std::vector<int32_t> latency(n);
    for (int i = 0; i < n; ++i) {
      absl::Span<const float> f = encoder_->OutputFrame(i);
      std::copy(f.begin(), f.end(), frames.begin() + static_cast<size_t>(i) * d);
      latency[i] = encoder_->OutputLatency(i);
    }
    decoder_->AcceptFrames(frames.data(), n, latency.data());
    encoder_->PopOutputFrames(n);
  }
  if (input_finished_ && encoder_->IsDone() && !decoder_told_finished_) {
    decoder_->InputFinished();
    decoder_told_finished_ = true;
  }
}

absl::Status RecognizerImpl::DecodeStreams(absl::Span<Stream* const> streams) {
  std::vector<StreamImpl*> all;
  for (Stream* s : streams) {
    auto* impl = dynamic_cast<StreamImpl*>(s);
    if (impl == nullptr || impl->owner_ != this) {
      return absl::InvalidArgumentError("DecodeStreams: a stream of another recognizer");
    }
    all.push_back(impl);
  }
  for (size_t begin = 0; begin < all.size(); begin += config_.max_batch) {
    const size_t end = std::min(all.size(), begin + static_cast<size_t>(config_.max_batch));
    std::vector<EncoderStream*> enc;
    std::vector<DecoderStream*> dec;
    // The encoder may stop at a per-round cap; go on until no stream has encoder work.
    for (;;) {
      enc.clear();
      for (size_t i = begin; i < end; ++i) {
        if (all[i]->encoder_->IsReady()) enc.push_back(all[i]->encoder_.get());
      }
      if (!enc.empty()) {
        if (absl::Status s = encoder_->Advance(enc); !s.ok()) return s;
      }
      dec.clear();
      for (size_t i = begin; i < end; ++i) {
        all[i]->MoveEncoderOutput();
        if (all[i]->decoder_->IsReady()) dec.push_back(all[i]->decoder_.get());
      }
      decoder_->Decode(dec);
      if (enc.empty()) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Recognizer>> Recognizer::Create(const RecognizerConfig& config) {
  return RecognizerImpl::Make(config);
}

absl::StatusOr<std::vector<Result>> Recognizer::RecognizeClip(const StreamConfig& config,
                                                              absl::Span<const float> samples) {
  StreamConfig c = config;
  c.interim_results = false;
  auto stream = CreateStream(c);
  if (!stream.ok()) return stream.status();
  if (absl::Status s = (*stream)->AcceptWaveform(samples); !s.ok()) return s;
  (*stream)->InputFinished();
  std::vector<Result> finals;
  Stream* s = stream->get();
  while (!s->IsDone()) {
    if (absl::Status st = DecodeStreams({&s, 1}); !st.ok()) return st;
    for (Result& r : s->TakeResults()) {
      if (r.is_final) finals.push_back(std::move(r));
    }
    if (!s->IsDone() && !s->IsReady()) {
      return absl::InternalError("RecognizeClip: stream stalled before its end");
    }
  }
  for (Result& r : s->TakeResults()) {
    if (r.is_final) finals.push_back(std::move(r));
  }
  return finals;
}

}  // namespace ancat::asr
