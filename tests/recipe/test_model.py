"""Shapes, masks, latency and gradients of the ANCAT model (models/FORMAT.md)."""
import random

import pytest
import torch

from model import (ModelConfig, Transducer, attention_mask, hard_latency, inference_choices,
                   soft_latency, subsampled_length)

SMALL = dict(channels=4, d_model=32, num_layers=3, num_heads=2, ffn_dim=64, left_context=5,
             lookahead_frames=(0, 1, 2, 4), vocab_size=20, embed_dim=16, pred_dim=24,
             joiner_dim=24)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(SMALL)
    cfg.update(kw)
    return Transducer(ModelConfig(**cfg))


def test_parameter_names_match_format():
    m = small_model()
    names = set(m.export_state_dict())
    expect = {"frontend.cmvn_mean", "frontend.cmvn_istd", "subsample.conv1.weight",
              "subsample.conv1.bias", "subsample.conv2.weight", "subsample.conv2.bias",
              "subsample.out.weight", "subsample.out.bias", "encoder.final_norm.weight",
              "encoder.final_norm.bias", "predictor.embed.weight", "predictor.proj.weight",
              "predictor.proj.bias"}
    for j in ("enc", "pred", "out"):
        expect |= {f"joiner.{j}.weight", f"joiner.{j}.bias"}
    for l in range(3):
        for n in ("norm1", "arbiter", "attn.qkv", "attn.out", "norm2", "ffn.w1", "ffn.w2"):
            expect |= {f"encoder.layers.{l}.{n}.weight", f"encoder.layers.{l}.{n}.bias"}
    assert names == expect
    sd = m.export_state_dict()
    c, d, k = 4, 32, 4
    assert sd["subsample.conv1.weight"].shape == (c, 1, 3, 3)
    assert sd["subsample.out.weight"].shape == (d, c * 19)
    assert sd["encoder.layers.0.arbiter.weight"].shape == (k, d)
    assert sd["encoder.layers.0.attn.qkv.weight"].shape == (3 * d, d)
    assert sd["predictor.proj.weight"].shape == (24, 32)
    assert sd["joiner.out.weight"].shape == (20, 24)


@pytest.mark.parametrize("t", [1, 2, 3, 4, 5, 6, 7, 8, 9, 57, 100])
def test_subsampling_shapes(t):
    m = small_model().eval()
    e, lens, infos = m.encode(torch.randn(1, t, 80), torch.tensor([t]))
    t1 = (t - 1) // 2 + 1
    t2 = (t1 - 1) // 2 + 1
    assert e.shape == (1, t2, 32) and int(lens) == t2 == int(subsampled_length(torch.tensor(t)))
    assert len(infos) == 3 and infos[0]["choices"].shape == (1, t2)


def test_subsampling_is_causal():
    """Encoder frame j depends on fbank frames 4j-6 .. 4j only (FORMAT.md)."""
    m = small_model().eval()
    x = torch.randn(1, 40, 80, requires_grad=True)
    y = m.subsample(x)
    for j in range(y.shape[1]):
        g, = torch.autograd.grad(y[0, j].sum(), x, retain_graph=True)
        dep = (g[0].abs().sum(1) > 0).nonzero().flatten().tolist()
        assert dep == [s for s in range(4 * j - 6, 4 * j + 1) if s >= 0]


def test_attention_mask_brute_force():
    rng = random.Random(0)
    b, t2, lc = 3, 17, 4
    lens = torch.tensor([17, 11, 1])
    right = torch.tensor([[rng.choice([0, 1, 2, 4]) for _ in range(t2)] for _ in range(b)])
    m = attention_mask(lens, t2, lc, right)
    for bi in range(b):
        n = int(lens[bi])
        for t in range(t2):
            for s in range(t2):
                if t < n:
                    want = max(0, t - lc) <= s <= min(n - 1, t + int(right[bi, t]))
                else:
                    want = (s == t) or (max(0, t - lc) <= s <= min(n - 1, t + int(right[bi, t])))
                assert bool(m[bi, t, s]) == want, (bi, t, s)


