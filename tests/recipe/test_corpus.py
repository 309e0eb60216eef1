"""Corpus tools: normalization, text generation and splits, held-out voice guard, audio I/O,
LibriSpeech import, WER. Fast, no TTS engine needed."""
import gzip
import json
import math
import os
import random
import struct
import wave

import numpy as np
import pytest

from corpus import entities as E
from corpus import librispeech as LS
from corpus import lm as LM
from corpus import render as R
from corpus import text as T
from corpus import voices as V
from corpus.audio_io import read_wav, resample, write_wav
from corpus.normalize import is_clean, normalize, number_words, ordinal_words, year_words
from corpus.wer import ErrorRate, edit_distance

SHARED_REAL = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "real-speech")


# ----------------------------------------------------------------------------- normalize
@pytest.mark.parametrize("n,words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"),
                                     (105, "one hundred five"), (2405, "two thousand four hundred five"),
                                     (1000000, "one million")])
def test_number_words(n, words):
    assert number_words(n) == words


def test_ordinals_and_years():
    assert ordinal_words(1) == "first"
    assert ordinal_words(22) == "twenty second"
    assert ordinal_words(30) == "thirtieth"
    assert ordinal_words(12) == "twelfth"
    assert year_words(1984) == "nineteen eighty four"
    assert year_words(2005) == "two thousand five"
    assert year_words(1905) == "nineteen oh five"


@pytest.mark.parametrize("src,spoken", [
    ("Set an alarm for 7:30 am on Dec 3rd.", "set an alarm for seven thirty a m on december third"),
    ("It costs $5.99, 20% off!", "it costs five dollars and ninety nine cents twenty percent off"),
    ("Mr. Smith had 2,500 cows in 1984.", "mister smith had two thousand five hundred cows in nineteen eighty four"),
    ("Wake me at 6pm", "wake me at six p m"),
    ("meet at 12:05", "meet at twelve oh five"),
    ("Don't 'quote' me", "don't quote me"),
    ("pi is 3.14", "pi is three point one four"),
    ("dial 0 4 1", "dial zero four one"),
])
def test_normalize(src, spoken):
    out = normalize(src)
    assert out == spoken
    assert is_clean(out)


def test_normalize_rejects_unspeakable():
    assert normalize("The NASA launch") is None          # acronym: ambiguous reading
    assert normalize("naïve café") in ("naive cafe", None)
    assert normalize("x <- y | z") in (None, "x y z")
    assert normalize("") is None


