"""Batched log-mel fbank, numerically the same as torchaudio.compliance.kaldi.fbank with the
FORMAT.md options (povey window, 25/10 ms, preemphasis 0.97, DC removal, power, 512-point FFT,
snip_edges). Runs a whole padded batch on the GPU, so DataLoader workers only read audio.
tests/recipe/test_features.py holds it to kaldi.fbank.
"""
import torch

_CACHE = {}


def _mel_banks(device, dtype):
    key = (str(device), dtype)
    if key not in _CACHE:
        import torchaudio.compliance.kaldi as kaldi
        banks, _ = kaldi.get_mel_banks(80, 512, 16000.0, 20.0, 0.0, 100.0, -500.0, 1.0)
        banks = torch.nn.functional.pad(banks, (0, 1))  # [80, 257]
        window = torch.hann_window(400, periodic=False, dtype=torch.float64).pow(0.85)
        _CACHE[key] = (banks.to(device=device, dtype=dtype), window.to(device=device, dtype=dtype))
    return _CACHE[key]


def num_frames(num_samples: torch.Tensor) -> torch.Tensor:
    return torch.where(num_samples >= 400, torch.div(num_samples - 400, 160, rounding_mode="floor") + 1,
                       torch.zeros_like(num_samples))


def batch_fbank(wav: torch.Tensor, lens: torch.Tensor, dither: float = 0.0,
                scale: float = 32768.0):
    """wav [B, N] in [-1, 1] (padded), lens [B] samples -> (feats [B, T, 80], frames [B]).

    Frames past an utterance's end are garbage-free but meaningless; callers mask by length.
    """
    x = wav.float() * scale
    if x.shape[1] < 400:
        x = torch.nn.functional.pad(x, (0, 400 - x.shape[1]))
    frames = x.unfold(1, 400, 160)  # [B, T, 400]
    if dither != 0.0:
        frames = frames + torch.randn_like(frames) * dither
    frames = frames - frames.mean(dim=2, keepdim=True)
    prev = torch.cat([frames[:, :, :1], frames[:, :, :-1]], dim=2)
    frames = frames - 0.97 * prev
    banks, window = _mel_banks(x.device, torch.float32)
    frames = torch.nn.functional.pad(frames * window, (0, 112))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    mel = torch.matmul(power, banks.t())
    feats = torch.clamp(mel, min=torch.finfo(torch.float32).eps).log()
    return feats, num_frames(lens)
