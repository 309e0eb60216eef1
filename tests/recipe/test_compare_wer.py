"""compare_wer.py: the paired bootstrap of two models' WER on the same utterances."""
import json

import pytest

import compare_wer as C


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def rows(hyps, refs):
    return [{"audio": f"/a/{i}.wav", "ref": r, "hyp": h} for i, (r, h) in enumerate(zip(refs, hyps))]


REFS = ["call jim now", "play some music", "set a timer for ten minutes", "what is the weather"]


def test_identical_models_differ_by_zero(tmp_path):
    hyps = ["call jam now", "play music", "set a timer for ten minutes", "what is weather"]
    a = write(tmp_path / "a.jsonl", rows(hyps, REFS))
    (r,) = C.main(["--a", a, "--b", a, "--name", "s", "--draws", "200"])
    assert r["diff"] == 0 and r["ci95"] == [0, 0] and r["p_b_better"] == 0
    # 3 errors of 16 words: jam (sub), some (del), the (del)
    assert r["words"] == 16 and r["wer_a"] == pytest.approx(18.75)


def test_better_on_every_utterance_is_always_better(tmp_path):
    worse = ["call jam", "pay sum music", "set timer for ten", "what is weather"]
    a = write(tmp_path / "a.jsonl", rows(worse, REFS))
    b = write(tmp_path / "b.jsonl", rows(REFS, REFS))
    out = tmp_path / "r.json"
    (r,) = C.main(["--a", a, "--b", b, "--draws", "300", "--out", str(out)])
    assert r["wer_b"] == 0 and r["diff"] < 0 and r["p_b_better"] == 1.0
    assert r["ci95"][0] <= r["diff"] <= r["ci95"][1] < 0
    assert json.load(open(out))[0]["diff"] == r["diff"]


def test_mixed_results_give_an_interval_around_the_difference(tmp_path):
    a_hyps = ["call jim now", "play music", "set a timer for ten minutes", "what weather"]
    b_hyps = ["call jam now", "play some music", "set a timer for ten minutes", "what is the weather"]
    a = write(tmp_path / "a.jsonl", rows(a_hyps, REFS))
    b = write(tmp_path / "b.jsonl", rows(b_hyps, REFS))
    (r,) = C.main(["--a", a, "--b", b, "--draws", "500"])
    # A: "some", "is" and "the" deleted (3 errors); B: jam (1 error); 16 words
    assert r["diff"] == pytest.approx(100.0 * (1 - 3) / 16, abs=0.01)
    assert r["ci95"][0] < r["diff"] < r["ci95"][1]
    assert 0 < r["p_b_better"] < 1


def test_files_of_different_utterances_are_refused(tmp_path):
    a = write(tmp_path / "a.jsonl", rows(REFS, REFS))
    b = write(tmp_path / "b.jsonl", rows(REFS[:3], REFS[:3]))
    with pytest.raises(SystemExit, match="same utterances"):
        C.main(["--a", a, "--b", b])
    c = write(tmp_path / "c.jsonl", rows(REFS, ["x"] + REFS[1:]))
    with pytest.raises(SystemExit, match="references differ"):
        C.main(["--a", a, "--b", c])
