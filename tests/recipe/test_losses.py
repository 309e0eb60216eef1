"""The pure-PyTorch RNN-T loss against torchaudio's, and CTC basics."""
import pytest
import torch

from losses import ctc_loss, rnnt_loss, rnnt_loss_torch


def test_rnnt_torch_matches_torchaudio():
    ta = pytest.importorskip("torchaudio.functional")
    torch.manual_seed(0)
    b, t, u, v = 4, 15, 6, 9
    logits = (torch.randn(b, t, u + 1, v) * 3).requires_grad_()
    y = torch.randint(1, v, (b, u))
    tl = torch.tensor([15, 10, 3, 7])
    ul = torch.tensor([6, 4, 0, 6])
    ref = ta.rnnt_loss(logits, y.int(), tl.int(), ul.int(), blank=0, reduction="none")
    mine = rnnt_loss_torch(logits, y, tl, ul)
    assert torch.allclose(ref, mine, rtol=1e-5, atol=1e-4)
    g1, = torch.autograd.grad(ref.sum(), logits)
    g2, = torch.autograd.grad(mine.sum(), logits)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_rnnt_single_path():
    """T=1, U=0: the loss is -log p(blank)."""
    logits = torch.randn(1, 1, 1, 5)
    want = -torch.log_softmax(logits, -1)[0, 0, 0, 0]
    got = rnnt_loss(logits, torch.zeros(1, 0, dtype=torch.long), torch.tensor([1]),
                    torch.tensor([0]))
    assert torch.allclose(got[0], want, atol=1e-5)
    assert torch.allclose(rnnt_loss_torch(logits, torch.zeros(1, 0, dtype=torch.long),
                                          torch.tensor([1]), torch.tensor([0]))[0], want)


def test_ctc_loss_shape():
    l = ctc_loss(torch.randn(2, 10, 6), torch.tensor([10, 8]), torch.tensor([[1, 2], [3, 0]]),
                 torch.tensor([2, 1]))
    assert l.shape == (2,) and torch.isfinite(l).all()
