"""Render text with the Debian TTS voices into 16 kHz mono 16-bit WAV plus JSONL manifests.

  python3 -m corpus.render tts --text work/text --out work/corpus --n 70000 --workers 14
  python3 -m corpus.render real --real work/real-speech --out work/corpus
  python3 -m corpus.render sentences --voice pico:en-GB --split test_va --lines f.txt --out D

Manifest rows: {"audio": path relative to the manifest's folder, "duration": s, "text",
"voice", "split", "kind"}. Training manifests never contain held-out voices
(voices.check_allowed raises before any such job runs). A voice whose engine fails on its
first chunk is dropped with a log line; failures are counted per voice in render_stats.json.
"""
from __future__ import annotations

import argparse
import glob
import collections
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import text as T  # noqa: E402
from corpus import voices as V  # noqa: E402
from corpus.audio_io import SAMPLE_RATE, read_audio, read_wav, resample, write_wav  # noqa: E402

MIN_SEC, MAX_SEC = 0.3, 20.0


def _finish(raw_path: str, out_path: str, sr_hint: int) -> float:
    """Convert an engine's WAV to 16 kHz mono 16-bit, trim long silences, return duration."""
    x, sr = read_wav(raw_path)
    x = resample(x, sr, SAMPLE_RATE)
    if len(x) == 0:
        raise ValueError("empty audio")
    # Trim leading/trailing silence beyond 150 ms (engines differ a lot in padding).
    env = np.abs(x)
    thr = max(1e-3, 0.02 * float(env.max()))
    idx = np.nonzero(env > thr)[0]
    if len(idx) == 0:
        raise ValueError("silent audio")
    pad = int(0.15 * SAMPLE_RATE)
    x = x[max(0, idx[0] - pad): idx[-1] + pad]
    peak = float(np.abs(x).max())
    if peak > 0:
        x = x * (0.9 / peak) if peak > 0.99 or peak < 0.05 else x
    write_wav(out_path, x)
    return len(x) / SAMPLE_RATE


def render_chunk(job: dict) -> dict:
    """Worker: render one chunk of utterances with one voice. Returns rows and errors."""
    env = V.Env(job["root"])
    v = V.Voice(**job["voice"])
    rows, errors = [], []
    tmpdir = tempfile.mkdtemp(prefix="rc_tts_")
    penv = env.proc_env()
    try:
        if v.engine == "festival":
            items = []
            for uid, text, pros in job["items"]:
                items.append((text, os.path.join(tmpdir, uid + ".wav"), pros))
            script = os.path.join(tmpdir, "job.scm")
            with open(script, "w") as f:
                f.write(V.festival_script(v, items))
            argv = V.festival_command(env, script)
            V.check_allowed(v, job["split"], argv)
            try:
                subprocess.run(argv, env=penv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=60 + 10 * len(items), check=False)
            except subprocess.TimeoutExpired:
                errors.append("timeout")
            raws = [(uid, text, pros, os.path.join(tmpdir, uid + ".wav"))
                    for uid, text, pros in job["items"]]
        else:
            raws = []
            for uid, text, pros in job["items"]:
                raw = os.path.join(tmpdir, uid + ".wav")
                argv = V.command(env, v, text, raw, pros)
                V.check_allowed(v, job["split"], argv)
                try:
                    r = subprocess.run(argv, env=penv, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, timeout=60)
                    if r.returncode != 0:
                        errors.append(r.stderr.decode(errors="ignore")[-200:])
                except subprocess.TimeoutExpired:
                    errors.append("timeout")
                raws.append((uid, text, pros, raw))
        for uid, text, pros, raw in raws:
            out = os.path.join(job["out_dir"], uid + ".wav")
            try:
                dur = _finish(raw, out, v.sr_hint)
            except (OSError, ValueError) as e:
                errors.append(f"{uid}: {e}")
                continue
            if not (MIN_SEC <= dur <= MAX_SEC):
                os.remove(out)
                errors.append(f"{uid}: duration {dur:.2f}")
                continue
            rows.append({"audio": os.path.relpath(out, job["manifest_dir"]), "duration": round(dur, 3),
                         "text": text, "voice": v.id, "split": job["split"], "kind": job["kind_of"][uid],
                         "rate": pros["rate"], "pitch": pros["pitch"]})
    finally:
        for f in os.listdir(tmpdir):
            os.remove(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)
    return {"voice": v.id, "rows": rows, "errors": errors, "n": len(job["items"])}


