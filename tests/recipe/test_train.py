"""Training: the loss falls when overfitting a tiny batch; the CLI runs end to end on CPU."""
import json
import math
import os

import numpy as np
import pytest
import torch

import train as T
from export import load_checkpoint
from model import ModelConfig, Transducer, load_model_folder, torch_load
from corpus.audio_io import write_wav

SMALL = dict(channels=4, d_model=32, num_layers=2, num_heads=2, ffn_dim=64, left_context=8,
             lookahead_frames=(0, 1, 2, 4), vocab_size=12, embed_dim=16, pred_dim=24,
             joiner_dim=24)
TEXTS = ["call anna", "play music", "set a timer", "turn on the lights"]


def test_loss_falls_when_overfitting_tiny_batch():
    torch.manual_seed(0)
    m = Transducer(ModelConfig(**SMALL)).train()
    batch = {"feats": torch.randn(2, 64, 80), "feat_lens": torch.tensor([64, 50]),
             "tokens": torch.tensor([[3, 5, 7, 2], [4, 4, 9, 0]]),
             "token_lens": torch.tensor([4, 3])}
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        out = T.compute_losses(m, batch, tau=1.0, ctc_weight=0.3, lat_weight=0.01, spec_aug=False)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["rnnt"]))
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.3 * losses[0], losses[::10]
    assert "lat_soft" in out and "choice_hist" in out


def test_latency_regularizer_lowers_latency():
    """With a large lambda and no recognition loss signal the arbiters learn to pick W=0."""
    torch.manual_seed(1)
    m = Transducer(ModelConfig(**SMALL)).train()
    params = [p for n, p in m.named_parameters() if "arbiter" in n]
    opt = torch.optim.Adam(params, lr=0.05)
    feats, lens = torch.randn(2, 80, 80), torch.tensor([80, 70])
    first = None
    for _ in range(30):
        e, elen, infos = m.encode(feats, lens, mode="gumbel", tau=1.0)
        lat = m.soft_latency(infos, elen)
        valid = torch.arange(lat.shape[1])[None] < elen[:, None]
        loss = ((lat - torch.arange(lat.shape[1])) * valid).sum() / valid.sum()
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first


def test_cli_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    with open(tmp_path / "text.txt", "w") as f:
        for i in range(200):
            f.write(TEXTS[i % 4] + " now\n")
    man = tmp_path / "train.jsonl"
    with open(man, "w") as f:
        for i, t in enumerate(TEXTS * 2):
            n = 16000 + 1600 * i
            tone = np.sin(2 * np.pi * (200 + 100 * (i % 4)) * np.arange(n) / 16000) * 0.3
            write_wav(str(tmp_path / f"{i}.wav"), tone + rng.normal(0, 0.01, n))
            f.write(json.dumps({"audio": f"{i}.wav", "duration": n / 16000, "text": t,
                                "voice": "tone", "split": "train"}) + "\n")
    bpe = str(tmp_path / "bpe")
    T.main(["bpe", "--text", str(tmp_path / "text.txt"), "--out", bpe, "--vocab", "30"])
    T.main(["cmvn", "--manifest", str(man), "--out", str(tmp_path / "cmvn.json"), "--num", "8",
            "--workers", "1"])
    cmvn = json.load(open(tmp_path / "cmvn.json"))
    assert len(cmvn["mean"]) == 80 and all(v > 0 for v in cmvn["istd"])
    exp = str(tmp_path / "exp")
    args = ["train", "--manifest", f"{man}:2", "--bpe", bpe + ".model", "--cmvn",
            str(tmp_path / "cmvn.json"), "--exp", exp, "--variant", "ancat", "--layers", "2",
            "--d-model", "32", "--heads", "2", "--ffn", "64", "--channels", "4",
            "--joiner-dim", "24", "--vocab-size", "30", "--total-steps", "6", "--workers", "0",
            "--log-every", "1", "--max-frames", "800", "--device", "cpu", "--warmup", "2",
            "--augment", "corpus.augment:Augmenter", "--augment-prob", "1.0"]
    T.main(args)
    ck = torch_load(os.path.join(exp, "ancat", "last.pt"))
    steps = ck["state"]["step"]
    assert steps == 6
    log = [json.loads(l) for l in open(os.path.join(exp, "ancat", "log.jsonl"))]
    assert len(log) == 6 and all(math.isfinite(r["loss"]) for r in log)
    assert torch.allclose(ck["model"]["frontend.cmvn_mean"], torch.tensor(cmvn["mean"]))
    # resume: a longer schedule continues from the checkpoint
    T.main([a if a != "6" else "9" for a in args])
    assert torch_load(os.path.join(exp, "ancat", "last.pt"))["state"]["step"] == 9
    # baselines side by side in one process, fbank in the workers' path this time
    T.main([a if a != "ancat" else "causal,fixed" for a in args] + ["--fbank-on", "workers",
                                                                   "--augment", ""])
    assert load_checkpoint(os.path.join(exp, "causal", "last.pt")).cfg.lookahead_frames == [0]
    assert load_checkpoint(os.path.join(exp, "fixed", "last.pt")).cfg.lookahead_frames == [4]
    assert torch_load(os.path.join(exp, "fixed", "last.pt"))["state"]["step"] == 6
    # export the checkpoint and load it back
    import export as E
    m = load_checkpoint(os.path.join(exp, "ancat", "last.pt"))
    E.export_folder(m, str(tmp_path / "model"), bpe + ".model", "bf16",
                    golden_waveform=torch.zeros(8000))
    loaded, mj = load_model_folder(str(tmp_path / "model"))
    assert mj["vocab"]["size"] == 30 and loaded.cfg.lookahead_frames == [0, 1, 2, 4]


