"""Manifests, datasets, length-bucketed batches, SpecAugment.

Manifest: JSONL, one utterance a line, at least {"audio", "duration", "text"}; "voice" and
"split" are optional. A relative "audio" path is taken relative to the manifest's folder.
A manifest argument may carry a weight, "PATH:2.5": each entry is then seen 2.5 times an
epoch on average (the integer part always, the fraction by chance), to upweight real speech.
"""
import glob
import json
import math
import os
import random
from typing import Callable, Iterator, List, Optional, Sequence

import torch

from audio_io import load_audio
from model import fbank, num_fbank_frames


def parse_manifest_arg(arg: str):
    path, weight = arg, 1.0
    head, sep, tail = arg.rpartition(":")
    if sep and head and tail.replace(".", "", 1).isdigit():
        path, weight = head, float(tail)
    return path, weight


def read_manifest(path: str, split: Optional[str] = None, max_duration: float = 1e9,
                  min_duration: float = 0.1) -> List[dict]:
    base = os.path.dirname(os.path.abspath(path))
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            if split is not None and e.get("split", split) != split:
                continue
            d = float(e.get("duration", 0.0))
            if not (min_duration <= d <= max_duration) or not e.get("text", "").strip():
                continue
            if not os.path.isabs(e["audio"]):
                e["audio"] = os.path.join(base, e["audio"])
            e.setdefault("voice", e.get("speaker", e.get("corpus", "unknown")))
            out.append(e)
    return out


def manifest_paths(args: Sequence[str]) -> List[tuple]:
    """(path, weight) of every manifest; a path with * or ? is a glob (sorted matches), so
    manifests written while training runs (more voices arriving) can join at a reload."""
    out = []
    for a in args:
        path, w = parse_manifest_arg(a)
        if any(c in path for c in "*?["):
            out.extend((p, w) for p in sorted(glob.glob(path)))
        else:
            out.append((path, w))
    return out