def probe_voices(env: V.Env, voices: list[V.Voice], split: str, log=print,
                 workers: int = 1) -> list[V.Voice]:
    """Keep the voices whose files exist and that render one test sentence (probed in parallel)."""
    present = []
    for v in voices:
        if env.available(v):
            present.append(v)
        else:
            log(f"render: voice {v.id}: files missing, skipped")
    d = tempfile.mkdtemp(prefix="rc_probe_")
    jobs = [{"root": env.root, "voice": v.__dict__, "split": split, "out_dir": d, "manifest_dir": d,
             "items": [(f"probe{i}", "hello this is a test", {"rate": 1.0, "pitch": 1.0})],
             "kind_of": {f"probe{i}": "probe"}} for i, v in enumerate(present)]
    with mp.Pool(max(1, workers)) as pool:
        results = pool.map(render_chunk, jobs, chunksize=1)
    ok = []
    for v, res in zip(present, results):
        if res["rows"]:
            ok.append(v)
        else:
            log(f"render: voice {v.id}: probe failed, skipped: {res['errors'][:1]}")
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)
    return ok


def plan(sentences: list[tuple[str, str]], voices: list[V.Voice], n: int, seed: int,
         va_share: float = 0.55) -> list[tuple[str, str, V.Voice, dict]]:
    """Pick n distinct sentences (va_share of them requests) and a voice + prosody for each."""
    rng = random.Random(seed)
    va = [s for k, s in sentences if k == "va"]
    gen = [s for k, s in sentences if k != "va"]
    rng.shuffle(va)
    rng.shuffle(gen)
    n_va = min(len(va), int(n * va_share))
    chosen = [("va", s) for s in va[:n_va]] + [("gen", s) for s in gen[: n - n_va]]
    rng.shuffle(chosen)
    weights = [v.weight for v in voices]
    out = []
    for kind, s in chosen:
        v = rng.choices(voices, weights)[0]
        out.append((kind, s, v, V.sample_prosody(rng)))
    return out


def run_jobs(jobs: list[dict], workers: int, log=print) -> tuple[list[dict], dict]:
    stats = collections.defaultdict(lambda: {"ok": 0, "failed": 0, "seconds": 0.0})
    rows = []
    dead: set[str] = set()
    t0 = time.time()
    done = 0
    with mp.Pool(workers) as pool:
        for res in pool.imap_unordered(render_chunk, jobs):
            vid = res["voice"]
            st = stats[vid]
            st["ok"] += len(res["rows"])
            st["failed"] += res["n"] - len(res["rows"])
            st["seconds"] += sum(r["duration"] for r in res["rows"])
            if res["errors"] and not res["rows"] and vid not in dead:
                dead.add(vid)
                log(f"render: voice {vid}: a whole chunk failed: {res['errors'][:2]}")
            rows.extend(res["rows"])
            done += res["n"]
            if done % 5000 < res["n"]:
                el = time.time() - t0
                log(f"render: {done}/{sum(len(j['items']) for j in jobs)} utterances, "
                    f"{done / max(el, 1e-9):.0f}/s")
    el = time.time() - t0
    return rows, {"per_voice": dict(stats), "seconds_wall": round(el, 1),
                  "utt_per_s": round(len(rows) / max(el, 1e-9), 1)}


