#!/usr/bin/python3
"""Exports the recipe model as the ONNX pieces of a streaming encoder, for ort_bench.js.

A full-utterance graph (export.py --onnx) cannot stream: ANCAT's frames become ready at
different times per layer (node (l, t) waits for layer l-1 up to t + W[a_l(t)]). So, as the
torch peer does with model.py's modules, the streaming onnxruntime peer runs the same
dependency-driven loop in the driver (ort_bench.js) and calls onnxruntime for every piece of
model math, each node once, over K/V caches:

  conv1.onnx         fbank rows [r, 80] (raw; CMVN inside) -> relu(conv1) rows [n, C, F1]
  conv2.onnx         conv1 rows [r, C, F1] -> relu(conv2) -> subsample.out: frames [n, d]
  layer{l}_in.onnx   input frames [n, d], positions [n] -> arbiter lookahead W[a] [n] (beta 0),
                     RoPE'd q, k and v [n, H, dh]
  layer{l}_out.onnx  q [m, H, dh], k/v window [w, H, dh], mask [m, w], x [m, d] -> layer output
  final_norm.onnx    [n, d] -> encoder output

The driver pads conv inputs the way the model does (two zero rows on the left of time): for
conv1 it passes rows equal to cmvn_mean (zero after CMVN), for conv2 zero rows.
Same weights as the model folder (F32). Writes manifest.json beside the graphs.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "models", "recipe"))

import model as recipe  # noqa: E402


class Conv1(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.frontend, self.conv = m.frontend, m.subsample.conv1

    def forward(self, rows):  # [r, 80] -> [n, C, F1]
        x = self.frontend(rows).unsqueeze(0).unsqueeze(0)
        return F.relu(self.conv(x))[0].permute(1, 0, 2)


class Conv2(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.conv, self.out = m.subsample.conv2, m.subsample.out

    def forward(self, rows):  # [r, C, F1] -> [n, d]
        y = F.relu(self.conv(rows.permute(1, 0, 2).unsqueeze(0)))[0]  # [C, n, F2]
        c, n, f = y.shape
        return self.out(y.permute(1, 0, 2).reshape(n, c * f))


class LayerIn(nn.Module):
    def __init__(self, layer, cfg, max_positions):
        super().__init__()
        self.layer = layer
        self.h, self.dh = cfg.num_heads, cfg.d_model // cfg.num_heads
        half = self.dh // 2
        # model.rope(): angles in float64, cast to float32.
        inv = cfg.rope_base ** (-2.0 * torch.arange(half, dtype=torch.float64) / self.dh)
        ang = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos().float())
        self.register_buffer("sin", ang.sin().float())
        self.register_buffer("w", torch.tensor(cfg.lookahead_frames, dtype=torch.long))

    def rope(self, x, pos):  # x [n, H, dh]
        half = self.dh // 2
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def forward(self, x, pos):  # x [n, d], pos [n] int64
        h = self.layer.norm1(x)
        la = self.w[self.layer.arbiter(h).argmax(-1)]  # beta = 0, no cap: the trained choice
        n = x.shape[0]
        qkv = self.layer.attn.qkv(h).view(n, 3, self.h, self.dh)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        return la, self.rope(q, pos), self.rope(k, pos), v


class LayerOut(nn.Module):
    def __init__(self, layer, cfg):
        super().__init__()
        self.layer = layer
        self.scale = 1.0 / math.sqrt(cfg.d_model // cfg.num_heads)

    def forward(self, q, k, v, mask, x):
        qh, kh, vh = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [H, *, dh]
        scores = torch.matmul(qh, kh.transpose(-1, -2)) * self.scale
        p = torch.softmax(scores.masked_fill(~mask.unsqueeze(0), float("-inf")), dim=-1)
        o = torch.matmul(p, vh).transpose(0, 1).reshape(x.shape[0], x.shape[1])
        x = x + self.layer.attn.out(o)
        return x + self.layer.ffn(self.layer.norm2(x))


def export(module, args, path, names_in, names_out, dynamic):
    torch.onnx.export(module, args, path, input_names=names_in, output_names=names_out,
                      dynamic_axes=dynamic, opset_version=17)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model folder")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--max_positions", type=int, default=16384,
                    help="RoPE table size: longest stream in encoder frames (16384 = 11 min)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    m, mj = recipe.load_model_folder(a.model)
    cfg = m.cfg
    if cfg.online_mean_frames:
        # Conv1 normalizes each step's rows alone; a running mean over the stream would need
        # its sum carried between the graphs, which this peer does not do.
        raise SystemExit(f"{a.model}: subsampling.online_mean_frames = {cfg.online_mean_frames}: "
                         "the onnxruntime streaming peer does not implement the online mean")
    f1 = (cfg.num_mel_bins - 3) // 2 + 1
    hd = cfg.d_model // cfg.num_heads
    with torch.no_grad():
        export(Conv1(m), (torch.randn(9, cfg.num_mel_bins),), os.path.join(a.out, "conv1.onnx"),
               ["rows"], ["out"], {"rows": {0: "r"}, "out": {0: "n"}})
        export(Conv2(m), (torch.randn(5, cfg.channels, f1),), os.path.join(a.out, "conv2.onnx"),
               ["rows"], ["out"], {"rows": {0: "r"}, "out": {0: "n"}})
        for l, layer in enumerate(m.encoder.layers):
            export(LayerIn(layer, cfg, a.max_positions),
                   (torch.randn(3, cfg.d_model), torch.arange(3)),
                   os.path.join(a.out, f"layer{l}_in.onnx"), ["x", "pos"],
                   ["lookahead", "q", "k", "v"],
                   {"x": {0: "n"}, "pos": {0: "n"}, "lookahead": {0: "n"}, "q": {0: "n"},
                    "k": {0: "n"}, "v": {0: "n"}})
            export(LayerOut(layer, cfg),
                   (torch.randn(2, cfg.num_heads, hd), torch.randn(5, cfg.num_heads, hd),
                    torch.randn(5, cfg.num_heads, hd), torch.ones(2, 5, dtype=torch.bool),
                    torch.randn(2, cfg.d_model)),
                   os.path.join(a.out, f"layer{l}_out.onnx"), ["q", "k", "v", "mask", "x"], ["y"],
                   {"q": {0: "m"}, "k": {0: "w"}, "v": {0: "w"}, "mask": {0: "m", 1: "w"},
                    "x": {0: "m"}, "y": {0: "m"}})
        export(m.encoder.final_norm, (torch.randn(3, cfg.d_model),),
               os.path.join(a.out, "final_norm.onnx"), ["x"], ["y"], {"x": {0: "n"}, "y": {0: "n"}})
    manifest = {
        "model": os.path.abspath(a.model), "num_layers": cfg.num_layers, "d_model": cfg.d_model,
        "num_heads": cfg.num_heads, "head_dim": hd, "channels": cfg.channels, "freq1": f1,
        "num_mel_bins": cfg.num_mel_bins, "left_context": cfg.left_context,
        "lookahead_frames": list(cfg.lookahead_frames), "max_positions": a.max_positions,
        "cmvn_mean": m.frontend.cmvn_mean.tolist()}
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    print(json.dumps({"out": a.out, "graphs": 2 * cfg.num_layers + 3}))


if __name__ == "__main__":
    main()
