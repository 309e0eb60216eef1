"""The PyTorch peer of ancat-bench computes the model it claims to: its cached, dependency-driven
streaming executor gives the offline encoder's output (same math, each node once), in f32 and
in bf16, on the tiny model. Timing values are not checked."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEER = os.path.join(REPO, "client", "bench", "peers", "torch_bench.py")
MODEL = os.path.join(REPO, "tests", "data", "tiny-model")
AUDIO = os.path.join(REPO, "tests", "data", "audio", "speech_16k.wav")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("torch_peer")
    out = subprocess.run(
        [sys.executable, PEER, "--model", MODEL, "--audio", AUDIO, "--min_seconds", "0.01",
         "--min_runs", "1", "--dump_features", str(tmp / "f.f32"),
         "--dump_encoder_out", str(tmp / "e.f32")],
        check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["_tmp"] = tmp
    return r


def test_streaming_equals_offline_f32(result):
    assert result["streaming"]["max_abs_diff_vs_offline"] < 1e-4
    assert result["streaming"]["steps"] == -(-result["fbank_frames"] // 4)


def test_streaming_equals_offline_bf16_within_bf16_rounding(result):
    assert result["streaming_bf16"]["max_abs_diff_vs_offline"] < 0.25


def test_reports_every_mode_and_writes_the_files_the_other_peer_reads(result):
    for mode in ("offline", "streaming", "offline_bf16", "streaming_bf16"):
        for key in ("median_s", "median_cpu_s", "runs", "what"):
            assert key in result[mode], (mode, key)
    t, t2 = result["fbank_frames"], result["encoder_frames"]
    assert os.path.getsize(result["_tmp"] / "f.f32") == t * 80 * 4
    assert os.path.getsize(result["_tmp"] / "e.f32") == t2 * 64 * 4  # tiny model: d = 64
    assert result["threads"] == 1
