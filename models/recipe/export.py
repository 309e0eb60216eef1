#!/usr/bin/python3
"""Exports a trained checkpoint to an Ancat model folder (models/FORMAT.md), plus goldens.

  export.py --checkpoint CKPT --bpe bpe.model --out DIR [--dtype bf16|f32] [--lm lm.arpa]
            [--golden-audio FILE] [--onnx]

Goldens are computed from the dtype-ROUNDED weights, so the C++ runtime (which reads the same
rounded weights) can match them exactly up to float arithmetic.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
from typing import Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import (FRONTEND_OPTIONS, ModelConfig, Transducer, fbank, torch_load,  # noqa: E402
                   load_model_folder)
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

FORMAT_VERSION = 1


def load_audio(path: str, sample_rate: int = 16000) -> torch.Tensor:
    """Mono float waveform [N] in [-1, 1] at sample_rate (WAV via the wave module, else torchaudio)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from audio_io import load_audio as _load
    return _load(path, sample_rate)


def round_weights(model: Transducer, dtype: torch.dtype) -> None:
    """Rounds every exported tensor through dtype in place (goldens see what C++ sees)."""
    with torch.no_grad():
        sd = model.state_dict()
        for k, v in model.export_state_dict().items():
            if v.is_floating_point():
                sd[k].copy_(v.to(dtype).to(v.dtype))


def compute_golden(model: Transducer, waveform: torch.Tensor, sp=None, beta: float = 1.0) -> dict:
    """The golden tensors of FORMAT.md for one waveform, from the model as it is."""
    model = model.eval()
    feats = fbank(waveform)
    t = torch.tensor([feats.shape[0]])
    out = {"waveform": waveform.float().contiguous(), "features": feats.float().contiguous()}
    with torch.no_grad():
        e, lens, infos = model.encode(feats[None], t, mode="hard", beta=0.0)
        out["arbiter_choices"] = torch.stack([i["choices"][0] for i in infos]).to(torch.int32)
        out["encoder_out"] = e[0].float().contiguous()
        r = model.latency(infos, lens)[0]
        out["latency_frames"] = (r - torch.arange(r.numel())).to(torch.int32)
        tokens = model.greedy(e[0])
        out["greedy_tokens"] = torch.tensor(tokens, dtype=torch.int32)
        eb, _, infos_b = model.encode(feats[None], t, mode="hard", beta=beta)
        out["arbiter_choices_beta"] = torch.stack([i["choices"][0] for i in infos_b]).to(torch.int32)
        out["encoder_out_beta"] = eb[0].float().contiguous()
        rb = model.latency(infos_b, lens)[0]
        out["latency_frames_beta"] = (rb - torch.arange(rb.numel())).to(torch.int32)
    text = sp.decode(tokens) if sp is not None else ""
    return {"tensors": out, "metadata": {"text": text, "beta": repr(float(beta))}}


def model_json(cfg: ModelConfig, name: str, version: str, dtype: str, lm: Optional[dict],
               extra: Optional[dict] = None) -> dict:
    mj = {"format_version": FORMAT_VERSION, "name": name, "version": version,
          "architecture": "ancat-transducer", "frontend": dict(FRONTEND_OPTIONS)}
    mj.update(cfg.to_json_sections())
    mj["vocab"] = {"size": cfg.vocab_size, "blank_id": 0, "unk_id": 1, "tokenizer": "bpe.model"}
    mj["lm"] = lm
    mj["weights"] = {"file": "weights.safetensors", "dtype": dtype}
    # Keep FORMAT.md's key order for readability.
    order = ["format_version", "name", "version", "architecture", "frontend", "subsampling",
             "encoder", "predictor", "joiner", "vocab", "lm", "decoding", "weights", "frame_ms"]
    mj = {k: mj[k] for k in order}
    if extra:
        mj.update(extra)
    return mj


def export_folder(model: Transducer, out_dir: str, bpe_model: str, dtype: str = "bf16",
                  name: str = "ancat-en", version: Optional[str] = None,
                  golden_waveform: Optional[torch.Tensor] = None, golden_beta: float = 1.0,
                  lm_arpa: Optional[str] = None, lm_weight: float = 0.2, word_bonus: float = 0.5,
                  extra_json: Optional[dict] = None) -> dict:
    """Writes model.json, weights.safetensors, bpe.model, lm.arpa (optional), golden.safetensors."""
    import sentencepiece as spm
    assert dtype in ("bf16", "f32")
    tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    os.makedirs(out_dir, exist_ok=True)
    model = model.cpu().float().eval()
    round_weights(model, tdtype)
    sd = {k: (v.to(tdtype) if v.is_floating_point() else v).contiguous()
          for k, v in model.export_state_dict().items()}
    write_safetensors(os.path.join(out_dir, "weights.safetensors"), sd,
                      {"format": "pt", "ancat_format_version": str(FORMAT_VERSION)})
    shutil.copyfile(bpe_model, os.path.join(out_dir, "bpe.model"))
    sp = spm.SentencePieceProcessor(model_file=bpe_model)
    if sp.get_piece_size() != model.cfg.vocab_size:
        raise ValueError(f"bpe.model has {sp.get_piece_size()} pieces, model {model.cfg.vocab_size}")
    lm = None
    if lm_arpa:
        shutil.copyfile(lm_arpa, os.path.join(out_dir, "lm.arpa"))
        lm = {"file": "lm.arpa", "weight": lm_weight, "word_bonus": word_bonus}
    version = version or datetime.date.today().strftime("%Y.%m.%d")
    mj = model_json(model.cfg, name, version, dtype, lm, extra_json)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(mj, f, indent=2)
        f.write("\n")
    if golden_waveform is not None:
        g = compute_golden(model, golden_waveform, sp, golden_beta)
        write_safetensors(os.path.join(out_dir, "golden.safetensors"), g["tensors"], g["metadata"])
    return mj