def test_inference_choices_beta_and_cap():
    w = torch.tensor([0, 1, 2, 4])
    logits = torch.tensor([[0.0, 0.5, 1.0, 3.0]])
    assert inference_choices(logits, w, 0.0, None).item() == 3
    assert inference_choices(logits, w, 0.6, None).item() == 3  # 0, -0.1, -0.2, 0.6
    assert inference_choices(logits, w, 1.0, None).item() == 0  # 0, -0.5, -1, -1
    assert inference_choices(logits, w, 0.0, 2).item() == 2
    assert inference_choices(logits, w, 0.0, 0).item() == 0


def simulate_ready_times(wsel, n):
    """Brute-force event simulation of the streaming executor (independent of hard_latency).

    Input frame tau arrives at time tau; node (l, t) runs as soon as every layer l-1 frame
    s <= min(t + W_l(t), n-1) has run (frames of a layer may finish out of order).
    """
    nl = len(wsel)
    ready = [[None] * n for _ in range(nl + 1)]
    for tau in range(n):
        ready[0][tau] = tau
        changed = True
        while changed:
            changed = False
            for l in range(1, nl + 1):
                for t in range(n):
                    if ready[l][t] is not None:
                        continue
                    hi = min(t + wsel[l - 1][t], n - 1)
                    if all(ready[l - 1][s] is not None for s in range(hi + 1)):
                        ready[l][t] = tau
                        changed = True
    return ready[nl]


def test_latency_matches_brute_force_trace():
    rng = random.Random(1)
    w = [0, 1, 2, 4]
    for trial in range(30):
        nl = rng.randint(1, 5)
        b = 3
        t2 = rng.randint(1, 25)
        lens = [t2] + [rng.randint(1, t2) for _ in range(b - 1)]
        wsel = torch.tensor([[[rng.choice(w) for _ in range(t2)] for _ in range(b)]
                             for _ in range(nl)])
        r = hard_latency(wsel, torch.tensor(lens))
        for bi in range(b):
            n = lens[bi]
            sim = simulate_ready_times([wsel[l, bi, :n].tolist() for l in range(nl)], n)
            assert r[bi, :n].tolist() == sim, (trial, bi)


def test_soft_latency_equals_hard_for_one_hot_gates():
    rng = random.Random(2)
    w = torch.tensor([0, 1, 2, 4])
    nl, b, t2 = 4, 2, 20
    lens = torch.tensor([20, 13])
    ch = torch.tensor([[[rng.randrange(4) for _ in range(t2)] for _ in range(b)] for _ in range(nl)])
    gates = [torch.nn.functional.one_hot(ch[l], 4).float() for l in range(nl)]
    soft = soft_latency(gates, w, lens)
    hard = hard_latency(w[ch], lens)
    for bi in range(b):
        n = int(lens[bi])
        assert torch.allclose(soft[bi, :n], hard[bi, :n].float())


def test_model_latency_is_the_streaming_truth():
    """Frame t's encoder output computed from input up to frame R_L(t) equals the full one,
    and with one frame less it changes: R_L is exactly when the frame becomes final."""
    m = small_model(seed=3).eval()
    with torch.no_grad():
        for layer in m.encoder.layers:
            layer.arbiter.weight.mul_(30.0)
    t = 97
    f = torch.randn(1, t, 80)
    with torch.no_grad():
        e, lens, infos = m.encode(f, torch.tensor([t]))
        r = m.latency(infos, lens)[0]
        used = torch.stack([i["choices"][0] for i in infos]).unique().numel()
        assert used >= 3, "the test needs varied lookahead choices"
        assert (r - torch.arange(len(r))).max() > 2
        for j in range(int(lens)):
            rt = int(r[j])
            tf = 4 * rt + 1
            e2, l2, _ = m.encode(f[:, :tf], torch.tensor([tf]))
            assert int(l2) == rt + 1
            assert torch.allclose(e2[0, j], e[0, j], atol=1e-5), j
            if rt > j:
                tf = 4 * (rt - 1) + 1
                e3, _, _ = m.encode(f[:, :tf], torch.tensor([tf]))
                assert not torch.allclose(e3[0, j], e[0, j], atol=1e-5), j


def test_padding_does_not_change_outputs():
    m = small_model(seed=4).eval()
    f = torch.randn(2, 60, 80)
    with torch.no_grad():
        e, lens, infos = m.encode(f, torch.tensor([60, 35]))
        e1, _, i1 = m.encode(f[1:2, :35], torch.tensor([35]))
    n = int(lens[1])
    assert torch.allclose(e[1, :n], e1[0], atol=1e-5)
    for a, b in zip(infos, i1):
        assert torch.equal(a["choices"][1, :n], b["choices"][0])