def test_schedules():
    lrs = [T.lr_at(p / 100, int(p * 10), 1e-3, 800, 0.05) for p in range(101)]
    peak = max(lrs)
    assert math.isclose(peak, 1e-3) and lrs.index(peak) == 5  # warmup ends at 5% of the run
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:]))  # then cosine decay
    assert math.isclose(lrs[-1], 2e-5, rel_tol=1e-6)
    assert T.tau_at(0, 2.0, 0.3) == 2.0 and math.isclose(T.tau_at(1, 2.0, 0.3), 0.3)
    assert T.latency_weight_at(0.0, 0.5) == 0 and T.latency_weight_at(1.0, 0.5) == 0.5


def test_latency_budget_is_free_below_target():
    torch.manual_seed(2)
    m = Transducer(ModelConfig(**SMALL)).train()
    batch = {"feats": torch.randn(2, 64, 80), "feat_lens": torch.tensor([64, 50]),
             "tokens": torch.tensor([[3, 5], [4, 4]]), "token_lens": torch.tensor([2, 2])}
    torch.manual_seed(0)
    a = T.compute_losses(m, batch, 1.0, 0.3, lat_weight=10.0, spec_aug=False, lat_target=1e3)
    torch.manual_seed(0)
    b = T.compute_losses(m, batch, 1.0, 0.3, lat_weight=0.0, spec_aug=False)
    assert torch.allclose(a["loss"], b["loss"])  # under budget: no penalty
    torch.manual_seed(0)
    c = T.compute_losses(m, batch, 1.0, 0.3, lat_weight=10.0, spec_aug=False, lat_target=0.0)
    assert torch.allclose(c["loss"], b["loss"] + 10.0 * c["lat_soft"], atol=1e-4)


