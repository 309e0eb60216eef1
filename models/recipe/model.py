"""ANCAT transducer, exactly as models/FORMAT.md defines it.

Parameter names equal FORMAT.md's tensor names, so export is a state_dict dump
(minus the training-only CTC head). Runs on torch 1.13 (CPU, CI) and torch 2.x (GPU).
"""
import dataclasses
import json
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

# The frontend options FORMAT.md fixes; model.json records them.
FRONTEND_OPTIONS = {
    "sample_rate": 16000, "num_mel_bins": 80, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
    "dither": 0.0, "preemphasis_coefficient": 0.97, "remove_dc_offset": True,
    "window_type": "povey", "round_to_power_of_two": True, "snip_edges": True,
    "low_freq": 20.0, "high_freq": 0.0, "use_energy": False, "use_log_fbank": True,
    "use_power": True, "waveform_scale": 32768.0,
}


def fbank(waveform: torch.Tensor, frontend: Optional[dict] = None, dither: float = 0.0) -> torch.Tensor:
    """Log-mel features [T, 80] of a 16 kHz mono waveform in [-1, 1] (FORMAT.md frontend)."""
    import torchaudio.compliance.kaldi as kaldi
    o = dict(FRONTEND_OPTIONS if frontend is None else frontend)
    wav = waveform.reshape(1, -1).to(torch.float32) * o["waveform_scale"]
    return kaldi.fbank(
        wav, num_mel_bins=o["num_mel_bins"], frame_length=o["frame_length_ms"],
        frame_shift=o["frame_shift_ms"], dither=dither,
        preemphasis_coefficient=o["preemphasis_coefficient"], remove_dc_offset=o["remove_dc_offset"],
        window_type=o["window_type"], round_to_power_of_two=o["round_to_power_of_two"],
        snip_edges=o["snip_edges"], low_freq=o["low_freq"], high_freq=o["high_freq"],
        use_energy=o["use_energy"], use_log_fbank=o["use_log_fbank"], use_power=o["use_power"],
        sample_frequency=float(o["sample_rate"]))


def num_fbank_frames(num_samples: int) -> int:
    """Frames of a snip_edges fbank with 400-sample windows and 160-sample shift."""
    return 0 if num_samples < 400 else 1 + (num_samples - 400) // 160


def subsampled_length(t: torch.Tensor) -> torch.Tensor:
    """T -> T1 = floor((T-1)/2)+1 -> T2 = floor((T1-1)/2)+1 (for T >= 1)."""
    t1 = torch.div(t - 1, 2, rounding_mode="floor") + 1
    return torch.div(t1 - 1, 2, rounding_mode="floor") + 1


