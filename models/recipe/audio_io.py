"""Audio reading for the recipe: mono float32 [N] in [-1, 1] at 16 kHz.

WAV is read with the standard library (works everywhere, fast in DataLoader workers).
Other formats go through torchaudio.load where its backend works (torch 1.13 here); newer
torchaudio (2.9+) dropped its own I/O, so we fall back to the sox or ffmpeg command line.
"""
import shutil
import subprocess
import wave

import numpy as np
import torch


def _read_wav(path: str):
    with wave.open(path, "rb") as w:
        ch, width, sr, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    x = x.reshape(-1, ch).mean(axis=1)
    return torch.from_numpy(np.ascontiguousarray(x)), sr


def _read_cmdline(path: str, sample_rate: int):
    if shutil.which("sox"):
        cmd = ["sox", path, "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
               "-r", str(sample_rate), "-"]
    elif shutil.which("ffmpeg"):
        cmd = ["ffmpeg", "-loglevel", "error", "-i", path, "-f", "f32le", "-ac", "1",
               "-ar", str(sample_rate), "-"]
    else:
        raise RuntimeError(f"{path}: no audio reader (torchaudio backend, sox or ffmpeg)")
    raw = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy()), sample_rate


def resample(x: torch.Tensor, sr: int, sample_rate: int) -> torch.Tensor:
    if sr == sample_rate:
        return x
    import torchaudio.functional as AF
    return AF.resample(x, sr, sample_rate)


def load_audio(path: str, sample_rate: int = 16000) -> torch.Tensor:
    if path.lower().endswith(".wav"):
        try:
            x, sr = _read_wav(path)
            return resample(x, sr, sample_rate)
        except wave.Error:
            pass  # e.g. float WAV: let the general readers handle it
    try:
        import torchaudio
        x, sr = torchaudio.load(path)
        return resample(x.mean(0), sr, sample_rate)
    except Exception:  # torchaudio without an I/O backend (2.9+)
        pass
    try:  # the corpus module reads Ogg Opus through libopusfile
        from corpus.audio_io import read_audio
        return torch.from_numpy(np.ascontiguousarray(read_audio(path, sample_rate), dtype=np.float32))
    except Exception:
        x, sr = _read_cmdline(path, sample_rate)
        return x