def test_gumbel_forward_equals_hard_choice():
    """Training mixes the K attentions by straight-through gates: the forward pass equals the
    hard choice (the single-mask path) for the same choices."""
    m = small_model(seed=5).train()
    f = torch.randn(2, 50, 80)
    lens = torch.tensor([50, 41])
    torch.manual_seed(0)
    e_tr, l2, infos = m.encode(f, lens, mode="gumbel", tau=1.0)
    ch = torch.stack([i["choices"] for i in infos])
    m.eval()
    with torch.no_grad():
        e_hard, _, _ = m.encode(f, lens, choices=ch)
    for bi in range(2):
        n = int(l2[bi])
        assert torch.allclose(e_tr[bi, :n], e_hard[bi, :n], atol=1e-5)


def test_gradient_flows_through_gates():
    m = small_model(seed=6).train()
    f = torch.randn(2, 50, 80)
    lens = torch.tensor([50, 41])
    e, elen, infos = m.encode(f, lens, mode="gumbel", tau=1.0)
    # through the attention mixture
    e.pow(2).sum().backward(retain_graph=True)
    for layer in m.encoder.layers:
        assert layer.arbiter.weight.grad is not None
        assert layer.arbiter.weight.grad.abs().sum() > 0
    m.zero_grad()
    # through the latency regularizer alone
    lat = m.soft_latency(infos, elen)
    lat.sum().backward()
    for layer in m.encoder.layers:
        assert layer.arbiter.weight.grad.abs().sum() > 0


def test_greedy_respects_max_symbols():
    m = small_model(seed=7).eval()
    with torch.no_grad():
        m.joiner.out.bias[0] = -100.0  # never blank
        e, lens, _ = m.encode(torch.randn(1, 40, 80), torch.tensor([40]))
        toks = m.greedy(e[0])
    assert len(toks) == m.cfg.max_symbols_per_frame * int(lens)
    assert all(0 < k < 20 for k in toks)


def test_baseline_variants_have_one_choice():
    for w in ([0], [4]):
        m = small_model(lookahead_frames=w).eval()
        assert m.encoder.layers[0].arbiter.weight.shape[0] == 1
        with torch.no_grad():
            e, lens, infos = m.encode(torch.randn(1, 60, 80), torch.tensor([60]))
            r = m.latency(infos, lens)[0]
        n = int(lens)
        expect = [min(t + 3 * w[0], n - 1) - t for t in range(n)]
        assert (r - torch.arange(n)).tolist() == expect


def test_online_mean_is_the_running_mean_with_a_prior():
    from model import online_mean
    torch.manual_seed(4)
    y = torch.randn(2, 13, 6) + 2.0
    got = online_mean(y, 5)
    for t in range(13):
        want = y[:, :t + 1].double().sum(1) / (t + 1 + 5)
        assert torch.allclose(got[:, t].double(), want, atol=1e-6), t


def test_online_mean_model_is_causal_and_round_trips_model_json():
    m = small_model(seed=2, online_mean_frames=25).eval()
    assert ModelConfig.from_model_json({**m.cfg.to_json_sections(), "frontend": {"num_mel_bins": 80},
                                        "vocab": {"size": 20}}).online_mean_frames == 25
    assert "online_mean_frames" not in small_model().cfg.to_json_sections()["subsampling"]
    feats = torch.randn(1, 200, 80) + 3.0
    with torch.no_grad():
        full, _, _ = m.encode(feats, torch.tensor([200]))
        head, n, _ = m.encode(feats[:, :120], torch.tensor([120]))
        # frames whose lookahead (at most 4 frames per layer) is inside the prefix do not
        # depend on later audio: the running mean is causal
        k = int(n) - 4 * m.cfg.num_layers
        assert k > 0 and torch.allclose(full[:, :k], head[:, :k], atol=1e-5)
        # and a constant channel offset is taken out as the stream goes on
        off, _, _ = m.encode(feats + 0.7, torch.tensor([200]))
        plain = small_model(seed=2).eval()
        p_full, _, _ = plain.encode(feats, torch.tensor([200]))
        p_off, _, _ = plain.encode(feats + 0.7, torch.tensor([200]))
    assert (off - full)[:, -5:].abs().mean() < 0.5 * (p_off - p_full)[:, -5:].abs().mean()