def test_sigterm_to_all_processes_saves_checkpoints(tmp_path):
    """`pkill -TERM -f train.py` reaches the DataLoader workers too: training must still end
    cleanly with its checkpoint written."""
    import signal
    import subprocess
    import sys
    import time
    rng = np.random.default_rng(1)
    man = tmp_path / "m.jsonl"
    with open(man, "w") as f:
        for i in range(8):
            write_wav(str(tmp_path / f"{i}.wav"), rng.normal(0, 0.1, 16000))
            f.write(json.dumps({"audio": f"{i}.wav", "duration": 1.0, "text": "call anna"}) + "\n")
    bpe = os.path.join(os.path.dirname(__file__), "..", "data", "tiny-model", "bpe.model")
    cmvn = tmp_path / "cmvn.json"
    cmvn.write_text(json.dumps({"mean": [0.0] * 80, "istd": [1.0] * 80}))
    exp = tmp_path / "exp"
    script = os.path.join(os.path.dirname(T.__file__), "train.py")
    p = subprocess.Popen([sys.executable, script, "train", "--manifest", str(man), "--bpe", bpe,
                          "--cmvn", str(cmvn), "--exp", str(exp), "--layers", "1", "--d-model",
                          "32", "--heads", "2", "--ffn", "32", "--channels", "2",
                          "--joiner-dim", "16", "--vocab-size", "64", "--budget-minutes", "60",
                          "--workers", "2", "--log-every", "1", "--max-frames", "400",
                          "--device", "cpu", "--augment", ""],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = exp / "ancat" / "log.jsonl"
    t0 = time.time()
    while not (log.exists() and log.read_text().count("\n") >= 2) and time.time() - t0 < 60:
        time.sleep(0.2)
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], stdout=subprocess.PIPE,
                          text=True).stdout.split()
    for pid in [p.pid] + [int(k) for k in kids]:
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:  # a DataLoader worker that ended between pgrep and kill
            pass
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    assert "saved" in out
    assert torch_load(str(exp / "ancat" / "last.pt"))["state"]["step"] >= 2


def test_augment_ramp():
    assert T.augment_prob_at(0.5, 0.6, "") == 0.6
    assert T.augment_prob_at(0.1, 0.6, "0.2,0.6") == 0.0
    assert math.isclose(T.augment_prob_at(0.4, 0.6, "0.2,0.6"), 0.3)
    assert T.augment_prob_at(0.9, 0.6, "0.2,0.6") == 0.6


def test_load_augment_applies_config_and_refuses_bad_ones():
    make = T.load_augment("corpus.augment:Augmenter", "vtl_range=0.8:1.25,p_speaker=0.9")
    aug = make(3)
    assert aug.cfg.vtl_range == (0.8, 1.25) and aug.cfg.p_speaker == 0.9
    assert T.load_augment("corpus.augment:Augmenter")(3).cfg.vtl_range == (0.85, 1.15)
    with pytest.raises(SystemExit, match="--augment-config: augment config: 'nope=1'"):
        T.load_augment("corpus.augment:Augmenter", "nope=1")
    with pytest.raises(SystemExit, match="needs an --augment"):
        T.load_augment("", "p_eq=0.5")
    with pytest.raises(SystemExit, match="takes no config"):
        T.load_augment("corpus.augment:telephone", "p_eq=0.5")


