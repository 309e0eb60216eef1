#include "asr/decoder/decoder.h"

#include <algorithm>
#include <cmath>

#include "asr/decoder/words.h"

namespace ancat::asr {
namespace {

// Frames whose buffers a stream keeps between Decode calls (ReleaseIfLarge).
constexpr size_t kKeepFrames = 2;

// An emptied buffer that a burst made big (seconds of audio in one call: ~1 KB per frame) is
// given back, so that an idle stream does not hold it for good; ordinary calls (a few frames)
// keep theirs.
void ReleaseIfLarge(std::vector<float>* v, size_t row_floats) {
  if (v->empty() && v->capacity() > kKeepFrames * row_floats) std::vector<float>().swap(*v);
}

}  // namespace

TransducerDecoder::TransducerDecoder(const TransducerScorer* scorer, const NgramLm* lm,
                                     PieceTable pieces, int frame_ms,
                                     WordLmFusion::Options fusion_options)
    : scorer_(scorer),
      lm_(lm),
      pieces_(std::move(pieces)),
      frame_ms_(frame_ms),
      fusion_(lm, &pieces_, fusion_options) {}

std::unique_ptr<DecoderStream> TransducerDecoder::CreateStream(
    const DecoderStreamOptions& options) const {
  return std::unique_ptr<DecoderStream>(new DecoderStream(this, options));
}

DecoderStream::DecoderStream(const TransducerDecoder* decoder, const DecoderStreamOptions& options)
    : decoder_(decoder),
      options_(options),
      search_(Search::Create(options.search, &decoder->scorer(), &decoder->fusion())) {}

void DecoderStream::AcceptFrames(const float* encoder_out, int n, const int32_t* latency_frames) {
  if (n <= 0 || stopped_) return;  // single utterance done: later audio is ignored
  const int dim = decoder_->scorer().encoder_dim();
  raw_.insert(raw_.end(), encoder_out, encoder_out + static_cast<size_t>(n) * dim);
  for (int i = 0; i < n; ++i) latency_.push_back(latency_frames ? latency_frames[i] : 0);
}

bool DecoderStream::IsReady() const {
  return (!stopped_ && !latency_.empty()) || (input_finished_ && !done_);
}

std::vector<Result> DecoderStream::TakeResults() {
  std::vector<Result> out;
  out.swap(results_);
  return out;
}

void TransducerDecoder::Decode(absl::Span<DecoderStream* const> streams) const {
  const int enc_dim = scorer_->encoder_dim();
  const int frame_dim = scorer_->frame_dim();
  const int vocab = scorer_->vocab_size();

  // The joiner's encoder side for all new frames of all streams in one call.
  std::vector<float> raw;
  for (DecoderStream* s : streams) raw.insert(raw.end(), s->raw_.begin(), s->raw_.end());
  const int total = static_cast<int>(raw.size() / enc_dim);
  if (total > 0) {
    std::vector<float> projected(static_cast<size_t>(total) * frame_dim);
    scorer_->ProjectFrames(raw.data(), total, projected.data());
    size_t at = 0;
    for (DecoderStream* s : streams) {
      const size_t n = s->raw_.size() / enc_dim * frame_dim;
      s->projected_.insert(s->projected_.end(), projected.begin() + at, projected.begin() + at + n);
      at += n;
      s->raw_.clear();
      ReleaseIfLarge(&s->raw_, enc_dim);
    }
  }

  // Lock-step over the streams: each step scores one query per live hypothesis of every
  // stream that still has a frame, in one scorer call.
  std::vector<JoinQuery> queries;
  std::vector<float> logprobs;
  std::vector<DecoderStream*> active;
  std::vector<size_t> first_query;
  for (;;) {
    active.clear();
    queries.clear();
    first_query.clear();
    for (DecoderStream* s : streams) {
      if (s->stopped_ || s->head_ >= s->projected_.size()) continue;
      const int n = s->search_->NumQueries();
      first_query.push_back(queries.size());
      queries.resize(queries.size() + n);
      s->search_->MakeQueries(s->projected_.data() + s->head_, &queries[first_query.back()]);
      active.push_back(s);
    }
    if (active.empty()) break;
    logprobs.resize(queries.size() * vocab);
    scorer_->Score(queries, logprobs.data());
    for (size_t i = 0; i < active.size(); ++i) {
      DecoderStream* s = active[i];
      if (s->search_->TakeScores(logprobs.data() + first_query[i] * vocab, s->frames_decoded_)) {
        s->head_ += frame_dim;
        s->FrameDone();
      }
    }
  }

  for (DecoderStream* s : streams) {
    s->projected_.erase(s->projected_.begin(), s->projected_.begin() + s->head_);
    s->head_ = 0;
    ReleaseIfLarge(&s->projected_, frame_dim);
    if (s->stopped_) {  // single utterance: later audio is ignored
      s->projected_.clear();
      s->latency_.clear();
    }
    if (s->input_finished_ && s->latency_.empty() && !s->done_) {
      if (!s->stopped_ && (!s->search_->Best().tokens.empty() || s->finals_made_ == 0)) {
        s->Finalize(/*endpoint=*/false);
      }
      s->done_ = true;
    } else if (!s->done_) {
      s->MaybePartial();
    }
  }
}

void DecoderStream::FrameDone() {
  utterance_latency_.push_back(latency_.front());
  latency_.pop_front();
  ++frames_decoded_;
  const Hypothesis& best = search_->Best();
  EndpointInput in;
  in.utterance_frames = frames_decoded_ - utterance_start_;
  in.has_speech = !best.tokens.empty();
  in.trailing_silence_frames =
      in.has_speech ? frames_decoded_ - 1 - best.tokens.back().frame : in.utterance_frames;
  const EndpointRule rule = DetectEndpoint(options_.endpoint, decoder_->frame_ms(), in);
  if (rule == EndpointRule::kNone) return;
  if (in.has_speech || options_.single_utterance) {
    Finalize(/*endpoint=*/true);
    return;
  }
  // Silence only: start a new utterance without a result.
  search_->Reset();
  utterance_start_ = frames_decoded_;
  utterance_latency_.clear();
  last_partial_.clear();
}

void DecoderStream::Finalize(bool endpoint) {
  Result r = MakeResult(/*final=*/true);
  r.end_of_utterance = endpoint;
  results_.push_back(std::move(r));
  ++finals_made_;
  search_->Reset();
  utterance_start_ = frames_decoded_;
  utterance_latency_.clear();
  last_partial_.clear();
  if (options_.single_utterance) stopped_ = true;
}

void DecoderStream::MaybePartial() {
  if (!options_.interim_results || stopped_) return;
  const Hypothesis& best = search_->Best();
  std::vector<int32_t> ids;
  for (const DecodedToken& t : best.tokens) ids.push_back(t.id);
  if (ids.empty() || ids == last_partial_) return;
  last_partial_ = std::move(ids);
  results_.push_back(MakeResult(/*final=*/false));
}

Result DecoderStream::MakeResult(bool final) const {
  const double frame_s = decoder_->frame_ms() / 1000.0;
  Result r;
  r.is_final = final;
  const int n = final ? std::max(1, options_.max_alternatives) : 1;
  std::vector<RankedHypothesis> nbest = search_->NBest(n, final);
  for (size_t k = 0; k < nbest.size(); ++k) {
    AssembledText text = AssembleWords(nbest[k].hyp.tokens, decoder_->pieces(), frame_s);
    Alternative alt;
    alt.transcript = text.transcript;
    alt.confidence = text.confidence;
    if (options_.word_time_offsets || options_.word_confidence) {
      alt.words = std::move(text.words);
      for (Word& w : alt.words) {
        if (!options_.word_time_offsets) w.start_s = w.end_s = 0;
        if (!options_.word_confidence) w.confidence = 0;
      }
    }
    if (k == 0 && !final) {
      // Stable: whole words inside the prefix all kept hypotheses share; the last word may
      // still grow, so it never counts.
      const int common = search_->CommonPrefix();
      size_t stable_chars = 0, words_stable = 0;
      for (size_t w = 0; w + 1 < text.first_token.size(); ++w) {
        if (text.first_token[w + 1] > common) break;
        words_stable = w + 1;
      }
      size_t pos = 0;
      for (size_t w = 0; w < words_stable; ++w) {
        pos = alt.transcript.find(' ', pos);
        if (pos == std::string::npos) break;
        stable_chars = ++pos;
      }
      r.stability = alt.transcript.empty()
                        ? 0.0f
                        : static_cast<float>(stable_chars) / alt.transcript.size();
    }
    r.alternatives.push_back(std::move(alt));
  }
  if (final) r.stability = 1.0f;
  r.start_s = utterance_start_ * frame_s;
  r.end_s = frames_decoded_ * frame_s;
  if (!utterance_latency_.empty()) {
    std::vector<int32_t> lat = utterance_latency_;
    double sum = 0;
    for (int32_t v : lat) sum += v;
    r.mean_lookahead_ms = sum / lat.size() * decoder_->frame_ms();
    const size_t p90 = std::min(lat.size() - 1, static_cast<size_t>(std::ceil(0.9 * lat.size())) - 1);
    std::nth_element(lat.begin(), lat.begin() + p90, lat.end());
    r.p90_lookahead_ms = lat[p90] * decoder_->frame_ms();
  }
  return r;
}

std::vector<float> DecoderStream::TokenLatenciesMs() const {
  std::vector<float> out;
  for (const DecodedToken& t : search_->Best().tokens) {
    const int idx = t.frame - utterance_start_;
    const int32_t lat = idx >= 0 && idx < static_cast<int>(utterance_latency_.size())
                            ? utterance_latency_[idx]
                            : 0;
    out.push_back(static_cast<float>(lat * decoder_->frame_ms()));
  }
  return out;
}

}  // namespace ancat::asr
