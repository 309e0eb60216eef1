#!/usr/bin/env python3
"""ANCAT transducer training: BPE, CMVN statistics, and the training loop.

  train.py bpe   --text corpus.txt [--text more.txt] --out DIR/bpe [--vocab 500]
  train.py cmvn  --manifest train.jsonl --out DIR/cmvn.json [--num 3000]
  train.py train --manifest train.jsonl[:WEIGHT] ... --bpe DIR/bpe.model --cmvn DIR/cmvn.json
                 --exp EXPDIR --variant {ancat,causal,fixed} --budget-minutes 60 --max-minutes 9

Training is deadline-driven and resumable: the learning-rate schedule, Gumbel temperature and
latency-weight ramps follow progress = trained time / --budget-minutes (or steps /
--total-steps), so a run cut into 10-minute slices (--max-minutes) follows one schedule.
Checkpoints (EXPDIR/last.pt) are written every --save-minutes, at the slice deadline, and on
SIGTERM. Runs on CUDA (bf16 autocast) and on CPU (for tests).
"""
import argparse
import dataclasses
import importlib
import json
import math
import os
import random
import signal
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import (BucketBatchSampler, SpeechDataset, collate, load_manifests,  # noqa: E402
                  manifests_signature, spec_augment)
from losses import ctc_loss, rnnt_loss  # noqa: E402
from features import batch_fbank  # noqa: E402
from model import (ModelConfig, Transducer, count_parameters, fbank, mean_latency,  # noqa: E402
                   torch_load)
from audio_io import load_audio  # noqa: E402

VARIANT_LOOKAHEAD = {"causal": lambda w: [0], "fixed": lambda w: [max(w)], "ancat": lambda w: w}


# ---------------------------------------------------------------- BPE and CMVN

def _text_lines(path: str):
    """Sentences of a .txt / .gz file; for TSV lines (corpus.text's train.tsv.gz) the last field."""
    import gzip
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt", encoding="utf-8") as f:
        for ln in f:
            s = ln.rstrip("\n").rpartition("\t")[2].strip().lower()
            if s:
                yield s


def train_bpe(texts, out_prefix: str, vocab_size: int = 500, max_sentences: int = 2_000_000):
    """sentencepiece BPE per FORMAT.md: 0 = <blk> (pad piece), 1 = <unk>, no bos/eos."""
    import sentencepiece as spm
    import tempfile
    os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        n = 0
        for t in texts:
            for s in _text_lines(t):
                f.write(s + "\n")
                n += 1
        tmp = f.name
    try:
        spm.SentencePieceTrainer.train(
            input=tmp, model_prefix=out_prefix, vocab_size=vocab_size,
            model_type="bpe", pad_id=0, pad_piece="<blk>", unk_id=1, bos_id=-1, eos_id=-1,
            character_coverage=1.0, input_sentence_size=max_sentences,
            shuffle_input_sentence=True, normalization_rule_name="identity",
            num_threads=os.cpu_count() or 1, minloglevel=1)
    finally:
        os.unlink(tmp)
    sp = spm.SentencePieceProcessor(model_file=out_prefix + ".model")
    assert sp.id_to_piece(0) == "<blk>" and sp.unk_id() == 1 and sp.bos_id() == -1
    print(f"bpe: {n} sentences, {sp.get_piece_size()} pieces")
    return out_prefix + ".model"


def compute_cmvn(entries, num: int = 3000, seed: int = 0, workers: int = 0):
    """Global mean and inverse std of fbank over a random sample of utterances."""
    rng = random.Random(seed)
    sample = rng.sample(entries, min(num, len(entries)))
    total = torch.zeros(80, dtype=torch.float64)
    sq = torch.zeros(80, dtype=torch.float64)
    n = 0

    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, initializer=torch.set_num_threads,
                                 initargs=(1,)) as ex:
            it = ex.map(_cmvn_item, [e["audio"] for e in sample], chunksize=16)
            for s, s2, k in it:
                total += s
                sq += s2
                n += k
    else:
        for e in sample:
            s1, s2, k = _cmvn_item(e["audio"])
            total += s1
            sq += s2
            n += k
    mean = total / n
    var = (sq / n - mean * mean).clamp(min=1e-8)
    return mean.float(), (1.0 / var.sqrt()).float(), n


