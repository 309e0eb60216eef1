import os
import sys

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "recipe")
sys.path.insert(0, os.path.abspath(RECIPE))

import json  # noqa: E402

import pytest  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def speech_manifest(tmp_path):
    """A JSONL manifest of the two real recordings in tests/data/audio: (path, rows)."""
    audio = os.path.join(ROOT, "tests", "data", "audio")
    rows = [{"audio": os.path.join(audio, "speech_16k.wav"), "duration": 2.685,
             "text": "what do i here seek"},
            {"audio": os.path.join(audio, "speech2_16k.wav"), "duration": 2.115,
             "text": "what a spiteful thing i am"}]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows
