#!/usr/bin/python3
"""PyTorch peer for ancat-bench: the recipe's own model (models/recipe/model.py) on CPU.

Two measurements on the same model folder and audio as ancat-bench:

  offline    Transducer.encode() on the whole utterance's fbank (the recipe's inference path:
             subsampling + L layers with hard arbiter choices + final norm). This is the
             full-utterance graph, the same work the ONNX export does under onnxruntime.
  streaming  the same weights stepped 4 fbank frames (one 40 ms encoder frame) at a time, with
             per-layer K/V caches and the dependency rule of FORMAT.md (frame t of layer l runs
             once layer l-1 has frames up to t + W[a_l(t)]). Every node is computed once, as in
             the C++ executor; the script checks that its output equals the offline one.

Both time the encoder only: features are computed up front (torchaudio kaldi fbank), the
transducer search is not run. Prints one JSON object on the last line of stdout.
Run with Debian's /usr/bin/python3 (it has torch).
"""
import argparse
import copy
import json
import math
import os
import statistics
import sys
import time

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "models", "recipe"))

import model as recipe  # noqa: E402  (models/recipe/model.py)


def read_audio(path: str) -> torch.Tensor:
    """Mono 16 kHz float waveform in [-1, 1]."""
    import torchaudio
    wav, sr = torchaudio.load(path)
    wav = wav.mean(dim=0)
    if sr != 16000:
        wav = torchaudio.functional.resample(wav, sr, 16000)
    return wav