def _cmvn_item(path):
    try:
        f = fbank(load_audio(path)).double()
    except Exception as ex:
        print(f"cmvn: skipping {path}: {ex}", flush=True)
        return torch.zeros(80, dtype=torch.float64), torch.zeros(80, dtype=torch.float64), 0
    return f.sum(0), (f * f).sum(0), f.shape[0]


def load_cmvn(path: str):
    with open(path) as f:
        d = json.load(f)
    return torch.tensor(d["mean"]), torch.tensor(d["istd"])


# ---------------------------------------------------------------- schedules

def lr_at(progress: float, step: int, peak: float, warmup: int, warmup_frac: float = 0.05,
          final_ratio: float = 0.02):
    """Linear warmup until `warmup` steps or `warmup_frac` of the run (whichever comes first),
    then cosine decay over the rest of the run to final_ratio * peak."""
    w = max((step + 1) / max(1, warmup), progress / warmup_frac if warmup_frac > 0 else 1.0)
    if w < 1.0:
        return peak * w
    p0 = min(progress, warmup_frac)
    p = min(1.0, max(0.0, (progress - p0) / max(1e-9, 1.0 - p0)))
    return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def tau_at(progress: float, start: float, end: float) -> float:
    return start * (end / start) ** min(1.0, max(0.0, progress))


def latency_weight_at(progress: float, lam: float, start: float = 0.05, ramp: float = 0.15):
    """0 until `start`, then linear to lam over `ramp` of the run (learn to recognize first)."""
    return lam * min(1.0, max(0.0, (progress - start) / ramp))


def augment_prob_at(progress: float, prob: float, ramp: str) -> float:
    """Share of utterances augmented: 0 until ramp's start, linear to `prob` at its end.
    The model first learns clean synthetic speech (the augmenter's warps and noise on an
    untrained model kept it in the blank-only phase in the first GPU run), then hardens."""
    if not ramp:
        return prob
    a, b = (float(x) for x in ramp.split(","))
    return prob * min(1.0, max(0.0, (progress - a) / max(1e-9, b - a)))


# ---------------------------------------------------------------- loss

def compute_losses(model: Transducer, batch: dict, tau: float, ctc_weight: float,
                   lat_weight: float, spec_aug: bool = True, lat_target: float = 0.0):
    """RNN-T + ctc_weight * CTC (per utterance) + lat_weight * max(0, L - lat_target), where L
    is the batch's mean algorithmic latency in frames computed with the soft gate weights.
    A target makes the regularizer a latency budget: below it the arbiters are free to look
    ahead wherever it helps recognition (a plain linear penalty collapsed every choice to
    W = 0 early in training, before future context had any value to the model)."""
    feats, flen = batch["feats"], batch["feat_lens"]
    y, ylen = batch["tokens"], batch["token_lens"]
    if spec_aug:
        feats = spec_augment(feats, flen, model.frontend.cmvn_mean)
    e, elen, infos = model.encode(feats, flen, mode="gumbel", tau=tau)
    p = model.predictor.for_targets(y)
    logits = model.joint(e, p)
    l_rnnt = rnnt_loss(logits.float(), y, elen, ylen)
    l_ctc = ctc_loss(model.ctc_head(e), elen, y, ylen)
    b = feats.shape[0]
    loss = (l_rnnt.sum() + ctc_weight * l_ctc.sum()) / b
    out = {"rnnt": l_rnnt.sum().detach() / b, "ctc": l_ctc.sum().detach() / b}
    if len(model.cfg.lookahead_frames) > 1:
        soft = mean_latency(model.soft_latency(infos, elen), elen)
        if lat_weight > 0:
            loss = loss + lat_weight * torch.relu(soft - lat_target)
        out["lat_soft"] = soft.detach()
    with torch.no_grad():
        out["lat_hard"] = mean_latency(model.latency(infos, elen).float(), elen)
        if len(model.cfg.lookahead_frames) > 1:
            ch = torch.stack([i["choices"] for i in infos])  # [L,B,T]
            valid = torch.arange(ch.shape[2], device=ch.device)[None] < elen[:, None]
            out["choice_hist"] = torch.stack(
                [((ch == k) & valid[None]).sum() for k in range(len(model.cfg.lookahead_frames))]
            ).float() / valid.sum().clamp(min=1) / ch.shape[0]
    out["loss"] = loss
    return out


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path, model, opt, state, args, cfg):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                "args": vars(args), "model_config": cfg.to_dict()}, tmp)
    os.replace(tmp, path)