@dataclasses.dataclass
class ModelConfig:
    num_mel_bins: int = 80
    channels: int = 64
    d_model: int = 256
    num_layers: int = 12
    num_heads: int = 4
    ffn_dim: int = 1024
    left_context: int = 32
    lookahead_frames: Sequence[int] = (0, 1, 2, 4)
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    vocab_size: int = 500
    context_size: int = 2
    embed_dim: int = 256
    pred_dim: int = 256
    joiner_dim: int = 256
    max_symbols_per_frame: int = 3
    frame_ms: int = 40
    # > 0: after the global CMVN, subtract the running mean of the stream's frames so far, with
    # a prior of this many zero frames (causal per-utterance normalization; 0 = off)
    online_mean_frames: int = 0

    def __post_init__(self):
        self.lookahead_frames = [int(w) for w in self.lookahead_frames]
        assert self.d_model % self.num_heads == 0
        assert (self.d_model // self.num_heads) % 2 == 0, "RoPE needs an even head dim"
        assert self.context_size == 2, "FORMAT.md's stateless predictor has context 2"
        assert list(self.lookahead_frames) == sorted(set(self.lookahead_frames))
        assert self.online_mean_frames >= 0

    @property
    def freq_out(self) -> int:
        f1 = (self.num_mel_bins - 3) // 2 + 1
        return (f1 - 3) // 2 + 1

    def to_json_sections(self) -> dict:
        """The architecture sections of model.json."""
        sub = {"type": "causal-conv2d", "channels": self.channels, "factor": 4}
        if self.online_mean_frames:  # absent when off: folders without it stay as they were
            sub["online_mean_frames"] = self.online_mean_frames
        return {
            "subsampling": sub,
            "encoder": {"num_layers": self.num_layers, "d_model": self.d_model,
                        "num_heads": self.num_heads, "ffn_dim": self.ffn_dim,
                        "left_context": self.left_context,
                        "lookahead_frames": list(self.lookahead_frames),
                        "rope_base": self.rope_base, "norm_eps": self.norm_eps},
            "predictor": {"type": "stateless", "context_size": self.context_size,
                          "embed_dim": self.embed_dim, "dim": self.pred_dim},
            "joiner": {"dim": self.joiner_dim},
            "decoding": {"max_symbols_per_frame": self.max_symbols_per_frame},
            "frame_ms": self.frame_ms,
        }

    @staticmethod
    def from_model_json(mj: dict) -> "ModelConfig":
        e = mj["encoder"]
        return ModelConfig(
            num_mel_bins=mj["frontend"]["num_mel_bins"], channels=mj["subsampling"]["channels"],
            d_model=e["d_model"], num_layers=e["num_layers"], num_heads=e["num_heads"],
            ffn_dim=e["ffn_dim"], left_context=e["left_context"],
            lookahead_frames=e["lookahead_frames"], rope_base=e["rope_base"], norm_eps=e["norm_eps"],
            vocab_size=mj["vocab"]["size"], context_size=mj["predictor"]["context_size"],
            embed_dim=mj["predictor"]["embed_dim"], pred_dim=mj["predictor"]["dim"],
            joiner_dim=mj["joiner"]["dim"],
            max_symbols_per_frame=mj.get("decoding", {}).get("max_symbols_per_frame", 3),
            frame_ms=mj.get("frame_ms", 40),
            online_mean_frames=mj["subsampling"].get("online_mean_frames", 0))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- frontend + subsampling

class Frontend(nn.Module):
    """Holds the global CMVN statistics (frontend.cmvn_mean / frontend.cmvn_istd), and applies
    the optional online mean normalization (ModelConfig.online_mean_frames)."""

    def __init__(self, num_mel_bins: int, online_mean_frames: int = 0):
        super().__init__()
        self.online_mean_frames = online_mean_frames
        self.register_buffer("cmvn_mean", torch.zeros(num_mel_bins))
        self.register_buffer("cmvn_istd", torch.ones(num_mel_bins))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [..., T, F] from a stream's first frame on (a later chunk alone would restart
        the running mean)."""
        y = (feats - self.cmvn_mean) * self.cmvn_istd
        if self.online_mean_frames:
            y = y - online_mean(y, self.online_mean_frames)
        return y


def online_mean(y: torch.Tensor, prior_frames: int) -> torch.Tensor:
    """Causal running mean over time (dim -2) with prior_frames zero frames before the first:
    frame t gets sum(y[..., :t+1, :]) / (t + 1 + prior_frames). In float64, like the runtime's
    sums, so that hours of audio keep their precision; padding after a sequence's end does not
    reach its frames."""
    n = torch.arange(1, y.shape[-2] + 1, device=y.device, dtype=torch.float64) + prior_frames
    return (torch.cumsum(y.double(), dim=-2) / n[:, None]).to(y.dtype)


class CausalSubsampling(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.channels
        self.conv1 = nn.Conv2d(1, c, 3, stride=2)
        self.conv2 = nn.Conv2d(c, c, 3, stride=2)
        self.out = nn.Linear(c * cfg.freq_out, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, 80] -> [B, T2, d]. Two frames of zero padding on the left of time only."""
        x = x.unsqueeze(1)
        x = F.relu(self.conv1(F.pad(x, (0, 0, 2, 0))))
        x = F.relu(self.conv2(F.pad(x, (0, 0, 2, 0))))
        b, c, t, f = x.shape
        return self.out(x.permute(0, 2, 1, 3).reshape(b, t, c * f))


# ---------------------------------------------------------------- encoder

