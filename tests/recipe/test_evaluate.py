"""Search, LM and scoring used by evaluate.py, and the evaluate CLI on the tiny model."""
import json
import math
import os
import shutil

import pytest
import torch

from decode import ArpaLM, ErrorRate, beam_search, edit_distance, greedy_batch
from features import batch_fbank
from model import load_model_folder
from safetensors_io import read_safetensors
from corpus.audio_io import write_wav

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "tiny-model")

ARPA = """\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-1.0 <s> -0.3
-1.0 </s>
-0.5 the -0.2
-0.8 cat
-2.0 <unk>

\\2-grams:
-0.1 <s> the
-0.2 the cat

\\end\\
"""


def golden():
    g, meta = read_safetensors(os.path.join(TINY, "golden.safetensors"))
    return g, meta


def test_greedy_batch_equals_format_greedy():
    model, _ = load_model_folder(TINY)
    g, _ = golden()
    w = g["waveform"]
    wav = torch.zeros(3, w.numel())
    lens = torch.tensor([w.numel(), 20000, 9000])
    for i, n in enumerate(lens.tolist()):
        wav[i, :n] = w[:n]
    feats, flen = batch_fbank(wav, lens)
    with torch.no_grad():
        e, elen, _ = model.encode(feats, flen)
    batch = greedy_batch(model, e, elen)
    assert batch[0] == g["greedy_tokens"].tolist()
    for i in range(3):
        with torch.no_grad():
            ei, li, _ = model.encode(feats[i:i + 1, :int(flen[i])], flen[i:i + 1])
        assert batch[i] == model.greedy(ei[0])


def test_arpa_backoff(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    lm = ArpaLM(str(p))
    ln10 = math.log(10)
    assert lm.order == 2
    assert math.isclose(lm.score(("<s>",), "the"), -0.1 * ln10)
    assert math.isclose(lm.score(("the",), "cat"), -0.2 * ln10)
    # back-off: P(cat | <s>) = bo(<s>) * P(cat)
    assert math.isclose(lm.score(("<s>",), "cat"), (-0.3 - 0.8) * ln10)
    assert math.isclose(lm.score(("cat",), "dog"), -2.0 * ln10)  # unknown -> <unk>
    assert lm.known("cat") and not lm.known("dog")


def test_beam_search_runs_with_and_without_lm(tmp_path):
    import sentencepiece as spm
    model, _ = load_model_folder(TINY)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(TINY, "bpe.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    g, _ = golden()
    feats = g["features"][None]
    with torch.no_grad():
        e, elen, _ = model.encode(feats, torch.tensor([feats.shape[1]]))
    a = beam_search(model, e[0], int(elen[0]), pieces, beam=4)
    b = beam_search(model, e[0], int(elen[0]), pieces, beam=4)
    assert a == b and len(a) > 0 and all(0 < t < len(pieces) for t in a)
    assert len(a) <= int(elen[0])  # one symbol per frame at most
    assert beam_search(model, e[0], int(elen[0]), pieces, beam=4, blank_penalty=0.0) == a
    # a blank that never wins: a token on every frame
    d = beam_search(model, e[0], int(elen[0]), pieces, beam=4, blank_penalty=20.0)
    assert len(d) == int(elen[0])
    (tmp_path / "lm.arpa").write_text(ARPA)
    lm = ArpaLM(str(tmp_path / "lm.arpa"))
    c = beam_search(model, e[0], int(elen[0]), pieces, beam=4, lm=lm, lm_weight=2.0,
                    letter_cost=2.0)
    # a strong LM that knows no word of the output makes long unknown words expensive
    assert len(sp.decode(c).replace(" ", "")) <= len(sp.decode(a).replace(" ", ""))


def test_error_rate():
    assert edit_distance("abc", "abd") == 1 and edit_distance([], ["x"]) == 1
    er = ErrorRate()
    er.add("the cat sat", "the cat")
    er.add("hello", "hello")
    assert math.isclose(er.wer, 25.0) and er.n == 2


def test_evaluate_cli(tmp_path):
    import evaluate as E
    g, meta = golden()
    x = g["waveform"].numpy()
    write_wav(str(tmp_path / "a.wav"), x)
    write_wav(str(tmp_path / "b.wav"), x[:20000])
    man = tmp_path / "set.jsonl"
    with open(man, "w") as f:
        f.write(json.dumps({"audio": "a.wav", "duration": 2.0, "text": meta["text"],
                            "voice": "v1"}) + "\n")
        f.write(json.dumps({"audio": "b.wav", "duration": 1.25, "text": "they swarmed",
                            "voice": "v2"}) + "\n")
    out = tmp_path / "out"
    args = ["--model", f"tiny={TINY}", "--set", f"s={man}", "--betas", "0,1,2,8",
            "--out", str(out), "--device", "cpu"]
    if shutil.which("pocketsphinx_continuous"):
        args += ["--peer", "pocketsphinx", "--peer-jobs", "2"]
    E.main(args)
    rows = json.load(open(out / "results.json"))
    tiny = [r for r in rows if r["model"] == "tiny"]
    assert [r["beta"] for r in tiny] == [0.0, 1.0, 2.0, 8.0]
    # batched decoding equals the one-utterance reference path (kaldi fbank + FORMAT greedy)
    import sentencepiece as spm
    from audio_io import load_audio
    from model import fbank
    model, _ = load_model_folder(TINY)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(TINY, "bpe.model"))
    hyps = [json.loads(l) for l in open(out / "hyps_tiny_b0_s.jsonl")]
    for h in hyps:
        f = fbank(load_audio(h["audio"]))
        with torch.no_grad():
            e, _, _ = model.encode(f[None], torch.tensor([f.shape[0]]))
        assert h["hyp"] == sp.decode(model.greedy(e[0]))
    assert set(tiny[0]["per_voice_wer"]) == {"v1", "v2"}
    lat = [r["lat_mean_ms"] for r in tiny]
    assert lat == sorted(lat, reverse=True) and lat[-1] < lat[0]  # beta lowers latency
    assert tiny[-1]["lat_mean_ms"] == 0.0  # beta 8 always picks W = 0
    for f in ("table.md", "wer_latency.png", "lookahead.png"):
        assert (out / f).stat().st_size > 0
    if shutil.which("pocketsphinx_continuous"):
        assert any(r["model"] == "pocketsphinx" for r in rows)


def test_model_card_from_results(tmp_path):
    import card
    import evaluate as E
    g, meta = golden()
    write_wav(str(tmp_path / "a.wav"), g["waveform"].numpy())
    man = tmp_path / "set.jsonl"
    man.write_text(json.dumps({"audio": "a.wav", "duration": 2.0, "text": "they swarmed up",
                               "voice": "v1"}) + "\n")
    E.main(["--model", f"tiny={TINY}", "--set", f"s={man}", "--betas", "0,2",
            "--out", str(tmp_path / "ev"), "--device", "cpu"])
    model_dir = tmp_path / "model"
    shutil.copytree(TINY, model_dir)
    card.main(["--model", str(model_dir), "--eval", str(tmp_path / "ev"), "--name", "tiny"])
    text = (model_dir / "MODEL_CARD.md").read_text()
    rows = json.load(open(tmp_path / "ev" / "results.json"))
    assert f"{rows[0]['wer']:.1f} / {rows[0]['cer']:.1f}" in text
    assert "![WER against mean algorithmic latency](wer_latency.png)" in text
    assert (model_dir / "lookahead.png").exists()
