#!/usr/bin/python3
"""Writes reference fbank features for the C++ frontend tests (tests/frontend/fbank_test.cc).

Run with Debian's python (it has torch/torchaudio):
    /usr/bin/python3 tests/frontend/make_golden.py            # rewrite tests/data/frontend/
    /usr/bin/python3 tests/frontend/make_golden.py --check    # compare with what is committed

Features come from torchaudio.compliance.kaldi.fbank, the definition in models/FORMAT.md,
run on float64 input (so torchaudio computes in float64; its mel banks stay float32 either
way). Why: bins with little energy are dominated by float32 FFT rounding, where torchaudio in
float32 differs from itself in float64 by ~2.5e-3 in log on this audio (printed below);
the C++ frontend computes in double and is held to the float64 result.
Audio is read with the standard `wave` module (16-bit PCM / 32768, as libsndfile does), so the
reference does not share any code with the C++ side.
Output: goldens.json (one entry per case: audio, frontend options in model.json spelling,
frame count, dim, feature file) and <case>.f32 (float32 little-endian, row-major [T, dim]).
"""
import argparse
import json
import os
import sys
import wave

import numpy as np
import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(DATA, "frontend")

# The frontend block of models/FORMAT.md (the model's options).
MODEL_FRONTEND = {
    "sample_rate": 16000, "num_mel_bins": 80, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
    "dither": 0.0, "preemphasis_coefficient": 0.97, "remove_dc_offset": True,
    "window_type": "povey", "round_to_power_of_two": True, "snip_edges": True,
    "low_freq": 20.0, "high_freq": 0.0, "use_energy": False, "use_log_fbank": True,
    "use_power": True, "waveform_scale": 32768.0,
}

# Other options, so that every branch of the C++ code is held to torchaudio too.
VARIANT_A = dict(MODEL_FRONTEND, num_mel_bins=40, window_type="hamming",
                 round_to_power_of_two=False, use_power=False, low_freq=64.0,
                 high_freq=-400.0, use_energy=True)
VARIANT_B = dict(MODEL_FRONTEND, window_type="blackman", preemphasis_coefficient=0.0,
                 remove_dc_offset=False, frame_length_ms=20.0, frame_shift_ms=12.5,
                 use_log_fbank=True, use_energy=True, raw_energy=False, num_mel_bins=23)
VARIANT_C = dict(MODEL_FRONTEND, window_type="hanning", use_log_fbank=False, num_mel_bins=30)

CASES = [
    ("speech_16k_model", "audio/speech_16k.wav", MODEL_FRONTEND),
    ("speech2_16k_model", "audio/speech2_16k.wav", MODEL_FRONTEND),
    ("speech2_16k_variant_a", "audio/speech2_16k.wav", VARIANT_A),
    ("speech2_16k_variant_b", "audio/speech2_16k.wav", VARIANT_B),
    ("speech2_16k_variant_c", "audio/speech2_16k.wav", VARIANT_C),
]


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def fbank(samples, opts, dtype=torch.float64):
    wav = torch.from_numpy(samples).to(dtype).unsqueeze(0) * opts["waveform_scale"]
    return torchaudio.compliance.kaldi.fbank(
        wav,
        sample_frequency=float(opts["sample_rate"]),
        num_mel_bins=opts["num_mel_bins"],
        frame_length=opts["frame_length_ms"],
        frame_shift=opts["frame_shift_ms"],
        dither=opts["dither"],
        preemphasis_coefficient=opts["preemphasis_coefficient"],
        remove_dc_offset=opts["remove_dc_offset"],
        window_type=opts["window_type"],
        round_to_power_of_two=opts["round_to_power_of_two"],
        snip_edges=opts["snip_edges"],
        low_freq=opts["low_freq"],
        high_freq=opts["high_freq"],
        use_energy=opts["use_energy"],
        raw_energy=opts.get("raw_energy", True),
        use_log_fbank=opts["use_log_fbank"],
        use_power=opts["use_power"],
    ).numpy()


def max_err(a, b, opts):
    """Max |a - b| for log-mel; relative where |b| > 1 for plain energies (many decades)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = 1.0 if opts["use_log_fbank"] else np.maximum(1.0, np.abs(b))
    return float((np.abs(a - b) / scale).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed goldens instead of writing them")
    args = parser.parse_args()
    entries = []
    worst = 0.0
    for name, audio, opts in CASES:
        samples, rate = read_wav(os.path.join(DATA, audio))
        assert rate == opts["sample_rate"], (audio, rate)
        feats64 = fbank(samples, opts)
        feats = feats64.astype("<f4")
        f32_err = max_err(fbank(samples, opts, torch.float32), feats64, opts)
        entries.append({"name": name, "audio": audio, "frontend": opts,
                        "num_frames": int(feats.shape[0]), "dim": int(feats.shape[1]),
                        "features": name + ".f32"})
        path = os.path.join(OUT, name + ".f32")
        if args.check:
            old = np.fromfile(path, dtype="<f4").reshape(feats.shape)
            diff = max_err(old, feats, opts)
            worst = max(worst, diff)
            print(f"{name}: {feats.shape[0]} frames x {feats.shape[1]}, max |diff| {diff:.3g} "
                  f"(torchaudio float32 vs float64: {f32_err:.3g})")
        else:
            os.makedirs(OUT, exist_ok=True)
            feats.tofile(path)
            print(f"{name}: {feats.shape[0]} frames x {feats.shape[1]} -> {path} "
                  f"(torchaudio float32 vs float64: {f32_err:.3g})")
    manifest = {"generator": "tests/frontend/make_golden.py",
                "torch": torch.__version__, "torchaudio": torchaudio.__version__,
                "cases": entries}
    manifest_path = os.path.join(OUT, "goldens.json")
    if args.check:
        with open(manifest_path) as f:
            old = json.load(f)
        if old["cases"] != entries:
            print("goldens.json differs from what the script makes", file=sys.stderr)
            return 1
        # Same torchaudio build: bit-identical; another build may differ in the last bits.
        if worst > 1e-4:
            print(f"features differ by {worst:.3g} > 1e-4", file=sys.stderr)
            return 1
        print("goldens reproduced")
        return 0
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
