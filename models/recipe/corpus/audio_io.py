"""Small audio I/O helpers with no dependency beyond numpy (the GPU box has no soundfile and
torchaudio 2.9+ dropped its own file reading): 16-bit PCM WAV read/write, band-limited FFT
resampling, and Ogg Opus reading through libopusfile (ctypes), from the system or from the
unpacked TTS root ($TTS_ROOT)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import wave

import numpy as np

SAMPLE_RATE = 16000


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Float32 mono samples in [-1, 1] and the sample rate. Handles 8/16/32-bit PCM and
    float WAV, and the data-size-unknown headers some engines write when piping."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            pcm = data[pos + 8:] if size in (0, 0xFFFFFFFF) or pos + 8 + size > len(data) else body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError(f"{path}: missing fmt or data chunk")
    tag, ch, sr, _, _, bits = fmt
    if tag == 3 and bits == 32:
        x = np.frombuffer(pcm[: len(pcm) // 4 * 4], dtype="<f4").astype(np.float32)
    elif bits == 16:
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 8:
        x = (np.frombuffer(pcm, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 32:
        x = np.frombuffer(pcm[: len(pcm) // 4 * 4], dtype="<i4").astype(np.float32) / 2**31
    else:
        raise ValueError(f"{path}: unsupported sample format {tag}/{bits}")
    if ch > 1:
        x = x[: len(x) // ch * ch].reshape(-1, ch).mean(axis=1)
    return x, sr


def write_wav(path: str, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """16-bit PCM mono WAV (clipped)."""
    pcm = np.clip(np.round(np.asarray(x, dtype=np.float32) * 32767.0), -32768, 32767).astype("<i2")
    tmp = path + ".part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling through the FFT (exact for the band both rates share)."""
    if sr_in == sr_out or len(x) == 0:
        return x.astype(np.float32)
    n_out = int(round(len(x) * sr_out / sr_in))
    # Pad to reduce the circular wrap-around of FFT resampling at the edges.
    pad = min(len(x), 1024)
    xp = np.concatenate([x, np.zeros(pad, dtype=x.dtype)])
    n_pad_out = int(round(len(xp) * sr_out / sr_in))
    spec = np.fft.rfft(xp)
    keep = n_pad_out // 2 + 1
    if keep <= len(spec):
        spec = spec[:keep]
    else:
        spec = np.concatenate([spec, np.zeros(keep - len(spec), dtype=spec.dtype)])
    y = np.fft.irfft(spec, n_pad_out) * (n_pad_out / len(xp))
    return y[:n_out].astype(np.float32)


_OPUS = None


def _opusfile():
    global _OPUS
    if _OPUS is not None:
        return _OPUS
    candidates = []
    root = os.environ.get("TTS_ROOT")
    if root:
        d = os.path.join(root, "usr/lib/x86_64-linux-gnu")
        for dep in ("libogg.so.0", "libopus.so.0"):
            p = os.path.join(d, dep)
            if os.path.exists(p):
                ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
        candidates.append(os.path.join(d, "libopusfile.so.0"))
    found = ctypes.util.find_library("opusfile")
    if found:
        candidates.append(found)
    candidates.append("libopusfile.so.0")
    for c in candidates:
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError:
            continue
    else:
        raise OSError("libopusfile not found (install libopusfile0 or set TTS_ROOT)")
    lib.op_open_file.restype = ctypes.c_void_p
    lib.op_open_file.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.op_read.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int,
                            ctypes.c_void_p]
    lib.op_channel_count.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.op_free.argtypes = [ctypes.c_void_p]
    _OPUS = lib
    return lib


def read_opus(path: str, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an Ogg Opus file to float32 mono at sr_out (Opus always decodes at 48 kHz)."""
    lib = _opusfile()
    err = ctypes.c_int(0)
    of = lib.op_open_file(path.encode(), ctypes.byref(err))
    if not of:
        raise ValueError(f"{path}: op_open_file error {err.value}")
    try:
        ch = lib.op_channel_count(of, -1)
        buf = (ctypes.c_int16 * (5760 * max(ch, 1)))()
        chunks = []
        while True:
            n = lib.op_read(of, buf, len(buf), None)
            if n < 0:
                raise ValueError(f"{path}: op_read error {n}")
            if n == 0:
                break
            a = np.frombuffer(buf, dtype=np.int16, count=n * ch).astype(np.float32) / 32768.0
            chunks.append(a.reshape(-1, ch).mean(axis=1) if ch > 1 else a.copy())
    finally:
        lib.op_free(of)
    x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return resample(x, 48000, sr_out)


def read_audio(path: str, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """WAV or Opus file -> float32 mono at sr_out."""
    if path.endswith(".opus") or path.endswith(".ogg"):
        return read_opus(path, sr_out)
    x, sr = read_wav(path)
    return resample(x, sr, sr_out)