def build_config(args, variant: str) -> ModelConfig:
    w = [int(x) for x in args.lookahead.split(",")]
    return ModelConfig(channels=args.channels, d_model=args.d_model, num_layers=args.layers,
                       num_heads=args.heads, ffn_dim=args.ffn, left_context=args.left_context,
                       lookahead_frames=VARIANT_LOOKAHEAD[variant](w),
                       vocab_size=args.vocab_size, embed_dim=args.d_model, pred_dim=args.d_model,
                       joiner_dim=args.joiner_dim,
                       online_mean_frames=max(0, args.online_mean_frames))


def load_augment(spec: str, config: str = ""):
    """--augment MODULE:ATTR (module path relative to models/recipe, e.g. corpus.augment:Augmenter).

    Returns a factory seed -> callable(waveform [N] float[, babble=list]) -> waveform. ATTR may
    be a class or function taking `seed`, or a plain waveform -> waveform callable. `config`
    (--augment-config) overrides AugmentConfig fields; ATTR must then take `config`.
    """
    if not spec:
        if config:
            raise SystemExit("--augment-config needs an --augment")
        return None
    import inspect
    mod, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(mod), attr or "Augmenter")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {}
    if config:
        if "config" not in params:
            raise SystemExit(f"--augment-config: {spec} takes no config")
        from corpus.augment import parse_config
        try:
            kwargs["config"] = parse_config(config)
        except ValueError as e:
            raise SystemExit(f"--augment-config: {e}") from None
        print(f"augment: {kwargs['config']}", flush=True)  # the run's log records what it trained on
    if "seed" in params:
        return lambda seed: obj(seed=seed, **kwargs)
    return lambda seed: obj


def init_model_dir(spec: str, variant: str):
    """--init-from: an exported model folder (or VARIANT=DIR,...) to start a new run from, so
    that training can continue across sessions from the committed model when the optimizer
    state is gone. The folder's lookahead set must be the variant's."""
    dirs = dict(x.split("=", 1) for x in spec.split(",")) if "=" in spec else {variant: spec}
    if variant not in dirs:
        return None
    from model import load_model_folder
    model, _ = load_model_folder(dirs[variant])
    want = VARIANT_LOOKAHEAD[variant](model.cfg.lookahead_frames)
    if variant != "ancat" and list(model.cfg.lookahead_frames) != list(want):
        raise SystemExit(f"--init-from {dirs[variant]}: lookahead {model.cfg.lookahead_frames} "
                         f"is not a {variant} model's")
    model.source = dirs[variant]
    return model