# ----------------------------------------------------------------------------- text
def _general_file(tmp_path, n=400):
    rng = random.Random(3)
    words = "the a cat dog runs quickly over lazy river bright morning sings under old tree".split()
    lines = sorted({" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(n)})
    p = tmp_path / "general.txt.gz"
    with gzip.open(p, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return str(p), lines


def test_requests_are_clean_and_varied():
    cat = E.Catalog(seed=1)
    reqs = T.generate_requests(cat.pool("train"), 3000, seed=5)
    assert len(reqs) == 3000 and len(set(reqs)) == 3000
    assert all(is_clean(s) for s in reqs)
    assert all(not any(ch.isdigit() for ch in s) for s in reqs)
    first_words = {s.split()[0] for s in reqs}
    assert {"call", "play", "set", "navigate", "turn", "add"} <= first_words | {
        w for s in reqs for w in s.split()[:2]}


def test_catalog_heldout_entities_are_disjoint():
    cat = E.Catalog(seed=1)
    for k in cat.train:
        assert cat.test[k], k
        assert not set(cat.train[k]) & set(cat.test[k]), k


def test_build_splits_disjoint_and_deterministic(tmp_path):
    general, lines = _general_file(tmp_path)
    s1 = T.build(general, str(tmp_path / "a"), seed=2, n_va=2000, n_test=30, gen_test_frac=0.1)
    s2 = T.build(general, str(tmp_path / "b"), seed=2, n_va=2000, n_test=30, gen_test_frac=0.1)
    assert s1 == s2
    train = T.read_train(str(tmp_path / "a"))
    assert open(tmp_path / "a" / "test_va.txt").read() == open(tmp_path / "b" / "test_va.txt").read()
    train_set = {s for _, s in train}
    test_va = [l.strip() for l in open(tmp_path / "a" / "test_va.txt") if l.strip()]
    test_gen = [l.strip() for l in open(tmp_path / "a" / "test_gen.txt") if l.strip()]
    assert len(test_va) == 30 and test_gen
    assert not train_set & set(test_va)
    assert not train_set & set(test_gen)
    # every held-out request carries a word that no training request has
    ents = json.load(open(tmp_path / "a" / "entities.json"))
    held = {w for v in ents["test"].values() for name in v for w in name.split()}
    va_train_words = {w for k, s in train if k == "va" for w in s.split()}
    for s in test_va:
        assert any(w in held and w not in va_train_words for w in s.split()), s
    assert sum(1 for k, _ in train if k == "gen") + len(
        [s for s in lines if T._hash_frac(s, "seed2") < 0.1]) == len(lines)


# ----------------------------------------------------------------------------- voices
def test_training_voice_list_excludes_heldout_and_espeak_is_minority():
    vs = V.all_voices(espeak_share=0.10)
    assert not any(V.is_heldout(v) for v in vs)
    tot = sum(v.weight for v in vs)
    esp = sum(v.weight for v in vs if v.engine == "espeak")
    assert abs(esp / tot - 0.10) < 1e-6
    engines = {v.engine for v in vs}
    assert engines == {"flite", "festival", "pico", "mbrola", "espeak"}
    assert len([v for v in vs if v.name.endswith("-en") and v.engine == "mbrola"]) == 15
    assert not any(V.is_dev_only(v) for v in vs)


@pytest.mark.parametrize("voice", V.dev_only_voices())
def test_dev_only_voices_render_the_dev_set_and_nothing_else(voice):
    assert V.is_dev_only(voice) and not V.is_heldout(voice)
    V.check_allowed(voice, "dev")
    for split in ("train", "test_va", "test_gen"):
        with pytest.raises(V.HeldOutVoiceError, match="unheard-voice dev set"):
            V.check_allowed(voice, split)
    with pytest.raises(V.HeldOutVoiceError):  # named on a command line only
        V.check_allowed(V.Voice("espeak", "en-us"), "train", ["espeak-ng", "-v", "mb-de6-en", "hi"])


@pytest.mark.parametrize("voice", V.test_voices())
def test_heldout_voices_refused_for_training(voice):
    with pytest.raises(V.HeldOutVoiceError):
        V.check_allowed(voice, "train")
    V.check_allowed(voice, "test_va")  # allowed for the test sets


def test_heldout_guard_checks_command_lines_too():
    v = V.Voice("espeak", "en-us")
    with pytest.raises(V.HeldOutVoiceError):
        V.check_allowed(v, "train", ["espeak-ng", "-v", "mb-us3", "hi"])
    with pytest.raises(V.HeldOutVoiceError):
        R.make_jobs([("va", "hello there", V.Voice("pico", "en-GB"), {"rate": 1, "pitch": 1})],
                    "/tmp/none", "/tmp/none", "train", "/")


def test_heldout_guard_ignores_paths_and_text():
    """A temporary folder or a sentence that happens to contain "us3" is not a voice."""
    env = V.Env("/opt/tts")
    pros = {"rate": 1.0, "pitch": 1.0}
    for v in (V.Voice("mbrola", "mb-pl1-en"), V.Voice("pico", "en-US"), V.Voice("flite", "slt")):
        argv = V.command(env, v, "the bus3 left", "/tmp/rc_xus3y/uc1.wav", pros)
        V.check_allowed(v, "train", argv)
    with pytest.raises(V.HeldOutVoiceError):
        V.check_allowed(V.Voice("pico", "en-US"), "train", ["pico2wave", "-l", "en-GB", "x"])


def test_commands_carry_prosody():
    env = V.Env("/opt/tts")
    pros = {"rate": 1.2, "pitch": 0.9}
    fl = V.command(env, V.Voice("flite", "slt"), "hi there", "/tmp/o.wav", pros)
    assert fl[0] == "/opt/tts/usr/bin/flite_cmu_us_slt" and "duration_stretch=1.2" in fl
    es = V.command(env, V.Voice("mbrola", "mb-us1"), "hi there", "/tmp/o.wav", pros)
    assert "--path=/opt/tts/usr/lib/x86_64-linux-gnu" in es and es[es.index("-s") + 1] == "137"
    pe = env.proc_env()
    assert pe["LD_LIBRARY_PATH"].startswith("/opt/tts/usr/lib/x86_64-linux-gnu")
    scm = V.festival_script(V.Voice("festival", "kal_diphone"), [('say "x"', "/tmp/a.wav", pros)])
    assert scm.startswith("(voice_kal_diphone)") and "Duration_Stretch 1.2" in scm and '"x"' not in scm


def test_plan_is_deterministic_and_mixes_kinds():
    sents = [("va", f"call person {i}") for i in range(300)] + [("gen", f"a general line {i}") for i in range(300)]
    vs = V.all_voices()
    p1 = R.plan(sents, vs, 200, seed=4)
    p2 = R.plan(sents, vs, 200, seed=4)
    assert [(k, s, v.id) for k, s, v, _ in p1] == [(k, s, v.id) for k, s, v, _ in p2]
    assert len({s for _, s, _, _ in p1}) == 200
    kinds = [k for k, *_ in p1]
    assert 0.4 < kinds.count("va") / 200 < 0.7


# ----------------------------------------------------------------------------- audio
def test_wav_roundtrip_and_resample(tmp_path):
    t = np.arange(22050) / 22050.0
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    p = str(tmp_path / "a.wav")
    write_wav(p, x, 22050)
    y, sr = read_wav(p)
    assert sr == 22050 and np.max(np.abs(x - y)) < 1e-4
    z = resample(y, 22050, 16000)
    assert len(z) == 16000
    peak = np.argmax(np.abs(np.fft.rfft(z))) * 16000 / len(z)
    assert abs(peak - 440) <= 1.0


def test_finish_trims_and_converts(tmp_path):
    sr = 8000
    x = np.zeros(sr * 2, np.float32)
    x[sr // 2: sr] = 0.3 * np.sin(2 * np.pi * 300 * np.arange(sr // 2) / sr)
    raw = str(tmp_path / "raw.wav")
    write_wav(raw, x, sr)
    out = str(tmp_path / "out.wav")
    dur = R._finish(raw, out, sr)
    with wave.open(out) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        assert abs(w.getnframes() / 16000 - dur) < 1e-6
    assert 0.5 <= dur <= 0.85  # 0.5 s tone + at most 150 ms padding each side


# ----------------------------------------------------------------------------- librispeech
def test_librispeech_import(tmp_path):
    root = tmp_path / "LibriSpeech" / "dev"
    for spk, chap in (("84", "121123"), ("3005", "163389")):
        d = root / spk / chap
        d.mkdir(parents=True)
        lines = []
        for i in range(2):
            uid = f"{spk}-{chap}-{i:04d}"
            write_wav(str(d / f"{uid}.wav"), np.zeros(16000 * (i + 1), np.float32))
            lines.append(f"{uid} HELLO WORLD NUMBER {i}")
        (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "m" / "train.jsonl"
    dev = tmp_path / "m" / "dev.jsonl"
    LS.main([str(root), "--out", str(out), "--dev-speakers", "3005", "--dev-out", str(dev)])
    rows = [json.loads(l) for l in open(out)]
    drows = [json.loads(l) for l in open(dev)]
    assert len(rows) == 2 and len(drows) == 2
    assert rows[0]["text"] == "hello world number zero" and rows[1]["duration"] == 2.0
    assert os.path.exists(os.path.join(tmp_path / "m", rows[0]["audio"]))
    assert all(r["speaker"] == "librispeech_3005" for r in drows)


@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED_REAL, "manifest.jsonl")),
                    reason="../shared/data/real-speech not present")
def test_opus_duration_matches_real_speech_manifest():
    rows = [json.loads(l) for l in open(os.path.join(SHARED_REAL, "manifest.jsonl"))][:50]
    for r in rows:
        d = LS.opus_duration(os.path.join(SHARED_REAL, r["audio"]))
        assert abs(d - r["duration"]) < 0.01, r["audio"]


def test_real_dev_speakers():
    assert R.REAL_DEV_SPEAKERS == {"librispeech_3005", "librispeech_367"}


# ----------------------------------------------------------------------------- wer / lm
def test_wer():
    assert edit_distance("a b c".split(), "a x c d".split()) == 2
    e = ErrorRate()
    e.add("turn on the lights", "turn the light")
    e.add("call mom", "call mom")
    assert e.words == 6 and e.word_err == 2 and math.isclose(e.wer, 2 / 6)
    assert 0 < e.cer < e.wer


def test_arpa_counts(tmp_path):
    p = tmp_path / "x.arpa"
    p.write_text("\n\\data\\\nngram  1=     3\nngram  2=     2\n\n\\1-grams:\n-1 a\n")
    assert LM.arpa_counts(str(p)) == {1: 3, 2: 2}


# ----------------------------------------------------------------------------- LM mixing
def _toy_arpa(path, uni, bi):
    """Write a normalized bigram ARPA: unigram probs `uni`, explicit bigrams `bi[h][w]`."""
    lines = ["\\data\\", f"ngram 1={len(uni)}", f"ngram 2={sum(len(v) for v in bi.values())}", "",
             "\\1-grams:"]
    for w, p in uni.items():
        ws = bi.get(w, {})
        bow = (1 - sum(ws.values())) / (1 - sum(uni[x] for x in ws)) if ws else 1.0
        lines.append(f"{math.log10(p):.10f}\t{w}\t{math.log10(bow):.10f}")
    lines += ["", "\\2-grams:"]
    for h, ws in bi.items():
        for w, p in ws.items():
            lines.append(f"{math.log10(p):.10f}\t{h} {w}")
    lines += ["", "\\end\\"]
    path.write_text("\n".join(lines) + "\n")


def test_mix_lm_is_normalized(tmp_path):
    from corpus import mix_lm as M
    a, b = tmp_path / "a.arpa", tmp_path / "b.arpa"
    _toy_arpa(a, {"x": 0.5, "y": 0.3, "</s>": 0.2}, {"x": {"y": 0.6, "</s>": 0.1}})
    _toy_arpa(b, {"x": 0.2, "y": 0.2, "z": 0.4, "</s>": 0.2}, {"y": {"z": 0.7}, "x": {"x": 0.5}})
    probs, bows = M.mix(str(a), str(b), 0.3)
    out = tmp_path / "m.arpa"
    M.write_arpa(probs, bows, str(out))
    mixed = M.Backoff(*M.read_arpa(str(out)))
    A, B = M.Backoff(*M.read_arpa(str(a))), M.Backoff(*M.read_arpa(str(b)))
    vocab = ["x", "y", "z", "</s>"]
    for h in [(), ("x",), ("y",), ("z",)]:
        assert abs(sum(mixed.p(h, w) for w in vocab) - 1.0) < 1e-4, h
        for w in vocab:  # explicit n-grams carry the exact mixture
            if (h + (w,)) in probs[len(h) + 1]:
                assert abs(mixed.p(h, w) - (0.3 * A.p(h, w) + 0.7 * B.p(h, w))) < 1e-4


@pytest.mark.skipif(not os.path.exists("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"),
                    reason="pocketsphinx-en-us not installed")
def test_sphinx_trie_reader_matches_pocketsphinx_scores(tmp_path):
    from corpus import sphinx_lm as S
    t = S.read_trie(S.DEFAULT_LM)
    assert t["order"] == 3 and len(t["words"]) == t["counts"][0]
    i = t["words"].index("'bout")
    assert abs(t["uni"][i]["prob"] * S.LOG10_OF_BASE - -6.2831) < 1e-3
    # trigram and bigram values pocketsphinx's own NGramModel.prob returns (log10):
    # P(effect | 'cause and) = -0.7075, P(the | of) = -0.6985
    found = {}
    for n, prob, bo, ids, ok in S.enumerate_ngrams(t):
        for words, want in ((("'cause", "and", "effect"), -0.7075), (("of", "the"), -0.6985)):
            if len(words) != n:
                continue
            target = [t["words"].index(w) for w in words]
            hit = np.nonzero(ok & np.all(ids == np.array(target), axis=1))[0]
            assert len(hit) == 1
            found[words] = prob[hit[0]]
            assert abs(prob[hit[0]] - want) < 2e-3
    assert len(found) == 2