def rope(x: torch.Tensor, base: float) -> torch.Tensor:
    """Rotary positions on [B, H, T, dh], position = absolute frame index, rotate-half pairing."""
    t, dh = x.shape[-2], x.shape[-1]
    half = dh // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64, device=x.device) / dh)
    ang = torch.arange(t, dtype=torch.float64, device=x.device)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def attention_mask(lengths: torch.Tensor, t2: int, left_context: int,
                   right: torch.Tensor) -> torch.Tensor:
    """Boolean [B, T2, T2] mask: query t sees keys max(0,t-lc) <= s <= min(len-1, t+right[b,t]).

    right: [B, T2] lookahead frames per query. Padded queries (t >= len) keep their diagonal so
    that no softmax row is empty; their outputs are never used by valid frames.
    """
    dev = lengths.device
    t = torch.arange(t2, device=dev)
    s = t.view(1, 1, t2)
    q = t.view(1, t2, 1)
    m = (s >= q - left_context) & (s <= q + right.unsqueeze(-1)) & (s < lengths.view(-1, 1, 1))
    pad_q = q >= lengths.view(-1, 1, 1)
    return m | (pad_q & (s == q))


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.h = cfg.num_heads
        self.dh = cfg.d_model // cfg.num_heads
        self.base = cfg.rope_base
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, masks: List[torch.Tensor],
                gates: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B,T,d]; masks: K boolean [B,T,T]; gates [B,T,K] mix the K attentions (None: K=1)."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        q, k = rope(q, self.base), rope(k, self.base)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        probs = None
        for i, m in enumerate(masks):
            p = torch.softmax(scores.masked_fill(~m.unsqueeze(1), float("-inf")).float(), dim=-1)
            if gates is not None:
                p = p * gates[:, :, i].float().view(b, 1, t, 1)
            probs = p if probs is None else probs + p
        o = torch.matmul(probs.to(v.dtype), v)
        return self.out(o.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.ffn_dim)
        self.w2 = nn.Linear(cfg.ffn_dim, cfg.d_model)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)))


def gumbel_gates(logits: torch.Tensor, tau: float):
    """Straight-through Gumbel-softmax: (hard one-hot forward / soft backward, soft weights)."""
    logits = logits.float()
    u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
    g = -torch.log(-torch.log(u))
    soft = torch.softmax((logits + g) / tau, dim=-1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft, soft


def inference_choices(logits: torch.Tensor, lookahead: torch.Tensor, beta: float,
                      max_lookahead: Optional[int]) -> torch.Tensor:
    """argmax_k (logits - beta * W[k]) over k with W[k] <= max_lookahead (None: no cap)."""
    adj = logits.float() - beta * lookahead.float()
    if max_lookahead is not None:
        allowed = lookahead <= max_lookahead
        if not bool(allowed.any()):  # cap below every choice: take the smallest lookahead
            allowed = lookahead == lookahead.min()
        adj = adj.masked_fill(~allowed, float("-inf"))
    return adj.argmax(-1)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.arbiter = nn.Linear(cfg.d_model, len(cfg.lookahead_frames))
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.ffn = FeedForward(cfg)
        self.left_context = cfg.left_context
        self.register_buffer("lookahead", torch.tensor(cfg.lookahead_frames, dtype=torch.long),
                             persistent=False)

    def forward(self, x, lengths, mode: str, tau: float = 1.0, beta: float = 0.0,
                max_lookahead: Optional[int] = None, choices: Optional[torch.Tensor] = None):
        """mode 'gumbel' (training), 'soft' (gate = softmax(logits), for analysis) or 'hard'.

        Returns (x, info) with info: choices [B,T] long, gates [B,T,K] (straight-through or
        one-hot), soft [B,T,K] (differentiable weights for the latency regularizer).
        """
        b, t, _ = x.shape
        h = self.norm1(x)
        logits = self.arbiter(h)
        kk = self.lookahead.numel()
        if choices is not None:
            gates = F.one_hot(choices, kk).float()
            soft = gates
        elif mode == "gumbel":
            gates, soft = gumbel_gates(logits, tau)
            choices = gates.argmax(-1)
        elif mode == "soft":
            soft = torch.softmax(logits.float(), dim=-1)
            gates = soft
            choices = soft.argmax(-1)
        else:
            choices = inference_choices(logits, self.lookahead, beta, max_lookahead)
            gates = F.one_hot(choices, kk).float()
            soft = gates
        if kk == 1 or not gates.requires_grad and mode != "soft":
            # Hard choice: one mask with the per-query right limit t + W[a(t)].
            masks = [attention_mask(lengths, t, self.left_context, self.lookahead[choices])]
            mix = None
        else:
            masks = [attention_mask(lengths, t, self.left_context,
                                    torch.full_like(choices, int(w))) for w in self.lookahead]
            mix = gates
        x = x + self.attn(h, masks, mix)
        x = x + self.ffn(self.norm2(x))
        return x, {"choices": choices, "gates": gates, "soft": soft, "logits": logits}


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg.num_layers)])
        self.final_norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, x, lengths, mode="hard", tau=1.0, beta=0.0, max_lookahead=None,
                choices: Optional[torch.Tensor] = None):
        infos = []
        for i, layer in enumerate(self.layers):
            x, info = layer(x, lengths, mode, tau, beta, max_lookahead,
                            None if choices is None else choices[i])
            infos.append(info)
        return self.final_norm(x), infos


