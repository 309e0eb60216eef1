#!/usr/bin/env python3
"""Environment check and training-step throughput on synthetic batches (sizes batches for a GPU).

  step_bench.py [--variant ancat] [--max-frames 60000] [--seconds 8] [--steps 10]

Prints which torch/torchaudio APIs the recipe relies on exist, then time per step, peak memory
and audio seconds per second of training for the full-size model.
"""
import argparse
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def check_env():
    import torchaudio
    print(f"torch {torch.__version__} torchaudio {torchaudio.__version__} "
          f"cuda {torch.cuda.is_available()}")
    import torchaudio.functional as AF
    for name in ("rnnt_loss", "resample"):
        print(f"  torchaudio.functional.{name}: {hasattr(AF, name)}")
    try:
        import torchaudio.compliance.kaldi as k
        print(f"  torchaudio.compliance.kaldi.fbank: {hasattr(k, 'fbank')}")
    except Exception as ex:
        print(f"  torchaudio.compliance.kaldi: MISSING ({ex})")
    try:
        torchaudio.load  # noqa: B018
        print(f"  torchaudio.load: present")
    except Exception as ex:
        print(f"  torchaudio.load: missing ({ex})")
    for tool in ("sox", "ffmpeg"):
        print(f"  {tool}: {shutil.which(tool)}")
    try:
        import sentencepiece
        print(f"  sentencepiece {sentencepiece.__version__}")
    except Exception as ex:
        print(f"  sentencepiece missing: {ex}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="ancat")
    ap.add_argument("--max-frames", type=int, default=60000)
    ap.add_argument("--seconds", type=float, default=8.0, help="utterance length")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tokens-per-second", type=float, default=4.0)
    a = ap.parse_args()
    check_env()
    import train as T
    from model import ModelConfig, Transducer, count_parameters
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    w = {"ancat": [0, 1, 2, 4], "causal": [0], "fixed": [4]}[a.variant]
    m = Transducer(ModelConfig(lookahead_frames=w)).to(dev).train()
    print(f"params {count_parameters(m) / 1e6:.2f}M variant {a.variant}")
    t = int(a.seconds * 100)
    b = max(1, a.max_frames // t)
    u = int(a.seconds * a.tokens_per_second)
    batch = {"feats": torch.randn(b, t, 80, device=dev), "feat_lens": torch.full((b,), t, device=dev),
             "tokens": torch.randint(1, 500, (b, u), device=dev),
             "token_lens": torch.full((b,), u, device=dev)}
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    times = []
    for i in range(a.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.time()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out = T.compute_losses(m, batch, 1.0, 0.3, 0.01)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.time() - t0)
    st = sorted(times[2:]) or times
    med = st[len(st) // 2]
    mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else 0
    print(f"batch {b}x{a.seconds}s U={u}: {med * 1000:.0f} ms/step, peak {mem:.1f} GiB, "
          f"{b * a.seconds / med:.0f} audio-s/s, loss {float(out['loss'].detach()):.2f}")


if __name__ == "__main__":
    main()