def make_jobs(planned, out_dir: str, manifest_dir: str, split: str, root: str, chunk: int = 24,
              id_prefix: str = "u") -> list[dict]:
    by_voice = collections.defaultdict(list)
    for i, (kind, s, v, pros) in enumerate(planned):
        by_voice[v].append((f"{id_prefix}{i:07d}", s, pros, kind))
    jobs = []
    for v, items in by_voice.items():
        V.check_allowed(v, split)
        vdir = os.path.join(out_dir, v.id)
        os.makedirs(vdir, exist_ok=True)
        for i in range(0, len(items), chunk):
            part = items[i:i + chunk]
            jobs.append({"root": root, "voice": v.__dict__, "split": split, "out_dir": vdir,
                         "manifest_dir": manifest_dir,
                         "items": [(u, s, p) for u, s, p, _ in part],
                         "kind_of": {u: k for u, _, _, k in part}})
    # Interleave voices so slow engines do not all land at the end.
    random.Random(0).shuffle(jobs)
    return jobs


def write_manifest(path: str, rows: list[dict]) -> None:
    """Written under a temporary name and renamed: a training run may be globbing for it."""
    rows = sorted(rows, key=lambda r: r["audio"])
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------- real speech
REAL_DEV_SPEAKERS = {"librispeech_3005", "librispeech_367"}
READ_CORPORA = {"librispeech-test-other", "ljspeech", "dc_tts-self-recorded-ljspeech-prompts",
                "voices-src"}


def _real_one(args) -> dict | None:
    src, dst, row = args
    try:
        x = read_audio(src)
    except (OSError, ValueError) as e:
        return {"error": f"{src}: {e}"}
    write_wav(dst, x)
    return {"row": row, "duration": len(x) / SAMPLE_RATE}


def render_real(real_dir: str, out_dir: str, workers: int, read_repeat: int, short_repeat: int,
                log=print) -> dict:
    """Decode the real-speech folder (manifest.jsonl + Opus) to WAV; write real_train.jsonl
    (rows repeated: read sentences read_repeat times, short words short_repeat times) and
    real_dev.jsonl (LibriSpeech speakers 3005 and 367)."""
    man = os.path.join(real_dir, "manifest.jsonl")
    rows = [json.loads(ln) for ln in open(man, encoding="utf-8") if ln.strip()]
    adir = os.path.join(out_dir, "real")
    tasks = []
    for r in rows:
        dst = os.path.join(adir, os.path.splitext(r["audio"])[0] + ".wav")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tasks.append((os.path.join(real_dir, r["audio"]), dst, dict(r, audio=os.path.relpath(dst, out_dir))))
    train, dev, errors = [], [], []
    with mp.Pool(workers) as pool:
        for res in pool.imap_unordered(_real_one, tasks, chunksize=16):
            if "error" in res:
                errors.append(res["error"])
                continue
            r = res["row"]
            split = "dev_real" if r.get("speaker") in REAL_DEV_SPEAKERS else "train"
            out = {"audio": r["audio"], "duration": round(res["duration"], 3), "text": r["text"],
                   "voice": "real-" + r.get("corpus", "unknown"), "split": split,
                   "kind": "real_read" if r.get("corpus") in READ_CORPORA else "real_short",
                   "speaker": r.get("speaker")}
            if split == "dev_real":
                dev.append(out)
            else:
                k = read_repeat if out["kind"] == "real_read" else short_repeat
                train.extend([out] * k)
    write_manifest(os.path.join(out_dir, "real_train.jsonl"), train)
    # the same rows by kind, so a run can weight the scarce read sentences on their own
    for kind in ("read", "short"):
        write_manifest(os.path.join(out_dir, f"real_train_{kind}.jsonl"),
                       [r for r in train if r["kind"] == "real_" + kind])
    write_manifest(os.path.join(out_dir, "real_dev.jsonl"), dev)
    st = {"decoded": len(rows) - len(errors), "errors": errors[:5], "n_errors": len(errors),
          "train_rows": len(train), "dev_rows": len(dev),
          "train_hours_with_repeats": round(sum(r["duration"] for r in train) / 3600, 2)}
    log(f"render: real speech {json.dumps(st)}")
    return st


# --------------------------------------------------------------------------- entry points
def rendered_voices(out_dir: str) -> set[str]:
    """Voices of earlier passes into out_dir (their render_stats*.json)."""
    done = set()
    for f in glob.glob(os.path.join(out_dir, "render_stats*.json")):
        with open(f) as fh:
            done.update(json.load(fh).get("voices", []))
    return done


