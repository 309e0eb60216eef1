"""average_weights.py: the weighted mean of two exported folders' weights."""
import json
import os

import pytest
import torch

import average_weights as A
import export as E
from model import ModelConfig, Transducer
from safetensors_io import read_safetensors
from test_model import SMALL
from test_train import _tiny_bpe


def folder(tmp_path, name, seed, **kw):
    torch.manual_seed(seed)
    m = Transducer(ModelConfig(**dict(SMALL, vocab_size=30, **kw)))
    E.export_folder(m, str(tmp_path / name), _tiny_bpe(tmp_path), "f32")
    return str(tmp_path / name)


def test_weighted_mean_of_two_folders(tmp_path):
    a, b = folder(tmp_path, "a", 1), folder(tmp_path, "b", 2)
    out = str(tmp_path / "avg")
    A.main(["--model", a, "--model", b, "--share", "0.75,0.25", "--out", out])
    wa, _ = read_safetensors(os.path.join(a, "weights.safetensors"))
    wb, _ = read_safetensors(os.path.join(b, "weights.safetensors"))
    wo, _ = read_safetensors(os.path.join(out, "weights.safetensors"))
    assert set(wo) == set(wa)
    for k in wa:
        assert torch.allclose(wo[k], 0.75 * wa[k] + 0.25 * wb[k], atol=1e-6), k
    assert json.load(open(os.path.join(out, "model.json"))) == json.load(open(os.path.join(a, "model.json")))


def test_refuses_other_architectures_and_bad_shares(tmp_path):
    a, c = folder(tmp_path, "a", 1), folder(tmp_path, "c", 1, num_layers=2)
    with pytest.raises(SystemExit, match="architectures differ"):
        A.main(["--model", a, "--model", c, "--share", "0.5,0.5", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="summing to 1"):
        A.main(["--model", a, "--model", a, "--share", "0.5,0.4", "--out", str(tmp_path / "x")])