def _worker_ignores_signals(_):
    """DataLoader workers leave SIGTERM/SIGINT to the main process, which saves checkpoints
    and then shuts the workers down (a `pkill -f train.py` would otherwise kill them first)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Run:
    """One variant being trained: its model, optimizer, progress and folder."""

    def __init__(self, variant: str, args, dev):
        self.variant = variant
        self.exp = os.path.join(args.exp, variant)
        os.makedirs(self.exp, exist_ok=True)
        self.ck_path = os.path.join(self.exp, "last.pt")
        ck = torch_load(self.ck_path) if os.path.exists(self.ck_path) else None
        init = None
        if not ck and args.init_from:
            init = init_model_dir(args.init_from, variant)
        if ck:
            self.cfg = ModelConfig(**ck["model_config"])
        else:
            self.cfg = init.cfg if init is not None else build_config(args, variant)
            if init is not None and args.online_mean_frames >= 0:
                # the same weights, a different input normalization: the run adapts to it
                self.cfg = dataclasses.replace(self.cfg, online_mean_frames=args.online_mean_frames)
        self.model = Transducer(self.cfg)
        if ck:
            self.model.load_state_dict(ck["model"])
        elif init is not None:
            # exported weights (CMVN included); the CTC head was not exported and starts fresh
            self.model.load_state_dict(init.state_dict())
            print(f"[{variant}] initialized from {init.source}", flush=True)
        else:
            mean, istd = load_cmvn(args.cmvn)
            self.model.frontend.cmvn_mean.copy_(mean)
            self.model.frontend.cmvn_istd.copy_(istd)
        self.model.to(dev).train()
        decay, no_decay = [], []
        for n, p in self.model.named_parameters():
            (decay if p.dim() >= 2 and "embed" not in n else no_decay).append(p)
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}],
                                     lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
        self.state = {"step": 0, "trained_seconds": 0.0, "epoch": 0}
        if ck:
            self.opt.load_state_dict(ck["optimizer"])
            self.state.update(ck["state"])
            print(f"[{variant}] resumed {self.ck_path}: step {self.state['step']}, "
                  f"{self.state['trained_seconds'] / 60:.1f} min trained", flush=True)
        print(f"[{variant}] {count_parameters(self.model) / 1e6:.2f}M exported params, "
              f"W={self.cfg.lookahead_frames}", flush=True)
        self.log = open(os.path.join(self.exp, "log.jsonl"), "a")

    def progress(self, extra_seconds: float, args) -> float:
        p = 0.0
        if args.budget_minutes > 0:
            p = (self.state["trained_seconds"] + extra_seconds) / (args.budget_minutes * 60.0)
        if args.total_steps > 0:
            p = max(p, self.state["step"] / args.total_steps)
        return p

    def step(self, batch, args, extra_seconds: float, use_amp: bool, dev):
        progress = self.progress(extra_seconds, args)
        st = self.state
        lr = lr_at(progress, st["step"], args.lr, args.warmup, args.warmup_frac)
        for g in self.opt.param_groups:
            g["lr"] = lr
        tau = tau_at(progress, args.tau_start, args.tau_end)
        lam = latency_weight_at(progress, args.latency_weight)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            out = compute_losses(self.model, batch, tau, args.ctc_weight, lam, spec_aug=False,
                                 lat_target=args.latency_target)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.clip)
        if torch.isfinite(gn):
            self.opt.step()
        st["step"] += 1
        if st["step"] % args.log_every == 0:
            tok = max(1, int(batch["token_lens"].sum()))
            rec = {"variant": self.variant, "step": st["step"],
                   "min": round((st["trained_seconds"] + extra_seconds) / 60, 2),
                   "progress": round(progress, 4), "lr": lr, "tau": round(tau, 3), "lam": lam,
                   "gnorm": round(float(gn), 3), "frames": int(batch["feat_lens"].sum())}
            for k in ("loss", "rnnt", "ctc", "lat_soft", "lat_hard"):
                if k in out:
                    rec[k] = round(float(out[k].detach()), 4)
            if "choice_hist" in out:
                rec["choices"] = [round(float(x), 3) for x in out["choice_hist"]]
            # per token: comparable across batches of short and long utterances
            rec["rnnt_tok"] = round(float(out["rnnt"]) * batch["feats"].shape[0] / tok, 3)
            rec["ctc_tok"] = round(float(out["ctc"]) * batch["feats"].shape[0] / tok, 3)
            print(json.dumps(rec), flush=True)
            self.log.write(json.dumps(rec) + "\n")
            self.log.flush()

    @torch.no_grad()
    def sample(self, batch, sp) -> str:
        """Greedy transcript of the batch's first utterance next to its reference: the cheap
        check that the model has left the blank-only phase."""
        self.model.eval()
        n = int(batch["feat_lens"][0])
        e, elen, _ = self.model.encode(batch["feats"][:1, :n].float(), batch["feat_lens"][:1])
        hyp = sp.decode(self.model.greedy(e[0].float(), int(elen[0])))
        self.model.train()
        ref = sp.decode([int(x) for x in batch["tokens"][0, :int(batch["token_lens"][0])]])
        return f"[{self.variant}] step {self.state['step']} sample ref: {ref} | hyp: {hyp}"

    def save(self, args):
        save_checkpoint(self.ck_path, self.model, self.opt, self.state, args, self.cfg)


def prepare_batch(batch, dev, args, fill):
    """To the device; fbank on the device for waveform batches; SpecAugment."""
    batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
    if "wav" in batch:
        feats, flen = batch_fbank(batch.pop("wav"), batch.pop("wav_lens"), dither=args.dither)
        batch["feats"], batch["feat_lens"] = feats, flen
    if not args.no_spec_augment:
        batch["feats"] = spec_augment(batch["feats"], batch["feat_lens"], fill)
    return batch


def train(args):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    dev = torch.device(args.device if args.device else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(args.exp, exist_ok=True)
    runs = [Run(v, args, dev) for v in args.variant.split(",")]
    entries = load_manifests(args.manifest, split=args.split, max_duration=args.max_duration)
    if not entries:
        raise SystemExit("no training entries")
    print(f"data: {len(entries)} utterances, "
          f"{sum(e['duration'] * e['weight'] for e in entries) / 3600:.1f} h weighted, "
          f"device {dev}, variants {args.variant}", flush=True)
    gpu_fbank = args.fbank_on == "device"
    ds = SpeechDataset(entries, args.bpe, load_augment(args.augment, args.augment_config), dither=args.dither,
                       waveform=gpu_fbank, augment_prob=args.augment_prob, seed=args.seed)
    use_amp = dev.type == "cuda" and args.bf16
    fill = runs[0].model.frontend.cmvn_mean.detach()
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=args.bpe)

    def loader(progress: float):
        ds.epoch = runs[0].state["epoch"]
        ds.augment_prob = augment_prob_at(progress, args.augment_prob, args.augment_ramp)
        sampler = BucketBatchSampler(ds.entries, args.max_frames, seed=args.seed,
                                     epoch=runs[0].state["epoch"])
        kw = dict(batch_sampler=sampler, collate_fn=collate, num_workers=args.workers)
        if args.workers > 0:
            kw.update(prefetch_factor=4, pin_memory=dev.type == "cuda",
                      worker_init_fn=_worker_ignores_signals)
        return torch.utils.data.DataLoader(ds, **kw)

    def reload_needed(progress: float) -> bool:
        """New or rewritten manifests, or the augmentation ramp moved on: restart the loader."""
        want = augment_prob_at(progress, args.augment_prob, args.augment_ramp)
        return manifests_signature(args.manifest) != sig or abs(want - ds.augment_prob) >= 0.05

    start = time.time()
    deadline = start + args.max_minutes * 60.0 if args.max_minutes > 0 else float("inf")
    last_save = last_check = start
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    import faulthandler
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: stacks to stderr
    t_slice = time.time()
    seen = 0.0
    wait_s = compute_s = 0.0
    done = False
    failure = None
    first_loader = True
    while not done:
        sig = manifests_signature(args.manifest)
        if not first_loader:  # later loaders re-read the manifests: new ones may have landed
            ds.entries = load_manifests(args.manifest, split=args.split,
                                        max_duration=args.max_duration)
        first_loader = False
        p0 = runs[0].progress(time.time() - t_slice, args)
        print(f"data: epoch {runs[0].state['epoch']}: {len(ds.entries)} utterances, "
              f"augment_prob {augment_prob_at(p0, args.augment_prob, args.augment_ramp):.2f}",
              flush=True)
        try:
            it = iter(loader(p0))
        except Exception as ex:  # a worker died while starting: `pkill -TERM -f train.py` can
            failure = repr(ex)   # reach it before it ignores SIGTERM; keep what was trained
            break
        try:
            while True:
                t_wait = time.time()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                except Exception as ex:  # a worker died (e.g. killed): keep what was trained
                    failure = repr(ex)  # not the exception: its traceback would pin `it`
                    done = True
                    break
                wait_s += time.time() - t_wait
                if batch is None:
                    continue
                now = time.time()
                active = [r for r in runs if r.progress(now - t_slice, args) < 1.0]
                if not active or now >= deadline or stop["flag"]:
                    done = True
                    break
                batch = prepare_batch(batch, dev, args, fill)
                seen += float(batch["feat_lens"].sum()) / 100.0
                for r in active:
                    r.step(batch, args, now - t_slice, use_amp, dev)
                    if args.sample_every and r.state["step"] % args.sample_every == 0:
                        print(r.sample(batch, sp), flush=True)
                compute_s += time.time() - now
                if active[0].state["step"] % args.log_every == 0:
                    print(f"timing: data wait {wait_s:.0f} s, compute {compute_s:.0f} s, "
                          f"{seen / max(1e-9, time.time() - start):.0f} audio-s/s", flush=True)
                if time.time() - last_save > args.save_minutes * 60:
                    el = time.time() - t_slice
                    for r in runs:
                        r.state["trained_seconds"] += el
                        r.save(args)
                    t_slice = last_save = time.time()
                if args.reload_seconds > 0 and time.time() - last_check > args.reload_seconds:
                    last_check = time.time()
                    if reload_needed(runs[0].progress(last_check - t_slice, args)):
                        break  # next epoch with the new manifests / augmentation share
        except RuntimeError as ex:
            # DataLoader's SIGCHLD handler raises wherever the main process is when a worker
            # dies; after a SIGTERM that is the stop we were asked for, so save and end.
            if not stop["flag"]:
                raise
            failure, done = repr(ex), True
        finally:
            # Shut the workers down now: they ignore SIGTERM, so one left running would
            # block the interpreter's exit (multiprocessing joins its children).
            getattr(it, "_shutdown_workers", lambda: None)()
            del it
        if not done:
            for r in runs:
                r.state["epoch"] += 1
    el = time.time() - t_slice
    wall = time.time() - start
    for r in runs:
        if r.progress(0.0, args) < 1.0:  # finished runs stop counting time
            r.state["trained_seconds"] += el
        r.save(args)
        print(f"[{r.variant}] saved {r.ck_path}: step {r.state['step']}, "
              f"{r.state['trained_seconds'] / 60:.1f} min trained"
              f"{' (schedule done)' if r.progress(0.0, args) >= 1.0 else ''}", flush=True)
    print(f"slice: {wall / 60:.1f} min wall, {seen / 3600:.2f} h of audio, "
          f"{seen / max(wall, 1e-9):.0f} audio-s/s", flush=True)
    if failure is not None and not stop["flag"]:
        raise RuntimeError(f"data loading failed (checkpoints saved): {failure}")
    return runs


# ---------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("bpe", help="train the sentencepiece BPE")
    b.add_argument("--text", action="append", required=True, help="text file(s): one sentence a line (.txt, .gz) or "
                        "TSV whose last field is the sentence (corpus.text's train.tsv.gz)")
    b.add_argument("--out", required=True, help="output prefix (writes PREFIX.model)")
    b.add_argument("--vocab", type=int, default=500)

    c = sub.add_parser("cmvn", help="global CMVN statistics from a sample of training audio")
    c.add_argument("--manifest", action="append", required=True)
    c.add_argument("--split", default="train")
    c.add_argument("--out", required=True)
    c.add_argument("--num", type=int, default=3000)
    c.add_argument("--workers", type=int, default=os.cpu_count() or 1)

    t = sub.add_parser("train", help="train (or resume) one variant")
    t.add_argument("--manifest", action="append", required=True, help="JSONL[:weight], repeatable")
    t.add_argument("--split", default="train", help="use entries whose split is this (absent = all)")
    t.add_argument("--bpe", required=True)
    t.add_argument("--cmvn", required=True)
    t.add_argument("--exp", required=True, help="experiment folder; each variant in EXP/VARIANT")
    t.add_argument("--variant", default="ancat",
                   help="ancat, causal, fixed, or a comma list trained side by side in one "
                        "process on the same batches (one data pipeline for all)")
    t.add_argument("--init-from", default="",
                   help="start a new run (no checkpoint in EXP yet) from exported model "
                        "folder(s): DIR, or VARIANT=DIR,VARIANT=DIR for several variants; "
                        "the architecture comes from the folder")
    t.add_argument("--lookahead", default="0,1,2,4", help="ANCAT lookahead set W (frames)")
    t.add_argument("--layers", type=int, default=12)
    t.add_argument("--d-model", type=int, default=256)
    t.add_argument("--heads", type=int, default=4)
    t.add_argument("--ffn", type=int, default=1024)
    t.add_argument("--channels", type=int, default=64)
    t.add_argument("--left-context", type=int, default=32)
    t.add_argument("--online-mean-frames", type=int, default=-1,
                   help="> 0: subtract each utterance's running feature mean after CMVN, with a "
                        "prior of this many zero frames (model.json subsampling."
                        "online_mean_frames); 0: off; -1 (default): off for a new model, as the "
                        "--init-from folder has it otherwise")
    t.add_argument("--joiner-dim", type=int, default=256)
    t.add_argument("--vocab-size", type=int, default=500)
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--warmup", type=int, default=800, help="warmup steps (or --warmup-frac)")
    t.add_argument("--warmup-frac", type=float, default=0.05,
                   help="warmup ends at this share of the run if sooner than --warmup steps")
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--clip", type=float, default=5.0)
    t.add_argument("--ctc-weight", type=float, default=0.3)
    t.add_argument("--latency-weight", type=float, default=0.5,
                   help="lambda: loss per frame of mean algorithmic latency above the target")
    t.add_argument("--latency-target", type=float, default=12.0,
                   help="latency budget in encoder frames (40 ms) before the penalty starts; "
                        "0 = plain linear penalty")
    t.add_argument("--tau-start", type=float, default=2.0)
    t.add_argument("--tau-end", type=float, default=0.3)
    t.add_argument("--max-frames", type=int, default=60000, help="padded fbank frames per batch")
    t.add_argument("--max-duration", type=float, default=20.0)
    t.add_argument("--dither", type=float, default=1.0)
    t.add_argument("--no-spec-augment", action="store_true")
    t.add_argument("--augment", default="corpus.augment:Augmenter",
                   help="MODULE:ATTR waveform augmentation ('' for none)")
    t.add_argument("--augment-config", default="",
                   help="FIELD=VALUE,... overrides of corpus.augment.AugmentConfig, a range as "
                        "LO:HI (e.g. 'vtl_range=0.8:1.25,pitch_range=0.7:1.45')")
    t.add_argument("--augment-prob", type=float, default=0.9,
                   help="share of utterances augmented (the rest stay clean)")
    t.add_argument("--augment-ramp", default="",
                   help="START,END progress: augmentation share rises linearly from 0 at START "
                        "to --augment-prob at END ('' = full share from the first step)")
    t.add_argument("--reload-seconds", type=float, default=60.0,
                   help="how often to look for new manifests (globs) and ramp changes; 0 = never")
    t.add_argument("--sample-every", type=int, default=0,
                   help="print a greedy transcript of one training utterance every N steps")
    t.add_argument("--budget-minutes", type=float, default=0.0,
                   help="total training time of the run (schedule length), across resumes")
    t.add_argument("--total-steps", type=int, default=0, help="schedule length in steps")
    t.add_argument("--max-minutes", type=float, default=0.0, help="stop this slice after this")
    t.add_argument("--save-minutes", type=float, default=3.0)
    t.add_argument("--workers", type=int, default=5)
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--device", default="")
    t.add_argument("--no-bf16", dest="bf16", action="store_false")
    t.add_argument("--fbank-on", choices=["device", "workers"], default="device",
                   help="compute fbank batched on the training device (default) or in workers")
    a = ap.parse_args(argv)

    if a.cmd == "bpe":
        print(train_bpe(a.text, a.out, a.vocab))
    elif a.cmd == "cmvn":
        entries = load_manifests(a.manifest, split=a.split)
        mean, istd, n = compute_cmvn(entries, a.num, workers=a.workers)
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump({"mean": mean.tolist(), "istd": istd.tolist(), "frames": n}, f)
        print(f"cmvn over {n} frames -> {a.out}")
    else:
        bad = [v for v in a.variant.split(",") if v not in VARIANT_LOOKAHEAD]
        if bad:
            ap.error(f"unknown variant(s) {bad}")
        if a.budget_minutes <= 0 and a.total_steps <= 0:
            ap.error("give --budget-minutes or --total-steps")
        train(a)


if __name__ == "__main__":
    main()
    # Leave without multiprocessing's exit-time join of worker processes (a worker that
    # missed its shutdown ignores SIGTERM and would hang it); orphaned DataLoader workers
    # notice the parent is gone and exit by themselves within seconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