# ---------------------------------------------------------------- latency

def hard_latency(lookahead_per_layer: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """R_L(t) per FORMAT.md from W[a_l(t)] as [L, B, T2] ints. Returns R_L [B, T2] (long).

    R_0(t) = t; P_l(t) = max_{s<=t} R_l(s); R_l(t) = P_{l-1}(min(t + W[a_l(t)], len-1)).
    """
    nl, b, t2 = lookahead_per_layer.shape
    t = torch.arange(t2, device=lengths.device).view(1, t2).expand(b, t2)
    last = (lengths - 1).clamp(min=0).view(b, 1)
    r = t.clone()
    for l in range(nl):
        p = torch.cummax(r, dim=1).values
        idx = torch.minimum(t + lookahead_per_layer[l].long(), last)
        r = torch.gather(p, 1, idx)
    return r


def soft_latency(gates: List[torch.Tensor], lookahead: torch.Tensor,
                 lengths: torch.Tensor) -> torch.Tensor:
    """Differentiable R_L [B, T2] with gate weights [B,T2,K] per layer in place of hard choices."""
    b, t2, kk = gates[0].shape
    dev = lengths.device
    t = torch.arange(t2, device=dev).view(1, t2, 1)
    last = (lengths - 1).clamp(min=0).view(b, 1, 1)
    idx = torch.minimum(t + lookahead.view(1, 1, kk).to(dev), last).expand(b, t2, kk)
    r = torch.arange(t2, device=dev, dtype=torch.float32).view(1, t2).expand(b, t2)
    for g in gates:
        p = torch.cummax(r, dim=1).values
        gathered = torch.gather(p, 1, idx.reshape(b, t2 * kk)).view(b, t2, kk)
        r = (g.float() * gathered).sum(-1)
    return r


def mean_latency(r: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames of R_L(t) - t (frames)."""
    b, t2 = r.shape
    t = torch.arange(t2, device=r.device).view(1, t2)
    valid = (t < lengths.view(-1, 1)).to(r.dtype if r.is_floating_point() else torch.float32)
    return ((r - t).to(valid.dtype) * valid).sum() / valid.sum().clamp(min=1)


# ---------------------------------------------------------------- predictor, joiner

class Predictor(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.proj = nn.Linear(2 * cfg.embed_dim, cfg.pred_dim)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """context [..., 2] token ids (y_{u-2}, y_{u-1}) -> [..., P]."""
        e = self.embed(context)
        return F.relu(self.proj(e.flatten(-2)))

    def for_targets(self, y: torch.Tensor) -> torch.Tensor:
        """y [B, U] (padding anything) -> predictor outputs for prefixes 0..U: [B, U+1, P]."""
        b, u = y.shape
        padded = torch.cat([y.new_zeros(b, 2), y], dim=1)  # blank, blank, y1..yU
        ctx = torch.stack([padded[:, :u + 1], padded[:, 1:u + 2]], dim=-1)
        return self(ctx)


class Joiner(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.enc = nn.Linear(cfg.d_model, cfg.joiner_dim)
        self.pred = nn.Linear(cfg.pred_dim, cfg.joiner_dim)
        self.out = nn.Linear(cfg.joiner_dim, cfg.vocab_size)

    def forward(self, enc_proj: torch.Tensor, pred_proj: torch.Tensor) -> torch.Tensor:
        """Inputs already projected by .enc / .pred; returns unnormalized logits."""
        return self.out(torch.tanh(enc_proj + pred_proj))


# ---------------------------------------------------------------- the model

class Transducer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.frontend = Frontend(cfg.num_mel_bins, cfg.online_mean_frames)
        self.subsample = CausalSubsampling(cfg)
        self.encoder = Encoder(cfg)
        self.predictor = Predictor(cfg)
        self.joiner = Joiner(cfg)
        self.ctc_head = nn.Linear(cfg.d_model, cfg.vocab_size)  # training only, not exported
        self.register_buffer("lookahead", torch.tensor(cfg.lookahead_frames, dtype=torch.long),
                             persistent=False)

    def export_state_dict(self) -> Dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("ctc_head.")}

    def encode(self, feats: torch.Tensor, feat_lens: torch.Tensor, mode: str = "hard",
               tau: float = 1.0, beta: float = 0.0, max_lookahead: Optional[int] = None,
               choices: Optional[torch.Tensor] = None):
        """feats [B, T, 80] raw fbank (CMVN applied here). Returns (e [B,T2,d], T2 lens, infos)."""
        x = self.subsample(self.frontend(feats))
        lens = subsampled_length(feat_lens)
        e, infos = self.encoder(x, lens, mode, tau, beta, max_lookahead, choices)
        return e, lens, infos

    def latency(self, infos, lens) -> torch.Tensor:
        """Hard R_L [B, T2] from the layers' choices."""
        w = torch.stack([self.lookahead[i["choices"]] for i in infos])
        return hard_latency(w, lens)

    def soft_latency(self, infos, lens) -> torch.Tensor:
        return soft_latency([i["soft"] for i in infos], self.lookahead, lens)

    def joint(self, e: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """e [B,T,d], p [B,U+1,P] -> logits [B,T,U+1,V]."""
        return self.joiner(self.joiner.enc(e).unsqueeze(2), self.joiner.pred(p).unsqueeze(1))

    @torch.no_grad()
    def greedy(self, e: torch.Tensor, length: Optional[int] = None) -> List[int]:
        """FORMAT.md greedy search over one utterance e [T2, d]."""
        t2 = e.shape[0] if length is None else int(length)
        enc = self.joiner.enc(e[:t2])
        ctx = [0, 0]
        out: List[int] = []
        pred = self.joiner.pred(self.predictor(torch.tensor(ctx, device=e.device)))
        for t in range(t2):
            for _ in range(self.cfg.max_symbols_per_frame):
                k = int(self.joiner(enc[t], pred).argmax())
                if k == 0:
                    break
                out.append(k)
                ctx = [ctx[1], k]
                pred = self.joiner.pred(self.predictor(torch.tensor(ctx, device=e.device)))
        return out


def count_parameters(model: nn.Module, exported_only: bool = True) -> int:
    return sum(p.numel() for n, p in model.named_parameters()
               if not (exported_only and n.startswith("ctc_head.")))


def load_model_folder(folder: str, device: str = "cpu"):
    """Loads an exported model folder into a Transducer (F32). Returns (model, model_json)."""
    import os
    from safetensors_io import read_safetensors  # noqa: local module
    with open(os.path.join(folder, "model.json")) as f:
        mj = json.load(f)
    cfg = ModelConfig.from_model_json(mj)
    model = Transducer(cfg)
    tensors, _ = read_safetensors(os.path.join(folder, mj["weights"]["file"]))
    missing, unexpected = model.load_state_dict(
        {k: v.float() for k, v in tensors.items()}, strict=False)
    missing = [m for m in missing if not m.startswith("ctc_head.")]
    if missing or unexpected:
        raise ValueError(f"weights mismatch: missing {missing}, unexpected {unexpected}")
    return model.to(device).eval(), mj


def torch_load(path: str):
    """torch.load of our own checkpoints on torch 1.13 and 2.x (2.6+ defaults to weights_only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch without the weights_only argument
        return torch.load(path, map_location="cpu")
