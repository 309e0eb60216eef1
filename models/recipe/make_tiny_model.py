#!/usr/bin/python3
"""Generates tests/data/tiny-model/: a small random-init ANCAT model for the C++ parity tests.

  /usr/bin/python3 models/recipe/make_tiny_model.py --out tests/data/tiny-model \
      --audio ../shared/data/real-speech/librispeech/test-other/3005-163389-0000.opus

and its twin with the online mean normalization (model.json subsampling.online_mean_frames):

  /usr/bin/python3 models/recipe/make_tiny_model.py --out tests/data/tiny-model-online-mean \
      --online-mean-frames 25 --name ancat-tiny-random-online-mean

F32 weights (exact parity), a 64-piece BPE trained on sentences generated here, and goldens
from 2 s of real speech. The arbiter weights are scaled until the goldens use every lookahead
choice and the beta variant differs from beta = 0, so the parity tests cover all paths.
"""
import argparse
import itertools
import os
import random
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audio_io import load_audio  # noqa: E402
from export import compute_golden, export_folder  # noqa: E402
from model import ModelConfig, Transducer, fbank  # noqa: E402

TINY = dict(num_mel_bins=80, channels=8, d_model=64, num_layers=2, num_heads=2, ffn_dim=128,
            left_context=8, lookahead_frames=(0, 1, 2, 4), vocab_size=64, embed_dim=32,
            pred_dim=64, joiner_dim=64)


def tiny_sentences(n: int = 400, seed: int = 0):
    """Voice-assistant style sentences from small templates (our own text)."""
    rng = random.Random(seed)
    names = ["anna", "bob", "carol", "david", "emma", "frank", "grace", "henry"]
    songs = ["yellow submarine", "hey jude", "the river", "blue skies", "morning light"]
    places = ["the station", "the airport", "main street", "the park", "home", "work"]
    nums = ["one", "two", "three", "four", "five", "ten", "fifteen", "twenty", "thirty"]
    units = ["minutes", "seconds", "hours"]
    templates = [
        lambda: f"call {rng.choice(names)}",
        lambda: f"send a text to {rng.choice(names)} saying i will be late",
        lambda: f"play {rng.choice(songs)}",
        lambda: f"navigate to {rng.choice(places)}",
        lambda: f"set a timer for {rng.choice(nums)} {rng.choice(units)}",
        lambda: f"wake me up at {rng.choice(nums)} in the morning",
        lambda: "what is the weather like today",
        lambda: f"turn {rng.choice(['on', 'off'])} the {rng.choice(['kitchen', 'bedroom'])} lights",
        lambda: f"add {rng.choice(['milk', 'bread', 'eggs', 'apples'])} to my shopping list",
        lambda: "there is iron they say in all our blood",
        lambda: "you do not mean that you thought me so silly",
    ]
    return [rng.choice(templates)() for _ in range(n)]


def train_bpe(sentences, vocab_size: int, out_prefix: str) -> str:
    """BPE per FORMAT.md: id 0 = <blk> (the pad piece), id 1 = <unk>, no bos/eos."""
    import sentencepiece as spm
    # The model file records model_prefix: train under a fixed relative name (reproducible).
    cwd = os.getcwd()
    os.chdir(os.path.dirname(out_prefix))
    try:
        _train(spm, sentences, vocab_size, os.path.basename(out_prefix))
    finally:
        os.chdir(cwd)
    return out_prefix + ".model"


def _train(spm, sentences, vocab_size, out_prefix):
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_prefix=out_prefix, vocab_size=vocab_size,
        model_type="bpe", pad_id=0, pad_piece="<blk>", unk_id=1, bos_id=-1, eos_id=-1,
        character_coverage=1.0, num_threads=1, minloglevel=2, normalization_rule_name="identity",
        shuffle_input_sentence=False)


def coverage_ok(model: Transducer, wav: torch.Tensor, beta: float) -> bool:
    g = compute_golden(model, wav, None, beta)["tensors"]
    k = len(model.cfg.lookahead_frames)
    used = set(g["arbiter_choices"].flatten().tolist())
    return len(used) == k and not torch.equal(g["arbiter_choices"], g["arbiter_choices_beta"])


def tune_joiner(model: Transducer, wav: torch.Tensor) -> None:
    """Makes random-init greedy search non-trivial: varied tokens with blanks in between.

    A random encoder's output is mostly a constant vector; centre and amplify the joiner's
    encoder projection so the frames matter, then set the blank bias to the median margin
    so that about half of the frames emit nothing.
    """
    feats = fbank(wav)
    e, _, _ = model.encode(feats[None], torch.tensor([feats.shape[0]]))
    j = model.joiner
    j.enc.weight.mul_(4.0)
    j.enc.bias.copy_(-(j.enc.weight @ e[0].mean(0)))
    j.out.bias.zero_()
    p = model.predictor(torch.zeros(2, dtype=torch.long))
    logits = j(j.enc(e[0]), j.pred(p))
    margin = logits[:, 1:].max(-1).values - logits[:, 0]
    j.out.bias[0] += float(margin.median())
    toks = model.greedy(e[0])
    if len(set(toks)) < 5 or not 0 < len(toks) < 2 * e.shape[1]:
        raise SystemExit(f"greedy output too uniform: {toks}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/tiny-model")
    ap.add_argument("--audio", default="../shared/data/real-speech/librispeech/test-other/"
                                        "3005-163389-0000.opus")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--online-mean-frames", type=int, default=0,
                    help="the model's online mean normalization (tests/data/tiny-model-online-mean: 25)")
    ap.add_argument("--name", default="ancat-tiny-random")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        bpe = train_bpe(tiny_sentences(), TINY["vocab_size"], os.path.join(tmp, "bpe"))
        cfg = ModelConfig(**TINY, online_mean_frames=a.online_mean_frames)
        model = Transducer(cfg).eval()
        wav = load_audio(a.audio)[: int(a.seconds * 16000)].contiguous()
        feats = fbank(wav)
        # Plausible CMVN stats (from this clip) so activations have a sane range.
        with torch.no_grad():
            model.frontend.cmvn_mean.copy_(feats.mean(0))
            model.frontend.cmvn_istd.copy_(1.0 / feats.std(0).clamp(min=1e-3))
            for scale in itertools.chain([1.0], (1.5 ** i for i in range(1, 20))):
                if scale > 1.0:
                    for layer in model.encoder.layers:
                        layer.arbiter.weight.mul_(1.5)
                        layer.arbiter.bias.mul_(1.5)
                if coverage_ok(model, wav, a.beta):
                    break
            else:
                raise SystemExit("could not reach full arbiter coverage")
            tune_joiner(model, wav)
        mj = export_folder(model, a.out, bpe, "f32", name=a.name, version="tiny-1",
                           golden_waveform=wav, golden_beta=a.beta)
    print("wrote", a.out, "arbiter scale", scale, mj["encoder"])


if __name__ == "__main__":
    main()