def test_manifest_globs_and_signature(tmp_path):
    import data as D
    rows = [{"audio": "a.wav", "duration": 1.0, "text": "hi"}]
    (tmp_path / "tts_train.jsonl").write_text(json.dumps(rows[0]) + "\n")
    pattern = str(tmp_path / "tts_train*.jsonl")
    sig = D.manifests_signature([pattern + ":2"])
    assert len(D.load_manifests([pattern + ":2"])) == 1
    # a later rendering pass adds a manifest; its half-written .tmp is not matched
    (tmp_path / "tts_train_b.jsonl.tmp").write_text("{broken")
    assert D.manifests_signature([pattern + ":2"]) == sig
    (tmp_path / "tts_train_b.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]))
    assert D.manifests_signature([pattern + ":2"]) != sig
    entries = D.load_manifests([pattern + ":2"])
    assert len(entries) == 3 and all(e["weight"] == 2.0 for e in entries)


def _tiny_bpe(tmp_path):
    """A 30-piece BPE of TEXTS; returns the .model path."""
    (tmp_path / "bpe.txt").write_text("".join(t + "\n" for t in TEXTS * 50))
    T.main(["bpe", "--text", str(tmp_path / "bpe.txt"), "--out", str(tmp_path / "bpe"),
            "--vocab", "30"])
    return str(tmp_path / "bpe.model")


def test_training_picks_up_new_manifests_and_prints_samples(tmp_path, capfd):
    """A manifest that appears while training runs joins at the next reload check."""
    rng = np.random.default_rng(1)
    corpus = tmp_path / "corpus"
    corpus.mkdir()

    def write(name, n_rows):
        with open(corpus / name, "w") as f:
            for i in range(n_rows):
                n = 16000 + 800 * i
                write_wav(str(corpus / f"{name}{i}.wav"), rng.normal(0, 0.1, n))
                f.write(json.dumps({"audio": f"{name}{i}.wav", "duration": n / 16000,
                                    "text": TEXTS[i % 4]}) + "\n")
    write("tts_train.jsonl", 4)
    bpe = _tiny_bpe(tmp_path)
    T.main(["cmvn", "--manifest", str(corpus / "tts_train.jsonl"), "--out",
            str(tmp_path / "cmvn.json"), "--num", "4", "--workers", "1"])
    written = {"b": False}
    orig_step = T.Run.step

    def step(self, *a, **k):  # the second rendering pass lands after the first step
        orig_step(self, *a, **k)
        if not written["b"]:
            write("tts_train_b.jsonl", 6)
            written["b"] = True
    T.Run.step = step
    try:
        T.main(["train", "--manifest", str(corpus / "tts_train*.jsonl"), "--bpe", bpe,
                "--cmvn", str(tmp_path / "cmvn.json"), "--exp", str(tmp_path / "exp"),
                "--variant", "causal", "--layers", "1", "--d-model", "32", "--heads", "2",
                "--ffn", "64", "--channels", "4", "--joiner-dim", "24", "--vocab-size", "30",
                "--total-steps", "12", "--workers", "0", "--max-frames", "300",
                "--device", "cpu", "--augment", "", "--reload-seconds", "1e-9",
                "--sample-every", "2", "--log-every", "1"])
    finally:
        T.Run.step = orig_step
    out = capfd.readouterr().out
    assert "data: epoch 0: 4 utterances" in out
    assert "10 utterances" in out  # both manifests after the reload
    assert "sample ref: " in out and " | hyp: " in out


def test_init_from_an_exported_folder(tmp_path):
    """A new run can start from an exported model (e.g. the committed default model)."""
    import export as E
    torch.manual_seed(3)
    src = Transducer(ModelConfig(**dict(SMALL, vocab_size=30)))
    src.frontend.cmvn_mean.fill_(0.25)
    E.export_folder(src, str(tmp_path / "model"), _tiny_bpe(tmp_path), "f32",
                    golden_waveform=torch.zeros(8000))

    class A:  # the train arguments Run reads when it builds a fresh run
        exp, init_from, weight_decay, lr = str(tmp_path / "exp"), str(tmp_path / "model"), 0.0, 1e-3
        online_mean_frames = -1  # as the folder has it
    run = T.Run("ancat", A, torch.device("cpu"))
    got = run.model.state_dict()
    for k, v in src.export_state_dict().items():
        assert torch.equal(got[k], v), k
    assert run.cfg.lookahead_frames == [0, 1, 2, 4]
    assert run.cfg.online_mean_frames == 0

    class B(A):  # the same weights, trained on with the online mean normalization switched on
        exp, online_mean_frames = str(tmp_path / "exp_b"), 25
    run_b = T.Run("ancat", B, torch.device("cpu"))
    assert run_b.cfg.online_mean_frames == 25 and run_b.model.frontend.online_mean_frames == 25
    assert torch.equal(run_b.model.state_dict()["frontend.cmvn_mean"], src.frontend.cmvn_mean)
    with pytest.raises(SystemExit, match="not a causal model"):
        T.init_model_dir(str(tmp_path / "model"), "causal")
    assert T.init_model_dir(f"fixed={tmp_path / 'model'}", "ancat") is None