def export_onnx(model: Transducer, path: str, num_frames: int = 400) -> None:
    """Full-utterance encoder + joiner pieces as ONNX (same weights), for the C++ benchmark.

    Graph inputs: features [1, T, 80] (raw fbank; CMVN inside), output encoder_out [1, T2, d].
    The arbiter runs at beta = 0 inside the graph (argmax), so the graph is the model's own
    adaptive attention. A second file PATH.joiner.onnx holds predictor+joiner for one step.
    """
    model = model.cpu().float().eval()

    class Enc(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, feats):
            lens = torch.full((feats.shape[0],), feats.shape[1], dtype=torch.long)
            e, _, _ = self.m.encode(feats, lens, mode="hard")
            return e

    class Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, enc_frame, context):
            p = self.m.predictor(context)
            return torch.log_softmax(
                self.m.joiner(self.m.joiner.enc(enc_frame), self.m.joiner.pred(p)), dim=-1)

    import inspect
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    feats = torch.randn(1, num_frames, model.cfg.num_mel_bins)
    torch.onnx.export(Enc(model), (feats,), path, **legacy, input_names=["features"],
                      output_names=["encoder_out"],
                      dynamic_axes={"features": {1: "T"}, "encoder_out": {1: "T2"}},
                      opset_version=17)
    enc_frame = torch.randn(1, model.cfg.d_model)
    ctx = torch.zeros(1, 2, dtype=torch.long)
    torch.onnx.export(Step(model), (enc_frame, ctx), path.replace(".onnx", "") + ".joiner.onnx", **legacy,
                      input_names=["encoder_frame", "context"], output_names=["log_probs"],
                      dynamic_axes={"encoder_frame": {0: "N"}, "context": {0: "N"},
                                    "log_probs": {0: "N"}}, opset_version=17)


def load_checkpoint(path: str) -> Transducer:
    ck = torch_load(path)
    cfg = ModelConfig(**ck["model_config"])
    model = Transducer(cfg)
    state = ck.get("ema_model") or ck["model"]
    model.load_state_dict(state)
    return model


def golden_waveform(path: str) -> torch.Tensor:
    """An audio file, or an existing golden.safetensors: its waveform, so that a re-exported
    folder (new weights, e.g. an average) pins the same utterance as the folder it came from."""
    if path.endswith(".safetensors"):
        tensors, _ = read_safetensors(path)
        if "waveform" not in tensors:
            raise SystemExit(f"--golden-audio {path}: no 'waveform' tensor in it")
        return tensors["waveform"].float()
    return load_audio(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", help="train.py checkpoint (.pt)")
    ap.add_argument("--model-dir", help="re-export an existing model folder (e.g. for --onnx)")
    ap.add_argument("--bpe", help="sentencepiece model")
    ap.add_argument("--out", required=True, help="output folder (or .onnx path with --onnx)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--name", default="ancat-en")
    ap.add_argument("--version", default=None)
    ap.add_argument("--lm", default=None, help="ARPA LM to copy as lm.arpa")
    ap.add_argument("--lm-weight", type=float, default=0.2)
    ap.add_argument("--word-bonus", type=float, default=0.5)
    ap.add_argument("--golden-audio", default=None,
                    help="audio file for golden.safetensors, or a golden.safetensors (its waveform)")
    ap.add_argument("--golden-seconds", type=float, default=0.0, help="crop golden audio (0: all)")
    ap.add_argument("--golden-beta", type=float, default=1.0)
    ap.add_argument("--onnx", action="store_true", help="write ONNX encoder/joiner instead")
    a = ap.parse_args(argv)

    if a.model_dir:
        model, _ = load_model_folder(a.model_dir)
    elif a.checkpoint:
        model = load_checkpoint(a.checkpoint)
    else:
        ap.error("need --checkpoint or --model-dir")
    if a.onnx:
        out = a.out if a.out.endswith(".onnx") else os.path.join(a.out, "encoder.onnx")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        export_onnx(model, out)
        print(f"wrote {out}")
        return
    if not a.bpe:
        ap.error("--bpe is required for a model folder")
    wav = None
    if a.golden_audio:
        wav = golden_waveform(a.golden_audio)
        if a.golden_seconds > 0:
            wav = wav[: int(a.golden_seconds * 16000)]
    mj = export_folder(model, a.out, a.bpe, a.dtype, a.name, a.version, wav, a.golden_beta,
                       a.lm, a.lm_weight, a.word_bonus)
    print(json.dumps(mj["encoder"]), f"-> {a.out}")


if __name__ == "__main__":
    main()