def cmd_tts(a) -> None:
    env = V.Env.from_environ()
    sentences = T.read_train(a.text)
    voices = [v for v in V.all_voices(a.espeak_share)]
    if a.new_voices_only:
        # A later pass on the training box, after more voice bundles arrived: render only the
        # voices no earlier pass had, so the corpus grows while training reads it.
        done = rendered_voices(a.out)
        voices = [v for v in voices if v.id not in done]
    voices = probe_voices(env, voices, "train", workers=a.workers)
    if not voices:
        raise SystemExit("render: no working voice")
    print(f"render: {len(voices)} voices: {' '.join(v.id for v in voices)}", flush=True)
    planned = plan(sentences, voices, a.n, a.seed)
    os.makedirs(a.out, exist_ok=True)
    suffix = f"_{a.tag}" if a.tag else ""
    jobs = make_jobs(planned, os.path.join(a.out, "tts"), a.out, "train", env.root,
                     id_prefix=f"u{a.tag}")
    rows, stats = run_jobs(jobs, a.workers)
    write_manifest(os.path.join(a.out, f"tts_train{suffix}.jsonl"), rows)
    stats["voices"] = [v.id for v in voices]
    stats["hours"] = round(sum(r["duration"] for r in rows) / 3600, 2)
    with open(os.path.join(a.out, f"render_stats{suffix}.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(f"render: {len(rows)} utterances, {stats['hours']} h, {stats['utt_per_s']} utt/s, "
          f"{stats['seconds_wall']} s", flush=True)
    for vid, st in sorted(stats["per_voice"].items()):
        print(f"render:   {vid:32s} ok {st['ok']:6d} failed {st['failed']:5d} "
              f"{st['seconds'] / 3600:6.2f} h", flush=True)


def cmd_real(a) -> None:
    os.makedirs(a.out, exist_ok=True)
    render_real(a.real, a.out, a.workers, a.read_repeat, a.short_repeat)


def parse_voice(spec: str) -> V.Voice:
    engine, name = spec.split(":", 1)
    return V.Voice(engine, name, 1.0, 22050 if engine == "espeak" else 16000)


def cmd_sentences(a) -> None:
    env = V.Env.from_environ()
    v = parse_voice(a.voice)
    lines = [ln.strip() for ln in open(a.lines, encoding="utf-8") if ln.strip()]
    rng = random.Random(a.seed)
    planned = [(a.kind, s, v, {"rate": 1.0, "pitch": 1.0} if a.plain else V.sample_prosody(rng))
               for s in lines]
    jobs = make_jobs(planned, os.path.join(a.out, "audio"), a.out, a.split, env.root,
                     id_prefix=a.id_prefix)
    rows, stats = run_jobs(jobs, a.workers)
    write_manifest(os.path.join(a.out, f"{a.split}-{v.id}.jsonl"), rows)
    print(json.dumps({k: stats[k] for k in ("utt_per_s", "seconds_wall")}), len(rows))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tts")
    t.add_argument("--text", required=True, help="folder with train.tsv.gz from corpus.text")
    t.add_argument("--out", required=True)
    t.add_argument("--n", type=int, default=70000)
    t.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--espeak-share", type=float, default=0.10)
    t.add_argument("--tag", default="", help="pass name: writes tts_train_TAG.jsonl and "
                   "render_stats_TAG.json beside earlier passes")
    t.add_argument("--new-voices-only", action="store_true",
                   help="skip voices an earlier pass into --out rendered")
    r = sub.add_parser("real")
    r.add_argument("--real", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    r.add_argument("--read-repeat", type=int, default=8)
    r.add_argument("--short-repeat", type=int, default=2)
    s = sub.add_parser("sentences")
    s.add_argument("--voice", required=True, help="engine:name, e.g. pico:en-GB")
    s.add_argument("--lines", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--kind", default="va")
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--plain", action="store_true", help="default rate and pitch")
    s.add_argument("--id-prefix", default="u")
    a = ap.parse_args(argv)
    {"tts": cmd_tts, "real": cmd_real, "sentences": cmd_sentences}[a.cmd](a)


if __name__ == "__main__":
    main()