def loaded_blas() -> str:
    """The BLAS library torch's libblas.so.3 resolved to (reference netlib or OpenBLAS)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return ", ".join(sorted(os.path.realpath(p) for p in libs))


def time_runs(fn, min_seconds: float, min_runs: int):
    """Runs fn once to warm up, then until both limits are met.

    Returns (wall seconds, process CPU seconds) per run. On a shared machine the CPU time is
    the steadier figure: it leaves out the time the process waited for the core.
    """
    fn()
    walls, cpus = [], []
    start = time.perf_counter()
    while len(walls) < min_runs or time.perf_counter() - start < min_seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def timing(walls, cpus) -> dict:
    return {"runs": len(walls), "median_s": statistics.median(walls), "min_s": min(walls),
            "median_cpu_s": statistics.median(cpus)}


def rope_at(x: torch.Tensor, pos: torch.Tensor, base: float) -> torch.Tensor:
    """model.rope() at explicit absolute positions: x [H, n, dh], pos [n]."""
    dh = x.shape[-1]
    half = dh // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / dh)
    ang = pos.to(torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class StreamingEncoder:
    """Dependency-driven streaming execution of Transducer's encoder with K/V caches.

    Frames of a layer are released as a finished prefix (what FORMAT.md's prefix maximum P_l
    describes), so the latency equals the C++ executor's. Buffers are allocated once per run
    (capacity = the utterance's frame count), so no step copies a growing cache.
    """

    def __init__(self, model: "recipe.Transducer"):
        self.m = model
        self.cfg = model.cfg
        self.w = torch.tensor(self.cfg.lookahead_frames, dtype=torch.long)
        self.lc = self.cfg.left_context
        self.h = self.cfg.num_heads
        self.dh = self.cfg.d_model // self.cfg.num_heads
        self.dtype = next(model.parameters()).dtype  # f32, or bf16 for the bf16 runs

    def _reset(self, n_feats: int):
        cfg = self.cfg
        t1 = (n_feats - 1) // 2 + 1
        t2 = (t1 - 1) // 2 + 1
        f1 = (cfg.num_mel_bins - 3) // 2 + 1
        nl = cfg.num_layers
        self.nf = 0                                   # fbank frames received
        z = dict(dtype=self.dtype)
        self.c1 = torch.zeros(cfg.channels, t1, f1, **z)  # conv1 outputs
        self.n1 = 0
        # x[l]: input frames of layer l (x[L] = encoder output before final_norm);
        # n[l]: how many exist. q/k/v [H, T2, dh] with RoPE, la: W[a_l(t)].
        self.x = [torch.zeros(t2, cfg.d_model, **z) for _ in range(nl + 1)]
        self.n = [0] * (nl + 1)
        self.q = [torch.zeros(self.h, t2, self.dh, **z) for _ in range(nl)]
        self.k = [torch.zeros(self.h, t2, self.dh, **z) for _ in range(nl)]
        self.v = [torch.zeros(self.h, t2, self.dh, **z) for _ in range(nl)]
        self.la = [torch.zeros(t2, dtype=torch.long) for _ in range(nl)]

    def _subsample(self, feats: torch.Tensor):
        """Runs the causal convs on the frames whose inputs now exist; feeds layer 0."""
        s = self.m.subsample
        n1 = 0 if self.nf == 0 else (self.nf - 1) // 2 + 1
        if n1 > self.n1:
            lo = 2 * self.n1 - 2
            win = feats[max(lo, 0):2 * (n1 - 1) + 1]
            if lo < 0:
                win = torch.cat([win.new_zeros(-lo, win.shape[1]), win])
            self.c1[:, self.n1:n1] = torch.relu(s.conv1(win.view(1, 1, *win.shape)))[0]
            self.n1 = n1
        n2 = 0 if self.n1 == 0 else (self.n1 - 1) // 2 + 1
        j0 = self.n[0]
        if n2 > j0:
            lo = 2 * j0 - 2
            win = self.c1[:, max(lo, 0):2 * (n2 - 1) + 1]
            if lo < 0:
                win = torch.cat([win.new_zeros(win.shape[0], -lo, win.shape[2]), win], dim=1)
            y = torch.relu(s.conv2(win.unsqueeze(0)))[0]  # [C, n, F2]
            c, n, f = y.shape
            self._append(0, s.out(y.permute(1, 0, 2).reshape(n, c * f)))

    def _append(self, l: int, x: torch.Tensor):
        """New input frames of layer l: their arbiter choice, Q, K and V, computed once."""
        a, b = self.n[l], self.n[l] + x.shape[0]
        self.x[l][a:b] = x
        self.n[l] = b
        if l == self.cfg.num_layers:
            return
        layer = self.m.encoder.layers[l]
        h = layer.norm1(x)
        choice = recipe.inference_choices(layer.arbiter(h), self.w, self.beta, self.max_lookahead)
        self.la[l][a:b] = self.w[choice]
        q, k, v = layer.attn.qkv(h).view(b - a, 3, self.h, self.dh).permute(1, 2, 0, 3)
        pos = torch.arange(a, b)
        self.q[l][:, a:b] = rope_at(q, pos, self.cfg.rope_base)
        self.k[l][:, a:b] = rope_at(k, pos, self.cfg.rope_base)
        self.v[l][:, a:b] = v

    def _advance_layer(self, l: int, final: bool):
        done, n_in = self.n[l + 1], self.n[l]
        if done >= n_in:
            return
        # Largest finished prefix: frame t needs inputs up to t + W[a(t)], clamped at the end.
        need = torch.arange(done, n_in) + self.la[l][done:n_in]
        if final:
            need = need.clamp(max=n_in - 1)
        ready = (need <= n_in - 1).tolist()
        r = done
        while r < n_in and ready[r - done]:
            r += 1
        if r == done:
            return
        need = need[:r - done]
        lo, hi = max(0, done - self.lc), int(need.max()) + 1
        t = torch.arange(done, r).view(-1, 1)
        s = torch.arange(lo, hi).view(1, -1)
        mask = (s >= t - self.lc) & (s <= need.view(-1, 1))
        scores = torch.matmul(self.q[l][:, done:r], self.k[l][:, lo:hi].transpose(-1, -2))
        p = torch.softmax((scores * (1.0 / math.sqrt(self.dh))).masked_fill(~mask, float("-inf")),
                          dim=-1)
        o = torch.matmul(p, self.v[l][:, lo:hi]).transpose(0, 1).reshape(r - done, -1)
        layer = self.m.encoder.layers[l]
        x = self.x[l][done:r] + layer.attn.out(o)
        self._append(l + 1, x + layer.ffn(layer.norm2(x)))

    def run(self, feats: torch.Tensor, chunk: int, beta: float = 0.0, max_lookahead=None):
        """Encoder output [T2, d] of raw fbank [T, 80], fed chunk frames per step."""
        self.beta, self.max_lookahead = beta, max_lookahead
        self._reset(feats.shape[0])
        x = self.m.frontend(feats.to(self.dtype))
        total = x.shape[0]
        out = []
        emitted = 0
        for i in range(0, total, chunk):
            self.nf = min(i + chunk, total)
            final = self.nf == total
            self._subsample(x)
            for l in range(self.cfg.num_layers):
                self._advance_layer(l, final)
            top = self.n[self.cfg.num_layers]
            if top > emitted:  # the decoder would consume these now
                out.append(self.m.encoder.final_norm(self.x[-1][emitted:top]))
                emitted = top
        return torch.cat(out) if out else torch.zeros(0, self.cfg.d_model, dtype=self.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model folder (model.json, weights)")
    ap.add_argument("--audio", required=True, help="audio file")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--min_seconds", type=float, default=3.0, help="time each mode at least")
    ap.add_argument("--min_runs", type=int, default=3)
    ap.add_argument("--chunk_frames", type=int, default=4, help="fbank frames per streaming step")
    ap.add_argument("--modes", default="offline,streaming")
    ap.add_argument("--dtypes", default="f32,bf16", help="f32 and/or bf16 (whole model in bf16)")
    ap.add_argument("--dump_features", default="", help="write raw fbank [T,80] float32 here")
    ap.add_argument("--dump_encoder_out", default="", help="write offline output [T2,d] here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, mj = recipe.load_model_folder(args.model)
    wav = read_audio(args.audio)
    feats = recipe.fbank(wav, mj.get("frontend"))
    if args.dump_features:
        feats.contiguous().numpy().astype("float32").tofile(args.dump_features)
    t = feats.shape[0]
    t2 = int(recipe.subsampled_length(torch.tensor(t)))
    audio_s = wav.numel() / 16000.0
    result = {"peer": "pytorch", "version": torch.__version__, "threads": args.threads,
              "blas": loaded_blas(),
              "audio_s": audio_s, "fbank_frames": t, "encoder_frames": t2}

    with torch.inference_mode():
        for dtype in args.dtypes.split(","):
            # bf16: the whole model in bfloat16 (torch 1.13's CPU autocast fails on this
            # model's LayerNorm); oneDNN bf16 kernels do the matmuls.
            m = model if dtype == "f32" else copy.deepcopy(model).to(torch.bfloat16)
            result.update(measure(m, feats, dtype, args))
    print(json.dumps(result))


def measure(model, feats, dtype: str, args) -> dict:
    """Offline and streaming timings of one model copy; keys get a _bf16 suffix for bf16."""
    suffix = "" if dtype == "f32" else "_" + dtype
    out = {}
    t = feats.shape[0]
    x = feats.unsqueeze(0).to(next(model.parameters()).dtype)
    lens = torch.tensor([t])
    ref = None
    if "offline" in args.modes:
        ref = model.encode(x, lens)[0][0]
        if args.dump_encoder_out and dtype == "f32":
            ref.contiguous().numpy().astype("float32").tofile(args.dump_encoder_out)
        times = time_runs(lambda: model.encode(x, lens), args.min_seconds, args.min_runs)
        out["offline" + suffix] = {
            "what": f"Transducer.encode() in {dtype} on the whole utterance (full T2xT2 masked attention)",
            **timing(*times)}
    if "streaming" in args.modes:
        se = StreamingEncoder(model)
        enc = se.run(feats, args.chunk_frames)
        stream = {
            "what": f"encoder in {dtype} stepped {args.chunk_frames} fbank frames at a time with "
                    "K/V caches, dependency-driven (each node once)",
            "chunk_frames": args.chunk_frames}
        if ref is not None:
            diff = ((enc.float() - ref.float()).abs().max().item()
                    if enc.shape == ref.shape else float("inf"))
            stream["max_abs_diff_vs_offline"] = diff
        times = time_runs(lambda: se.run(feats, args.chunk_frames), args.min_seconds,
                          args.min_runs)
        stream.update({**timing(*times), "steps": math.ceil(t / args.chunk_frames)})
        out["streaming" + suffix] = stream
    return out



if __name__ == "__main__":
    main()
