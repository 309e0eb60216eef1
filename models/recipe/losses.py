"""Transducer and CTC losses.

rnnt_loss uses torchaudio.functional.rnnt_loss when it exists (torchaudio 0.10 .. 2.x) and
falls back to a pure-PyTorch log-space implementation otherwise (ANCAT_RNNT=torch forces it).
Both return per-utterance negative log-likelihoods [B].
"""
import os

import torch
import torch.nn.functional as F


def _torchaudio_rnnt():
    if os.environ.get("ANCAT_RNNT", "") == "torch":
        return None
    try:
        import torchaudio.functional as AF
        return getattr(AF, "rnnt_loss", None)
    except Exception:  # torchaudio missing or broken
        return None


def rnnt_loss_torch(logits: torch.Tensor, targets: torch.Tensor, logit_lens: torch.Tensor,
                    target_lens: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Pure-PyTorch RNN-T NLL per utterance. logits [B,T,U+1,V], targets [B,U].

    Forward variables row by row over t; inside a row the recursion
    alpha[t,u] = logaddexp(alpha[t-1,u] + blank[t-1,u], alpha[t,u-1] + emit[t,u-1])
    is solved in closed form with a log-cumsum-exp (no loop over u).
    """
    b, t_max, u1, _ = logits.shape
    lp = torch.log_softmax(logits.float(), dim=-1)
    blank_lp = lp[..., blank]  # [B,T,U+1]
    if u1 > 1:
        idx = targets[:, None, :, None].long().expand(b, t_max, u1 - 1, 1)
        emit_lp = torch.gather(lp[:, :, :u1 - 1, :], 3, idx).squeeze(3)  # [B,T,U]
    else:
        emit_lp = lp.new_zeros(b, t_max, 0)
    zero = lp.new_zeros(b, 1)
    rows = []
    prev = None
    for t in range(t_max):
        # cumulative emission along u for row t: c[u] = sum_{j<u} emit[t, j]
        c = torch.cat([zero, torch.cumsum(emit_lp[:, t], dim=1)], dim=1)  # [B,U+1]
        if prev is None:
            alpha = c  # alpha[0,u] = sum of emissions
        else:
            from_below = prev + blank_lp[:, t - 1]
            alpha = c + torch.logcumsumexp(from_below - c, dim=1)
        rows.append(alpha)
        prev = alpha
    alphas = torch.stack(rows, dim=1)  # [B,T,U+1]
    bi = torch.arange(b, device=logits.device)
    tl = (logit_lens.long() - 1).clamp(min=0)
    ul = target_lens.long()
    return -(alphas[bi, tl, ul] + blank_lp[bi, tl, ul])


def rnnt_loss(logits: torch.Tensor, targets: torch.Tensor, logit_lens: torch.Tensor,
              target_lens: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Per-utterance RNN-T NLL [B] (float32 logits)."""
    fn = _torchaudio_rnnt()
    if fn is None:
        return rnnt_loss_torch(logits, targets, logit_lens, target_lens, blank)
    return fn(logits.float(), targets.int(), logit_lens.int(), target_lens.int(), blank=blank,
              reduction="none")


def ctc_loss(logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Per-utterance CTC NLL [B]; logits [B,T,V]."""
    lp = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    return F.ctc_loss(lp, targets.long(), lens.long(), target_lens.long(), blank=blank,
                      reduction="none", zero_infinity=True)
