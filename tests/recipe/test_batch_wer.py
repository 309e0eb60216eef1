"""batch_wer.py drives the C++ ancat-batch and scores it like evaluate.py does.

Needs the built binary: ctest passes its path in ANCAT_BATCH (skipped when run by hand without).
"""
import json
import os

import pytest

import batch_wer as B

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ANCAT_BATCH", "")


@pytest.mark.skipif(not (BIN and os.path.exists(BIN)), reason="ANCAT_BATCH not built")
def test_scores_every_file_per_compute_type(tmp_path, capfd, speech_manifest):
    man, rows = speech_manifest
    out = tmp_path / "r.json"
    B.main(["--batch", BIN, "--model", os.path.join(ROOT, "tests", "data", "tiny-model"),
            "--set", f"s={man}", "--compute-type", "f32", "--decoding", "greedy,beam",
            "--no-lm", "--out", str(out), "--hyps-dir", str(tmp_path / "hyps")])
    res = json.load(open(out))
    assert [(r["decoding"], r["compute_type"]) for r in res] == [("greedy", "f32"), ("beam", "f32")]
    for r in res:
        # the tiny model is random: its WER means nothing, but every file was decoded and scored
        assert r["utts"] == 2 and r["words"] == 11 and r["failed_files"] == 0
        assert 0 <= r["cer"] and r["wer"] >= 0
    # --hyps-dir: one file per run, a row per utterance with its reference (compare_wer.py)
    for decoding in ("greedy", "beam"):
        kept = [json.loads(x) for x in open(tmp_path / "hyps" / f"s_f32_{decoding}.jsonl")]
        assert [(k["audio"], k["ref"]) for k in kept] == [(r["audio"], r["text"]) for r in rows]


def test_a_failing_binary_is_reported(tmp_path):
    man = tmp_path / "set.jsonl"
    man.write_text(json.dumps({"audio": "/nonexistent.wav", "duration": 1.0, "text": "x"}) + "\n")
    with pytest.raises(SystemExit, match="failed"):
        B.main(["--batch", "/bin/false", "--model", "/nonexistent", "--set", f"s={man}"])
