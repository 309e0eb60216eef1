"""select_model.py: the recipe's selection rule (fewest dev errors; a tie keeps the first)."""
import json
import os

import pytest

import select_model as S

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ANCAT_BATCH", "")


def test_fewest_errors_win_and_a_tie_keeps_the_first_listed():
    assert S.pick({"current": 10, "new": 9, "other": 12}) == "new"
    assert S.pick({"current": 9, "new": 9}) == "current"
    assert S.pick({"a": 3}) == "a"


def test_candidates_need_distinct_names():
    with pytest.raises(SystemExit, match="distinct names"):
        S.main(["--batch", "/bin/false", "--candidate", "a=x", "--candidate", "a=y",
                "--set", "s=/nonexistent.jsonl"])


@pytest.mark.skipif(not (BIN and os.path.exists(BIN)), reason="ANCAT_BATCH not built")
def test_scores_every_candidate_on_every_set(tmp_path, capsys, speech_manifest):
    man, _ = speech_manifest
    tiny = os.path.join(ROOT, "tests", "data", "tiny-model")
    out = tmp_path / "choice.json"
    S.main(["--batch", BIN, "--candidate", f"current={tiny}", "--candidate", f"same={tiny}",
            "--set", f"a={man}", "--set", f"b={man}", "--out", str(out),
            "--hyps-dir", str(tmp_path / "hyps")])
    res = json.load(open(out))
    # The same folder twice: equal errors, so the current default stays.
    assert res["choice"] == "current" and res["words"] == 22
    c, s = res["candidates"]["current"], res["candidates"]["same"]
    assert c["errors"] == s["errors"] == c["sets"]["a"]["errors"] + c["sets"]["b"]["errors"]
    assert "choice: current" in capsys.readouterr().out
    assert (tmp_path / "hyps" / "same" / "b_f32_greedy.jsonl").exists()