def manifests_signature(args: Sequence[str]) -> tuple:
    """Changes when a manifest appears or is rewritten."""
    sig = []
    for path, _ in manifest_paths(args):
        try:
            st = os.stat(path)
            sig.append((path, st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append((path, 0, 0))
    return tuple(sig)


def load_manifests(args: Sequence[str], split: Optional[str] = None,
                   max_duration: float = 1e9) -> List[dict]:
    """Entries of all manifests, each with its sampling weight in e["weight"]."""
    entries = []
    for path, w in manifest_paths(args):
        for e in read_manifest(path, split, max_duration):
            e["weight"] = w * float(e.get("weight", 1.0))
            entries.append(e)
    return entries


class SpeechDataset(torch.utils.data.Dataset):
    """Returns (fbank [T,80] before CMVN, or the waveform [N] with waveform=True, token ids, index).

    waveform=True leaves the fbank to the training loop (features.batch_fbank on the GPU), so
    the DataLoader workers only read and augment audio.
    """

    def __init__(self, entries: List[dict], sp_model: str,
                 augment_factory: Optional[Callable] = None, dither: float = 0.0,
                 waveform: bool = False, augment_prob: float = 1.0, seed: int = 0):
        self.entries = entries
        self.waveform = waveform
        self.sp_model = sp_model
        self.augment_factory = augment_factory  # seed -> callable(wave[, babble=list])
        self.augment_prob = augment_prob
        self.dither = dither
        self.seed = seed
        self.epoch = 0
        self._sp = None
        self._aug = None
        self._rng = None
        self._babble: List[torch.Tensor] = []
        self._aug_babble = False

    def _augmenter(self):
        """Built lazily in each DataLoader worker with its own seed (forked copies of one
        augmenter would draw identical random streams)."""
        if self._aug is None:
            info = torch.utils.data.get_worker_info()
            wid = info.id if info is not None else 0
            seed = (self.seed * 1009 + self.epoch) * 101 + wid
            self._aug = self.augment_factory(seed)
            self._rng = random.Random(seed)
            import inspect
            try:
                self._aug_babble = "babble" in inspect.signature(self._aug).parameters
            except (TypeError, ValueError):
                self._aug_babble = False
        return self._aug

    def __len__(self):
        return len(self.entries)

    def tokens(self, text: str) -> List[int]:
        if self._sp is None:  # built lazily: sentencepiece objects don't pickle into workers
            import sentencepiece as spm
            self._sp = spm.SentencePieceProcessor(model_file=self.sp_model)
        return self._sp.encode(text.lower())

    def __getitem__(self, i):
        e = self.entries[i]
        try:
            wav = load_audio(e["audio"])
            if self.augment_factory is not None:
                aug = self._augmenter()
                if self._rng.random() < self.augment_prob:
                    clean = wav
                    wav = aug(wav, babble=self._babble) if self._aug_babble and self._babble \
                        else aug(wav)
                    # a small per-worker bank of other utterances for babble noise
                    if self._aug_babble and clean.numel() > 16000:
                        if len(self._babble) >= 16:
                            self._babble.pop(self._rng.randrange(16))
                        self._babble.append(clean[:16000 * 6].clone())
            if wav.numel() < 400 * 8:
                raise ValueError("too short")
            wav = wav.clamp(-1.0, 1.0).float()
            feats = wav if self.waveform else fbank(wav, dither=self.dither)
        except Exception as ex:  # one bad file must not stop a long run
            print(f"data: skipping {e['audio']}: {ex}", flush=True)
            return None
        return feats, torch.tensor(self.tokens(e["text"]), dtype=torch.long), i


def collate(items):
    items = [x for x in items if x is not None and len(x[1]) > 0]
    if not items:
        return None
    feats = [x[0] for x in items]  # [T, 80] fbank or [N] waveforms
    toks = [x[1] for x in items]
    flen = torch.tensor([f.shape[0] for f in feats])
    tlen = torch.tensor([len(t) for t in toks])
    fpad = torch.zeros((len(items), int(flen.max())) + tuple(feats[0].shape[1:]))
    tpad = torch.zeros(len(items), int(tlen.max()), dtype=torch.long)
    for i, (f, t) in enumerate(zip(feats, toks)):
        fpad[i, :f.shape[0]] = f
        tpad[i, :len(t)] = t
    if feats[0].dim() == 1:
        return {"wav": fpad, "wav_lens": flen, "tokens": tpad, "token_lens": tlen,
                "index": torch.tensor([x[2] for x in items])}
    return {"feats": fpad, "feat_lens": flen, "tokens": tpad, "token_lens": tlen,
            "index": torch.tensor([x[2] for x in items])}


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of similar durations, at most max_frames fbank frames (padded) per batch.

    Each epoch draws the weighted multiset of entries, sorts by duration with jitter, cuts
    batches, and shuffles the batches. Deterministic in (seed, epoch).
    """

    def __init__(self, entries: List[dict], max_frames: int, seed: int = 0, epoch: int = 0,
                 max_batch: int = 512):
        self.durs = [float(e["duration"]) for e in entries]
        self.weights = [float(e.get("weight", 1.0)) for e in entries]
        self.max_frames = max_frames
        self.max_batch = max_batch
        self.seed = seed
        self.epoch = epoch
        self._batches = self._make()

    def set_epoch(self, epoch: int):
        self.epoch = epoch
        self._batches = self._make()

    def _make(self) -> List[List[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        picks = []
        for i, w in enumerate(self.weights):
            n = int(math.floor(w)) + (1 if rng.random() < w - math.floor(w) else 0)
            picks.extend([i] * n)
        keyed = sorted(picks, key=lambda i: self.durs[i] * (1.0 + 0.1 * rng.random()))
        batches, cur, cur_max = [], [], 0
        for i in keyed:
            frames = num_fbank_frames(int(self.durs[i] * 16000))
            new_max = max(cur_max, frames)
            if cur and (new_max * (len(cur) + 1) > self.max_frames or len(cur) >= self.max_batch):
                batches.append(cur)
                cur, new_max = [], frames
            cur.append(i)
            cur_max = new_max
        if cur:
            batches.append(cur)
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self._batches)

    def __len__(self):
        return len(self._batches)


def spec_augment(feats: torch.Tensor, lens: torch.Tensor, fill: torch.Tensor,
                 num_freq_masks: int = 2, freq_width: int = 15, time_mask_ratio: float = 0.04,
                 time_width: int = 20, max_time_masks: int = 10,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """SpecAugment on raw fbank [B,T,F]; masked cells get `fill` (the CMVN mean -> 0 after CMVN)."""
    b, t, f = feats.shape
    out = feats.clone()
    dev = feats.device
    fr = torch.arange(f, device=dev)
    tr = torch.arange(t, device=dev)
    mask = torch.zeros(b, t, f, dtype=torch.bool, device=dev)
    for _ in range(num_freq_masks):
        w = torch.randint(0, freq_width + 1, (b, 1), device=dev)
        s = (torch.rand(b, 1, device=dev) * (f - w).clamp(min=1)).long()
        mask |= ((fr[None] >= s) & (fr[None] < s + w))[:, None, :]
    n_time = int(min(max_time_masks, max(1, math.ceil(time_mask_ratio * t / max(1, time_width) * 2))))
    for _ in range(n_time):
        w = (torch.rand(b, 1, device=dev) * torch.clamp(lens[:, None].float() * 0.05, max=time_width)).long()
        s = (torch.rand(b, 1, device=dev) * (lens[:, None] - w).clamp(min=1)).long()
        mask |= ((tr[None] >= s) & (tr[None] < s + w))[:, :, None]
    return torch.where(mask, fill.view(1, 1, f).to(out.dtype), out)
