"""lm_sweep.py: the LM swap builds a linked folder, and the sweep scores every grid point with
the C++ ancat-batch (ctest passes its path in ANCAT_BATCH; skipped by hand without)."""
import json
import os

import pytest

import lm_sweep as S

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ANCAT_BATCH", "")


def test_lm_swap_links_the_folder_with_another_lm(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"lm": {"file": "lm.arpa"}}))
    (model / "weights.safetensors").write_text("w")
    (model / "lm.arpa").write_text("small")
    other = tmp_path / "big.arpa"
    other.write_text("big")
    out = S.folder_with_lm(str(model), str(other), str(tmp_path))
    assert sorted(os.listdir(out)) == ["lm.arpa", "model.json", "weights.safetensors"]
    assert open(os.path.join(out, "lm.arpa")).read() == "big"
    assert open(os.path.join(out, "weights.safetensors")).read() == "w"
    assert S.folder_with_lm(str(model), "", str(tmp_path)) == str(model)


def test_lm_swap_refuses_a_folder_without_lm(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(SystemExit, match="names no LM"):
        S.folder_with_lm(str(tmp_path), "/x.arpa", str(tmp_path))


@pytest.mark.skipif(not (BIN and os.path.exists(BIN)), reason="ANCAT_BATCH not built")
def test_sweep_scores_every_grid_point(tmp_path, capsys):
    audio = os.path.join(ROOT, "tests", "data", "audio")
    man = tmp_path / "set.jsonl"
    man.write_text(json.dumps({"audio": os.path.join(audio, "speech_16k.wav"), "duration": 2.685,
                               "text": "what do i here seek"}) + "\n")
    S.main(["--batch", BIN, "--model", os.path.join(ROOT, "tests", "data", "tiny-model"),
            "--set", f"s={man}", "--weights", "0", "--bonuses", "0,1", "--beams", "1,2"])
    lines = capsys.readouterr().out.splitlines()
    grid = [ln for ln in lines if ln.startswith("lm model weight 0 bonus")]
    assert len(grid) == 4 and all(" s " in ln for ln in grid)
    assert lines[-1].startswith("best: ")
