"""On-the-fly waveform augmentation for training (CPU DataLoader workers).

Pure torch (no torchaudio), vectorized and FFT-based, so it runs the same under Debian's
torch 1.13 and torch 2.x. Every transform takes and returns a 1-D float tensor at 16 kHz.

Per utterance, `Augmenter.__call__` draws a new "speaker" and a new channel:
  * speaker: pitch shift with tempo correction (resample + phase vocoder) and an independent
    vocal-tract-length (formant) warp of the spectral envelope (cepstral envelope, re-imposed
    as a time-varying filter), then a random EQ / spectral tilt;
  * speed perturbation (tempo and pitch together, like Kaldi's 0.9/1.0/1.1);
  * reverberation with a synthetic room impulse response (exponentially decaying noise with
    early reflections, random RT60 and direct-to-reverberant ratio);
  * additive noise at a random SNR: colored noise (white..brown) or babble built from other
    utterances (`babble` argument, e.g. a small bank kept by the Dataset);
  * band limiting (random low-pass/high-pass) or a telephone channel (8 kHz, 300-3400 Hz, mu-law);
  * gain (and rare soft clipping).
SpecAugment belongs to the model's feature pipeline (train.py), not here.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields

import torch

SR = 16000


@dataclass
class AugmentConfig:
    p_speaker: float = 0.8        # pitch + formant warp
    pitch_range: tuple = (0.75, 1.33)
    vtl_range: tuple = (0.85, 1.15)
    p_eq: float = 0.6
    p_speed: float = 0.5
    speed_range: tuple = (0.9, 1.1)
    p_reverb: float = 0.4
    rt60_range: tuple = (0.15, 0.9)
    p_noise: float = 0.6
    snr_range: tuple = (0.0, 30.0)
    p_babble: float = 0.35        # share of noise events that are babble (when a bank exists)
    p_band: float = 0.25
    p_telephone: float = 0.1
    p_gain: float = 0.9
    gain_db_range: tuple = (-18.0, 6.0)
    p_clip: float = 0.02

    def validate(self) -> None:
        for name in ("p_speaker", "p_eq", "p_speed", "p_reverb", "p_noise", "p_babble", "p_band",
                     "p_telephone", "p_gain", "p_clip"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1], got {v}")
        for name in ("pitch_range", "vtl_range", "speed_range", "rt60_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"AugmentConfig.{name} must be 0 < lo <= hi, got {(lo, hi)}")


# --------------------------------------------------------------------------- primitives
def parse_config(text: str) -> AugmentConfig:
    """AugmentConfig from 'field=value,...' overrides of the defaults: a range as lo:hi, a
    probability as one number (train.py --augment-config 'vtl_range=0.8:1.25,p_speaker=0.9')."""
    cfg = AugmentConfig()
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, eq, value = item.partition("=")
        if not eq or not hasattr(cfg, name):
            raise ValueError(f"augment config: '{item}' is not FIELD=VALUE with FIELD one of "
                             f"{', '.join(f.name for f in fields(cfg))}")
        try:
            v = tuple(float(x) for x in value.split(":"))
        except ValueError:
            raise ValueError(f"augment config: {name}='{value}' is not a number or LO:HI") from None
        want_range = isinstance(getattr(cfg, name), tuple)
        if len(v) != (2 if want_range else 1):
            raise ValueError(f"augment config: {name} takes {'LO:HI' if want_range else 'one number'}, "
                             f"got '{value}'")
        setattr(cfg, name, v if want_range else v[0])
    cfg.validate()
    return cfg


def fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFTs of prime-ish lengths are orders of magnitude slower."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _smooth_numbers(limit: int, primes=(2, 3, 5, 7, 11)) -> list:
    out = {1}
    for p in primes:
        for v in sorted(out):
            v *= p
            while v <= limit:
                out.add(v)
                v *= p
    return sorted(out)


_SMOOTH = _smooth_numbers(4000)
_SMOOTH_SET = set(_SMOOTH)


def smooth_ratio(factor: float, tol: float = 2e-4) -> tuple:
    """(p, q), both 11-smooth, with p/q within `tol` (relative) of factor: FFT sizes q*k and
    p*k (k 5-smooth) are then fast, and the resampling ratio is still exact to 0.02%."""
    best = None
    for q in _SMOOTH:
        p = int(round(factor * q))
        if p < 1 or p not in _SMOOTH_SET:
            continue
        err = abs(p / q - factor) / factor
        if best is None or err < best[0]:
            best = (err, p, q)
            if err <= tol:
                break
    return best[1], best[2]


def resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Band-limited FFT resampling to round(len * factor) samples (factor > 1 lengthens)."""
    n = x.shape[-1]
    m = max(1, int(round(n * factor)))
    if m == n:
        return x.clone()
    p, q = smooth_ratio(factor)
    k = fast_len(-(-(n + min(n, 1024)) // q))
    big, mp = q * k, p * k
    xp = torch.nn.functional.pad(x, (0, big - n))
    spec = torch.fft.rfft(xp)
    keep = mp // 2 + 1
    if keep <= spec.shape[-1]:
        spec = spec[..., :keep]
    else:
        spec = torch.nn.functional.pad(spec, (0, keep - spec.shape[-1]))
    y = torch.fft.irfft(spec, mp) * (mp / big)
    if y.shape[-1] < m:
        y = torch.nn.functional.pad(y, (0, m - y.shape[-1]))
    return y[..., :m]


def _stft(x: torch.Tensor, n_fft: int = 512, hop: int = 128) -> torch.Tensor:
    win = torch.hann_window(n_fft, dtype=x.dtype)
    return torch.stft(x, n_fft, hop, n_fft, win, center=True, return_complex=True)


def _istft(s: torch.Tensor, length: int, n_fft: int = 512, hop: int = 128) -> torch.Tensor:
    win = torch.hann_window(n_fft, dtype=torch.float32)
    return torch.istft(s, n_fft, hop, n_fft, win, center=True, length=length)


def phase_vocoder(spec: torch.Tensor, rate: float, hop: int = 128) -> torch.Tensor:
    """Time-stretch a complex STFT [F, T] by `rate` (>1 is faster/shorter), vectorized."""
    n_freq, n_t = spec.shape
    steps = torch.arange(0, n_t, rate, dtype=torch.float64)
    if len(steps) == 0:
        return spec[:, :1]
    phase_adv = torch.linspace(0, math.pi * hop, n_freq, dtype=torch.float64)[:, None]
    spec = torch.nn.functional.pad(spec, (0, 2))
    idx0 = steps.floor().long()
    alpha = (steps - idx0.double()).float()
    s0, s1 = spec[:, idx0], spec[:, idx0 + 1]
    mag = (1 - alpha) * s0.abs() + alpha * s1.abs()
    dphase = (s1.angle() - s0.angle()).double() - phase_adv
    dphase = dphase - 2 * math.pi * torch.round(dphase / (2 * math.pi))
    dphase = dphase + phase_adv
    phase0 = spec[:, :1].angle().double()
    acc = torch.cat([phase0, dphase[:, :-1]], dim=1).cumsum(dim=1)
    return torch.polar(mag, acc.float())


def _cepstral_envelope(logmag: torch.Tensor, n_lifter: int = 30) -> torch.Tensor:
    """Smooth log-magnitude envelope [F, T] by cepstral liftering (keeps formants, drops harmonics)."""
    n_freq = logmag.shape[0]
    cep = torch.fft.irfft(logmag.T, n=2 * (n_freq - 1))
    cep[:, n_lifter:-n_lifter] = 0
    return torch.fft.rfft(cep).real.T[:n_freq]


def _warp_freq(env: torch.Tensor, factor: float) -> torch.Tensor:
    """env'(f) = env(f / factor): factor > 1 moves formants up. Linear interpolation along F."""
    n_freq = env.shape[0]
    src = torch.arange(n_freq, dtype=torch.float32) / factor
    src = src.clamp(0, n_freq - 1)
    i0 = src.floor().long().clamp(max=n_freq - 2)
    a = (src - i0.float())[:, None]
    return env[i0] * (1 - a) + env[i0 + 1] * a


def speaker_warp(x: torch.Tensor, pitch: float, vtl: float) -> torch.Tensor:
    """New speaker: harmonics scaled by `pitch` (tempo kept), formants by `vtl`."""
    n = x.shape[-1]
    # 1. Resampling by 1/pitch scales pitch and formants by `pitch` and length by 1/pitch.
    y = resample(x, 1.0 / pitch)
    spec = _stft(y)
    # 2. Phase vocoder restores the original duration.
    spec = phase_vocoder(spec, rate=(y.shape[-1] / n))
    # 3. Formants are now scaled by `pitch`; re-impose them scaled by `vtl` instead.
    mag = spec.abs().clamp_min(1e-7)
    logmag = mag.log()
    env = _cepstral_envelope(logmag)
    target = _warp_freq(env, vtl / pitch)
    gain = (target - env).clamp(-4.0, 4.0).exp()
    out = _istft(spec * gain, length=n)
    return out


def random_eq(x: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Random spectral tilt (dB/octave) plus a few peaking bands, applied through the FFT."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, fast_len(n))
    f = torch.linspace(0, SR / 2, spec.shape[-1])
    octaves = torch.log2(f.clamp_min(100.0) / 1000.0)
    gain_db = rng.uniform(-3.0, 3.0) * octaves
    for _ in range(rng.randint(1, 4)):
        fc = math.exp(rng.uniform(math.log(150.0), math.log(6500.0)))
        bw = rng.uniform(0.3, 1.5)  # octaves
        g = rng.uniform(-10.0, 10.0)
        gain_db = gain_db + g * torch.exp(-0.5 * (torch.log2(f.clamp_min(1.0) / fc) / (bw / 2)) ** 2)
    return torch.fft.irfft(spec * 10 ** (gain_db / 20), fast_len(n))[:n]


def synthetic_rir(rng: random.Random, rt60: float) -> torch.Tensor:
    """Room impulse response: direct path, sparse early reflections, exponential-decay tail."""
    n = int(SR * min(1.2, rt60 * 1.2)) + 1
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    t = torch.arange(n, dtype=torch.float32) / SR
    decay = torch.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail = torch.randn(n, generator=g) * decay
    onset = int(SR * rng.uniform(0.002, 0.012))
    tail[:onset] = 0
    rir = tail * rng.uniform(0.1, 0.6)
    rir[0] = 1.0
    for _ in range(rng.randint(3, 10)):
        k = int(SR * rng.uniform(0.002, 0.05))
        if k < n:
            rir[k] += rng.uniform(-0.6, 0.6)
    return rir / rir.norm()


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1] + h.shape[-1] - 1
    nfft = fast_len(n)
    y = torch.fft.irfft(torch.fft.rfft(x, nfft) * torch.fft.rfft(h, nfft), nfft)
    return y[: x.shape[-1]]


def reverb(x: torch.Tensor, rng: random.Random, rt60: float) -> torch.Tensor:
    y = fft_convolve(x, synthetic_rir(rng, rt60))
    return y * (x.norm() / y.norm().clamp_min(1e-8))


def colored_noise(n: int, beta: float, g: torch.Generator) -> torch.Tensor:
    """Noise with power spectrum ~ 1/f^beta (0 white, 1 pink, 2 brown)."""
    nf = fast_len(n)
    spec = torch.fft.rfft(torch.randn(nf, generator=g))
    f = torch.arange(spec.shape[-1], dtype=torch.float32).clamp_min(1.0)
    return torch.fft.irfft(spec / f ** (beta / 2), nf)[:n]


def add_noise(x: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    ps = x.pow(2).mean().clamp_min(1e-10)
    pn = noise.pow(2).mean().clamp_min(1e-10)
    return x + noise * torch.sqrt(ps / (pn * 10 ** (snr_db / 10)))


def make_babble(babble: list, n: int, rng: random.Random) -> torch.Tensor | None:
    """Sum of 3..7 other utterances, each at a random offset, looped to length n."""
    if not babble:
        return None
    out = torch.zeros(n)
    for _ in range(rng.randint(3, 7)):
        b = babble[rng.randrange(len(babble))]
        if b.numel() < 160:
            continue
        reps = n // b.numel() + 2
        b = b.repeat(reps)
        off = rng.randrange(b.numel() - n)
        seg = b[off: off + n]
        out += seg / seg.pow(2).mean().clamp_min(1e-10).sqrt()
    return out if out.abs().sum() > 0 else None


def band_limit(x: torch.Tensor, lo_hz: float, hi_hz: float) -> torch.Tensor:
    """Soft (raised-cosine, 1/4 octave) band-pass through the FFT."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, fast_len(n))
    f = torch.linspace(0, SR / 2, spec.shape[-1]).clamp_min(1.0)
    lo = torch.clamp((torch.log2(f / lo_hz) / 0.25 + 0.5), 0, 1)
    hi = torch.clamp((torch.log2(hi_hz / f) / 0.25 + 0.5), 0, 1)
    mask = (0.5 - 0.5 * torch.cos(math.pi * lo)) * (0.5 - 0.5 * torch.cos(math.pi * hi))
    return torch.fft.irfft(spec * mask, fast_len(n))[:n]


def mu_law(x: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """8-bit mu-law encode + decode (quantization noise of a telephone channel)."""
    x = x.clamp(-1, 1)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    q = torch.round((y + 1) / 2 * mu)
    y = q / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


def telephone(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    y = band_limit(x, 300.0, 3400.0)
    y = resample(y, 0.5)
    peak = y.abs().max().clamp_min(1e-6)
    y = mu_law(y / peak * 0.9) * peak / 0.9
    y = resample(y, 2.0)
    return torch.nn.functional.pad(y, (0, max(0, n - y.shape[-1])))[:n]


# --------------------------------------------------------------------------- the pipeline
class Augmenter:
    """Callable: wave [T] (16 kHz float) -> augmented wave. Deterministic per (seed, call#)
    when built with a seed; give each DataLoader worker its own seed."""

    def __init__(self, config: AugmentConfig | None = None, seed: int | None = None):
        self.cfg = config or AugmentConfig()
        self.cfg.validate()
        self.rng = random.Random(seed)

    def __call__(self, x: torch.Tensor, babble: list | None = None) -> torch.Tensor:
        c, rng = self.cfg, self.rng
        x = x.detach().float().reshape(-1)
        if x.numel() < 1024:
            return x
        ref_peak = x.abs().max().clamp_min(1e-4)
        if rng.random() < c.p_speaker:
            x = speaker_warp(x, _log_uniform(rng, *c.pitch_range), _log_uniform(rng, *c.vtl_range))
        if rng.random() < c.p_eq:
            x = random_eq(x, rng)
        if rng.random() < c.p_speed:
            x = resample(x, 1.0 / rng.uniform(*c.speed_range))
        if rng.random() < c.p_reverb:
            x = reverb(x, rng, rng.uniform(*c.rt60_range))
        if rng.random() < c.p_noise:
            noise = None
            if babble and rng.random() < c.p_babble:
                noise = make_babble(babble, x.numel(), rng)
            if noise is None:
                g = torch.Generator().manual_seed(rng.randrange(2**31))
                noise = colored_noise(x.numel(), rng.choice([0.0, 0.5, 1.0, 1.5, 2.0]), g)
            x = add_noise(x, noise, rng.uniform(*c.snr_range))
        r = rng.random()
        if r < c.p_telephone:
            x = telephone(x)
        elif r < c.p_telephone + c.p_band:
            x = band_limit(x, rng.uniform(20.0, 300.0), rng.uniform(3000.0, 7800.0))
        # Back to the input's level, then a random gain.
        x = x * (ref_peak / x.abs().max().clamp_min(1e-6))
        if rng.random() < c.p_gain:
            x = x * 10 ** (rng.uniform(*c.gain_db_range) / 20)
        if rng.random() < c.p_clip:
            x = torch.tanh(x * rng.uniform(2.0, 6.0)) / rng.uniform(2.0, 3.0)
        return x.clamp(-1.0, 1.0)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _bench(seconds: float = 4.0, n: int = 20) -> None:
    """CPU cost per transform on synthetic speech-like audio (x real time per core)."""
    import time
    g = torch.Generator().manual_seed(0)
    xs = [colored_noise(int(SR * seconds), 1.0, g) * 0.1 for _ in range(n)]
    rng = random.Random(0)
    torch.set_num_threads(1)
    tests = [("speaker_warp", lambda x: speaker_warp(x, 1.2, 0.9)),
             ("random_eq", lambda x: random_eq(x, rng)),
             ("speed", lambda x: resample(x, 1 / 1.07)),
             ("reverb", lambda x: reverb(x, rng, 0.5)),
             ("telephone", telephone),
             ("band_limit", lambda x: band_limit(x, 100.0, 5000.0)),
             ("Augmenter (default config)", Augmenter(seed=0))]
    for name, fn in tests:
        t = time.process_time()
        for x in xs:
            fn(x)
        el = time.process_time() - t
        print(f"{name:28s} {n * seconds / max(el, 1e-9):8.1f}x real time per core")


if __name__ == "__main__":
    _bench()
