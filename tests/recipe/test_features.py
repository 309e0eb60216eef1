"""The batched GPU-friendly fbank equals torchaudio.compliance.kaldi.fbank (FORMAT.md options)."""
import torch

from features import batch_fbank
from model import fbank


def test_batch_fbank_matches_kaldi():
    torch.manual_seed(0)
    a = torch.randn(16000) * 0.1
    b = torch.sin(torch.arange(9000) * 0.05) * 0.5 + torch.randn(9000) * 0.001
    wav = torch.zeros(2, 16000)
    wav[0] = a
    wav[1, :9000] = b
    feats, n = batch_fbank(wav, torch.tensor([16000, 9000]))
    for i, x in enumerate((a, b)):
        ref = fbank(x)
        assert int(n[i]) == ref.shape[0]
        assert torch.allclose(feats[i, :ref.shape[0]], ref, atol=2e-3, rtol=1e-4), \
            (feats[i, :ref.shape[0]] - ref).abs().max()


def test_batch_fbank_real_speech():
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "data", "tiny-model", "golden.safetensors")
    from safetensors_io import read_safetensors
    g, _ = read_safetensors(path)
    feats, n = batch_fbank(g["waveform"][None], torch.tensor([g["waveform"].numel()]))
    assert int(n[0]) == g["features"].shape[0]
    assert (feats[0] - g["features"]).abs().max() < 2e-3
