"""Export round trip: safetensors writer/reader, model folder, goldens."""
import json
import os

import torch

from export import compute_golden, export_folder, round_weights
from model import ModelConfig, Transducer, load_model_folder
from safetensors_io import read_safetensors, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "tiny-model")


def test_safetensors_round_trip(tmp_path):
    t = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16),
         "c": torch.arange(6, dtype=torch.int32).reshape(2, 3), "d": torch.zeros(0)}
    p = str(tmp_path / "x.safetensors")
    write_safetensors(p, t, {"text": "hi", "beta": "1.0"})
    back, meta = read_safetensors(p)
    assert meta == {"text": "hi", "beta": "1.0"}
    assert set(back) == set(t)
    for k in t:
        assert back[k].dtype == t[k].dtype and torch.equal(back[k], t[k])
    raw = open(p, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["b"]["dtype"] == "BF16" and header["c"]["dtype"] == "I32"
    ends = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert ends[0][0] == 0 and ends[-1][1] == len(raw) - 8 - n
    for (b0, e0), (b1, e1) in zip(ends, ends[1:]):
        assert e0 == b1


def test_export_bf16_round_trip_and_golden(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(channels=4, d_model=32, num_layers=2, num_heads=2, ffn_dim=64,
                      left_context=6, vocab_size=64, embed_dim=16, pred_dim=24, joiner_dim=24)
    m = Transducer(cfg)
    ref = Transducer(cfg)
    ref.load_state_dict(m.state_dict())
    wav = torch.randn(16000) * 0.1
    out = str(tmp_path / "m")
    export_folder(m, out, os.path.join(TINY, "bpe.model"), "bf16", golden_waveform=wav,
                  golden_beta=0.5)
    mj = json.load(open(os.path.join(out, "model.json")))
    assert mj["weights"]["dtype"] == "bf16" and mj["encoder"]["num_layers"] == 2
    w, _ = read_safetensors(os.path.join(out, "weights.safetensors"))
    assert not any(k.startswith("ctc_head") for k in w)
    round_weights(ref, torch.bfloat16)
    sd = ref.export_state_dict()
    assert set(w) == set(sd)
    for k, v in w.items():
        assert v.dtype == torch.bfloat16 and torch.equal(v.float(), sd[k].float()), k
    # goldens are reproducible from the folder alone (loaded weights are the rounded ones)
    loaded, _ = load_model_folder(out)
    g, meta = read_safetensors(os.path.join(out, "golden.safetensors"))
    again = compute_golden(loaded, g["waveform"], None, float(meta["beta"]))["tensors"]
    for k in g:
        assert torch.equal(g[k], again[k]), k


def test_tiny_model_goldens_reproduce():
    """The committed tiny model: weights load, and the goldens follow from them exactly."""
    model, mj = load_model_folder(TINY)
    g, meta = read_safetensors(os.path.join(TINY, "golden.safetensors"))
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(TINY, "bpe.model"))
    assert sp.get_piece_size() == mj["vocab"]["size"] and sp.id_to_piece(0) == "<blk>"
    again = compute_golden(model, g["waveform"], sp, float(meta["beta"]))
    for k in g:
        assert torch.allclose(g[k].float(), again["tensors"][k].float(), atol=1e-5), k
    assert again["metadata"]["text"] == meta["text"]
    k = len(mj["encoder"]["lookahead_frames"])
    assert g["arbiter_choices"].unique().numel() == k  # every choice exercised
    assert not torch.equal(g["arbiter_choices"], g["arbiter_choices_beta"])
    assert g["greedy_tokens"].numel() > 0


def test_reexport_takes_the_golden_waveform_of_an_existing_folder(tmp_path):
    import pytest
    from export import golden_waveform, main as export_main
    out = str(tmp_path / "again")
    export_main(["--model-dir", TINY, "--bpe", os.path.join(TINY, "bpe.model"), "--out", out,
                 "--dtype", "f32", "--golden-audio", os.path.join(TINY, "golden.safetensors")])
    old, _ = read_safetensors(os.path.join(TINY, "golden.safetensors"))
    new, _ = read_safetensors(os.path.join(out, "golden.safetensors"))
    assert torch.equal(new["waveform"], old["waveform"].float())
    assert torch.equal(new["greedy_tokens"], old["greedy_tokens"])  # same weights, same answer
    with pytest.raises(SystemExit, match="no 'waveform'"):
        golden_waveform(os.path.join(TINY, "weights.safetensors"))
