"""finalize.py's pieces (dev text, LM fitting, folder assembly), evaluate.py's cached peer
hypotheses and one-pass greedy+beam, card.py's data/target/per-voice sections."""
import argparse
import gzip
import json
import os
import shutil

import pytest

import card
import evaluate as E
import finalize as F
from safetensors_io import read_safetensors
from corpus.audio_io import write_wav

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "tiny-model")

ARPA = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0 <s> -0.3
-1.0 </s>
-0.5 the -0.2
-0.8 cat

\\2-grams:
-0.1 <s> the
-0.2 the cat

\\end\\
"""


def test_dev_text_is_disjoint_from_training_and_test_text(tmp_path):
    from corpus import text as T
    general = [f"general sentence number {w} is here" for w in
               ("one two three four five six seven eight nine ten eleven twelve".split() * 40)]
    general = [f"{s} {i}" for i, s in enumerate(general)]
    gpath = tmp_path / "general.txt.gz"
    with gzip.open(gpath, "wt") as f:
        f.write("\n".join(general) + "\n")
    (tmp_path / T.PROPER_FILE).write_text("\n".join(["boston", "denver", "miller", "parker"]) + "\n")
    T.build(str(gpath), str(tmp_path), seed=3, n_va=300, n_test=5, gen_test_frac=0.2)
    dev = F.dev_texts(str(tmp_path), 8, 8)
    train = {s for _, s in T.read_train(str(tmp_path))}
    test = {ln.strip() for n in ("test_va.txt", "test_gen.txt")
            for ln in open(tmp_path / n) if ln.strip()}
    assert dev["va"] and dev["gen"]
    assert not (set(dev["va"]) | set(dev["gen"])) & (train | test)
    assert dev["overlap_with_test"] == 0


def test_fit_lm_keeps_a_small_lm_and_drops_one_that_cannot_fit(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    ok = F.fit_lm(str(p), 10_000, str(tmp_path / "w"))
    assert ok["file"] == str(p) and ok["prune_threshold"] == 0.0
    if not os.path.exists("/usr/lib/irstlm/bin/prune-lm"):
        pytest.skip("irstlm not installed")
    # Unigrams are never pruned: a budget below their size cannot be met.
    bad = F.fit_lm(str(p), 20, str(tmp_path / "w"))
    assert bad["file"] is None and "unigrams" in bad["why"]


def test_assemble_renames_and_records_the_tuned_lm(tmp_path):
    lm = tmp_path / "x.arpa"
    lm.write_text(ARPA)

    class A:
        ancat = TINY
        name = "ancat-en"
    out = tmp_path / "folder"
    F.assemble(A, {"lm": str(lm), "weight": 0.3, "word_bonus": 0.5}, str(out))
    mj = json.load(open(out / "model.json"))
    assert mj["name"] == "ancat-en"
    assert mj["lm"] == {"file": "lm.arpa", "weight": 0.3, "word_bonus": 0.5}
    assert (out / "lm.arpa").read_text() == ARPA
    for f in ("weights.safetensors", "bpe.model", "golden.safetensors"):
        assert (out / f).read_bytes() == open(os.path.join(TINY, f), "rb").read()
    F.assemble(A, {"lm": None, "weight": 0.0, "word_bonus": 0.0}, str(out))
    assert json.load(open(out / "model.json"))["lm"] is None
    assert not (out / "lm.arpa").exists()


def _one_utt_set(tmp_path):
    g, _ = read_safetensors(os.path.join(TINY, "golden.safetensors"))
    os.makedirs(tmp_path / "audio", exist_ok=True)
    write_wav(str(tmp_path / "audio" / "a.wav"), g["waveform"].numpy())
    write_wav(str(tmp_path / "audio" / "b.wav"), g["waveform"].numpy()[:12000])
    man = tmp_path / "set.jsonl"
    man.write_text("\n".join(json.dumps(r) for r in (
        {"audio": "audio/a.wav", "duration": 2.0, "text": "they swarmed up", "voice": "v1"},
        {"audio": "audio/b.wav", "duration": 0.75, "text": "the cat", "voice": "v2"})) + "\n")
    return man


def test_evaluate_scores_cached_peer_hypotheses_on_the_same_files(tmp_path):
    man = _one_utt_set(tmp_path)
    hyps = tmp_path / "peer.hyps.jsonl"
    hyps.write_text(json.dumps({"audio": "audio/a.wav", "hyp": "they swarmed up"}) + "\n" +
                    json.dumps({"audio": "audio/b.wav", "hyp": "a cat"}) + "\n" +
                    json.dumps({"audio": "audio/elsewhere.wav", "hyp": "x"}) + "\n")
    from data import read_manifest
    res = E.run_pocketsphinx(read_manifest(str(man)), 1, E.read_peer_hyps(str(hyps)))
    assert res["utts"] == 2 and res["words"] == 5
    assert res["wer"] == pytest.approx(100.0 / 5)
    assert res["per_voice_wer"] == {"v1": 0.0, "v2": 50.0}


def test_evaluate_greedy_and_beam_in_one_pass(tmp_path):
    man = _one_utt_set(tmp_path)
    lm = tmp_path / "lm.arpa"
    lm.write_text(ARPA)
    common = ["--model", f"tiny={TINY}", "--set", f"s={man}", "--betas", "0,2", "--device", "cpu"]
    E.main(common + ["--search", "greedy,beam", "--lm", str(lm), "--lm-weight", "0.3",
                     "--word-bonus", "0.5", "--out", str(tmp_path / "both")])
    E.main(common + ["--out", str(tmp_path / "greedy")])
    both = json.load(open(tmp_path / "both" / "results.json"))
    greedy = json.load(open(tmp_path / "greedy" / "results.json"))
    assert [(r["search"], r["beta"]) for r in both] == [
        ("greedy", 0.0), ("beam", 0.0), ("greedy", 2.0), ("beam", 2.0)]
    assert all(r["lm"] and r["lm_weight"] == 0.3 for r in both if r["search"] == "beam")
    assert not any(r["lm"] for r in both if r["search"] == "greedy")
    g_both = [r for r in both if r["search"] == "greedy"]
    for x, y in zip(g_both, greedy):  # the shared encoder pass changes nothing
        assert (x["wer"], x["lat_mean_ms"], x["lat_p90_ms"]) == (y["wer"], y["lat_mean_ms"], y["lat_p90_ms"])
    for b, g in zip([r for r in both if r["search"] == "beam"], g_both):
        assert b["lat_mean_ms"] == g["lat_mean_ms"]
    assert (tmp_path / "both" / "hyps_tiny_beam_b2_s.jsonl").exists()
    table = (tmp_path / "both" / "table.md").read_text()
    assert "| tiny | 0 | greedy |" in table and "| tiny | 0 | beam + LM |" in table


def _rows():
    def r(model, s, wer, lat=None, search="beam", lm=True, beta=0.0, pv=None):
        d = {"model": model, "set": s, "wer": wer, "cer": wer / 2, "beta": beta,
             "search": search, "lm": lm, "per_voice_wer": pv or {"v1": wer}}
        if lat is not None:
            d["lat_mean_ms"], d["lat_p90_ms"] = lat, lat * 2
        return d
    return [r("causal", "test_va", 40.0, 0), r("fixed", "test_va", 20.0, 1000),
            r("ancat", "test_va", 30.0, 500, search="greedy", lm=False),
            r("ancat", "test_va", 20.5, 300, pv={"v1": 10.0, "v2": 31.0}),
            r("ancat", "test_va", 50.0, 100, beta=4.0),
            {"model": "pocketsphinx", "set": "test_va", "wer": 45.0, "cer": 20.0, "beta": None,
             "per_voice_wer": {"v1": 44.0, "v2": 46.0}}]


def test_card_targets_use_beam_lm_at_beta0_and_compare_with_fixed_and_causal():
    t = card.targets_section(_rows(), "ancat")
    assert "| held-out voices, requests: WER <= 25% | 20.5% | yes |" in t
    assert "20.5% vs 20.0% (+2.5% rel.) | yes |" in t
    assert "300 ms vs 1000 ms (30%) | yes |" in t
    assert "20.5% vs 40.0% | yes |" in t


def test_card_per_voice_table_has_every_model_and_the_peer():
    t = card.per_voice_table(_rows())
    assert t.splitlines()[0] == "| set | voice | causal | fixed | ancat | pocketsphinx |"
    assert "| test_va | v2 |  |  | 31.0 | 46.0 |" in t


def test_card_data_and_training_sections_read_the_run_files(tmp_path):
    rs = tmp_path / "render_stats.json"
    rs.write_text(json.dumps({"per_voice": {
        "flite-slt": {"ok": 10, "failed": 0, "seconds": 3600.0},
        "flite-awb": {"ok": 5, "failed": 0, "seconds": 1800.0},
        "espeak-en_m1": {"ok": 1, "failed": 0, "seconds": 36.0}}, "hours": 1.51}))
    log = tmp_path / "train.log"
    log.write_text("data: 41024 utterances, 30.7 h weighted, device cuda, variants ancat\n"
                   '{"variant": "ancat", "step": 50, "rnnt": 2.0, "ctc": 3.0, "lat_hard": 4.5, '
                   '"choices": [0.5, 0.5]}\n'
                   '{"variant": "causal", "step": 50, "rnnt": 9.0, "ctc": 9.0}\n'
                   "[ancat] saved /x/last.pt: step 756, 4.0 min trained\n"
                   "slice: 4.0 min wall, 114.47 h of audio, 1714 audio-s/s\n"
                   "slice: 4.0 min wall, 100.00 h of audio, 1714 audio-s/s\n")
    d = card.data_section(str(rs), None, str(log))
    assert "1.5 h, 16 utterances from 3 voices" in d
    assert "| flite | 2 | 1.50 | 15 |" in d
    t = card.training_section(str(log), None, "ancat")
    assert "41024 utterances, 30.7 h weighted" in t
    assert "step 756, 4.0 min trained (2 training slice(s))" in t
    assert "214.5 h" in t
    assert "RNN-T loss 2.00" in t and "[0.5, 0.5]" in t


def test_card_limits_state_the_measured_numbers(tmp_path):
    (tmp_path / "lm.arpa").write_text(ARPA)
    rows = _rows() + [{"model": "ancat", "set": "ps_testdata", "wer": 60.0, "cer": 30.0,
                       "beta": 0.0, "search": "beam", "lm": True},
                      {"model": "pocketsphinx", "set": "ps_testdata", "wer": 20.8, "cer": 12.0,
                       "beta": None}]
    t = card.limits_section(rows, "ancat", [], {"lm": {"file": "lm.arpa"}}, str(tmp_path))
    assert "Unseen synthetic voices (held out): WER test_va 20.5%." in t
    assert "Real recordings: WER ps_testdata 60.0% (pocketsphinx 20.8%)." in t
    assert "n-gram LM (4 words)" in t


def test_vocab_prune_keeps_the_most_probable_words_and_their_ngrams(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    out = F.vocab_prune(str(p), 1, str(tmp_path / "v.arpa"))
    from corpus.mix_lm import read_arpa
    probs, bows = read_arpa(out)
    assert set(probs[1]) == {("<s>",), ("</s>",), ("the",)}
    assert set(probs[2]) == {("<s>", "the")}
    assert probs[1][("the",)] == -0.5 and bows[1][("the",)] == -0.2


def test_choose_keeps_an_lm_unless_allowed_to_drop_it():
    def g(lm, w, wer, bp=0.0, wb=0.0):
        return {"lm": lm, "weight": w, "word_bonus": wb, "blank_penalty": bp, "wer": wer}
    grid = [g(None, 0.0, 31.60, bp=0.5), g(None, 0.0, 32.0), g("a.arpa", 0.05, 31.74, bp=0.75),
            g("a.arpa", 0.03, 31.74, bp=0.75), g("b.arpa", 0.03, 31.81, bp=0.5)]
    # The folder ships its LM: the best LM row wins, ties to the smaller weight.
    assert F.choose(grid) == grid[3]
    # Allowed to ship none, the no-LM row with the lowest dev WER wins.
    assert F.choose(grid, require_lm=False) == grid[0]
    with pytest.raises(SystemExit, match="no LM candidate"):
        F.choose(grid[:2])


def test_dev_set_adds_the_unheard_voice_but_counts_each_text_once(tmp_path):
    d = tmp_path / "work" / "dev"
    d.mkdir(parents=True)
    (tmp_path / "testsets").mkdir()

    def manifest(path, voice, texts):
        path.write_text("".join(json.dumps({"audio": f"{voice}-{i}.wav", "text": t, "voice": voice})
                                + "\n" for i, t in enumerate(texts)))
    manifest(d / "dev_syn.jsonl", "flite-slt", ["call anna", "play jazz"])
    manifest(d / "dev_unheard.jsonl", "mbrola-mb-de6-en", ["call anna", "play jazz"])
    manifest(tmp_path / "testsets" / "real_dev.jsonl", "real", ["a real sentence"])
    a = argparse.Namespace(render_stats=[], testsets=str(tmp_path / "testsets"), text="", dev_size=1)
    dev = F.build_dev(a, str(tmp_path / "work"))
    assert [os.path.basename(m) for m in dev["manifests"]] == [
        "dev_syn.jsonl", "dev_unheard.jsonl", "real_dev.jsonl"]
    assert [os.path.basename(m) for m in dev["text_manifests"]] == ["dev_syn.jsonl", "real_dev.jsonl"]
    assert (dev["synthetic_utts"], dev["unheard_utts"], dev["real_utts"]) == (2, 2, 1)
    assert dev["unheard_voices"] == ["mbrola-mb-de6-en"]
