"""Transducer search for evaluation: batched greedy (FORMAT.md), modified beam search with
optional word-level n-gram shallow fusion, and WER/CER.

Beam search follows the usual "modified beam search" (at most one symbol per frame), keeps
the transducer and LM scores apart in each hypothesis, and merges duplicate token sequences
on the transducer score (log-add), ranking by transducer + weight * LM + bonus * words.
The LM scores a word when it is complete (the next piece starts a word, or the utterance
ends); a word the LM does not know costs its <unk> probability (or --oov-logprob) plus
a per-letter spelling cost, so gluing pieces into long unknown words does not pay.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from corpus.wer import ErrorRate as WordCharCounts, edit_distance  # noqa: F401 (re-exported)
from model import Transducer

LN10 = math.log(10.0)


# ---------------------------------------------------------------- greedy

@torch.no_grad()
def greedy_batch(model: Transducer, e: torch.Tensor, lens: torch.Tensor) -> List[List[int]]:
    """FORMAT.md greedy search for a batch: per frame up to max_symbols_per_frame symbols,
    stopping at the first blank. e [B, T, d]."""
    b, t_max, _ = e.shape
    dev = e.device
    enc = model.joiner.enc(e)
    ctx = torch.zeros(b, 2, dtype=torch.long, device=dev)
    pred = model.joiner.pred(model.predictor(ctx))
    hyps: List[List[int]] = [[] for _ in range(b)]
    for t in range(t_max):
        going = t < lens
        if not bool(going.any()):
            break
        for _ in range(model.cfg.max_symbols_per_frame):
            k = model.joiner.out(torch.tanh(enc[:, t] + pred)).argmax(-1)
            emit = going & (k != 0)
            if not bool(emit.any()):
                break
            for i in emit.nonzero().flatten().tolist():
                hyps[i].append(int(k[i]))
            new_ctx = torch.stack([ctx[:, 1], k], dim=1)
            ctx = torch.where(emit[:, None], new_ctx, ctx)
            pred = torch.where(emit[:, None], model.joiner.pred(model.predictor(ctx)), pred)
            going = emit
    return hyps


# ---------------------------------------------------------------- n-gram LM

class ArpaLM:
    """Word-level back-off n-gram LM from an ARPA file; scores in natural log."""

    def __init__(self, path: str):
        self.probs: Dict[Tuple[str, ...], float] = {}
        self.backoff: Dict[Tuple[str, ...], float] = {}
        self.order = 0
        n = 0
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("\\") and line.endswith("-grams:"):
                    n = int(line[1:line.index("-")])
                    self.order = max(self.order, n)
                    continue
                if line.startswith("\\") or line.startswith("ngram ") or n == 0:
                    continue
                parts = line.split()
                if len(parts) < n + 1:
                    continue
                words = tuple(parts[1:n + 1])
                self.probs[words] = float(parts[0]) * LN10
                if len(parts) > n + 1:
                    self.backoff[words] = float(parts[n + 1]) * LN10
        self.unk = self.probs.get(("<unk>",))

    def known(self, word: str) -> bool:
        return (word,) in self.probs

    def score(self, history: Tuple[str, ...], word: str) -> float:
        """ln P(word | history) with back-off; history is the full word history."""
        h = history[-(self.order - 1):] if self.order > 1 else ()
        bo = 0.0
        while True:
            p = self.probs.get(h + (word,))
            if p is not None:
                return bo + p
            if not h:
                return bo + (self.unk if self.unk is not None else -100.0)
            bo += self.backoff.get(h, 0.0)
            h = h[1:]


# ---------------------------------------------------------------- beam search

class _Hyp:
    __slots__ = ("tokens", "am", "lm", "words", "partial", "nwords")

    def __init__(self, tokens, am, lm, words, partial, nwords):
        self.tokens, self.am, self.lm = tokens, am, lm
        self.words, self.partial, self.nwords = words, partial, nwords


def _word_cost(lm: ArpaLM, words: Tuple[str, ...], word: str, oov_logprob: float,
               letter_cost: float) -> float:
    if lm.known(word):
        return lm.score(("<s>",) + words, word)
    base = lm.unk if lm.unk is not None else oov_logprob
    return base - letter_cost * len(word)


@torch.no_grad()
def beam_search(model: Transducer, e: torch.Tensor, length: int, pieces: Sequence[str],
                beam: int = 4, lm: Optional[ArpaLM] = None, lm_weight: float = 0.0,
                word_bonus: float = 0.0, oov_logprob: float = -12.0,
                letter_cost: float = 0.5, blank_penalty: float = 0.0) -> List[int]:
    """Modified beam search over one utterance e [T, d] (at most one symbol per frame).
    blank_penalty is subtracted from blank's log-prob at every frame, as in the C++ search."""
    dev = e.device
    enc = model.joiner.enc(e[:length])
    hyps = [_Hyp((), 0.0, 0.0, (), "", 0)]
    pred_cache: Dict[Tuple[int, int], torch.Tensor] = {}

    def pred_of(tokens):
        key = tuple(([0, 0] + list(tokens))[-2:])
        if key not in pred_cache:
            pred_cache[key] = model.joiner.pred(model.predictor(torch.tensor(key, device=dev)))
        return pred_cache[key]

    def total(h):
        return h.am + lm_weight * h.lm + word_bonus * h.nwords

    for t in range(length):
        preds = torch.stack([pred_of(h.tokens) for h in hyps])
        lp = torch.log_softmax(model.joiner.out(torch.tanh(enc[t][None] + preds)), dim=-1)
        k = min(beam, lp.shape[1] - 1)
        top_v, top_i = lp[:, 1:].topk(k, dim=-1)
        lp_blank = lp[:, 0].tolist()
        top_v, top_i = top_v.tolist(), (top_i + 1).tolist()
        cand: Dict[Tuple[int, ...], _Hyp] = {}

        def add(h):
            old = cand.get(h.tokens)
            if old is None:
                cand[h.tokens] = h
            else:  # same tokens by another path: merge on the transducer score
                old.am = float(torch.logaddexp(torch.tensor(old.am), torch.tensor(h.am)))

        for hi, h in enumerate(hyps):
            add(_Hyp(h.tokens, h.am + lp_blank[hi] - blank_penalty, h.lm, h.words, h.partial,
                     h.nwords))
            for v, tok in zip(top_v[hi], top_i[hi]):
                piece = pieces[tok]
                words, partial, lm_s, nw = h.words, h.partial, h.lm, h.nwords
                if piece.startswith("\u2581"):
                    if partial and lm is not None:
                        lm_s += _word_cost(lm, words, partial, oov_logprob, letter_cost)
                    if partial:
                        words, nw = words + (partial,), nw + 1
                    partial = piece[1:]
                else:
                    partial = partial + piece
                add(_Hyp(h.tokens + (tok,), h.am + v, lm_s, words, partial, nw))
        hyps = sorted(cand.values(), key=total, reverse=True)[:beam]
    # finish the last word
    final = []
    for h in hyps:
        lm_s, nw = h.lm, h.nwords
        if h.partial:
            nw += 1
            if lm is not None:
                lm_s += _word_cost(lm, h.words, h.partial, oov_logprob, letter_cost)
        if lm is not None:
            lm_s += lm.score(("<s>",) + h.words + ((h.partial,) if h.partial else ()), "</s>")
        final.append((h.am + lm_weight * lm_s + word_bonus * nw, h.tokens))
    return list(max(final)[1])


# ---------------------------------------------------------------- scoring

def normalize_text(s: str) -> str:
    return " ".join(s.lower().replace("\u2581", " ").split())


class ErrorRate(WordCharCounts):
    """corpus.wer's counts (the pocketsphinx peer's too, so both are scored alike) on
    normalized text, rates in percent."""

    def add(self, ref: str, hyp: str) -> None:
        super().add(normalize_text(ref), normalize_text(hyp))

    @property
    def wer(self) -> float:
        return 100.0 * super().wer

    @property
    def cer(self) -> float:
        return 100.0 * super().cer
