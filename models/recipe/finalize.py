#!/usr/bin/python3
"""From three exported model folders (ancat, causal, fixed) to the default model folder.

  /usr/bin/python3 models/recipe/finalize.py --ancat RUN/model-ancat --causal RUN/model-causal \
      --fixed RUN/model-fixed --out models/ancat-en [--work models/recipe/work/finalize]

Stages (each timed; the times go to the card and to eval.json):
  dev      a dev set for tuning the LM: text held out from training AND from the test sets
           (the same held-out pools corpus/text.py draws the test sets from), rendered with
           training voices at default prosody, plus the real-speech dev split real_dev.jsonl
           (cached under --work: rendered once);
  lm       each --lm candidate, pruned with IRSTLM's prune-lm (corpus/lm.py's tool) at rising
           thresholds until the whole model folder stays within --max-mb; a candidate that
           cannot fit (its unigrams alone are too big) is dropped, and the card says so;
  tune     beam search of the ANCAT model (beta 0) on the dev set for every candidate LM and
           every (weight, word bonus) of the grid, and without an LM; the lowest dev WER wins;
  test     evaluate.py: causal / fixed / ANCAT (beta sweep) on the test sets, greedy and beam
           search with the chosen LM at the tuned weight (one encoder pass for both), with the
           pocketsphinx peer scored from its cached hypotheses on exactly the same files;
  folder   the ANCAT folder copied to --out, renamed --name, lm.arpa + tuned weight/bonus in
           model.json, eval.json (every result row, the tuning grid, timings);
  cpp      the C++ runtime loads the folder (weights, tokenizer, the LM named in model.json):
           ancat-batch transcribes test files with beam search + LM; its WER is recorded;
  card     card.py writes MODEL_CARD.md (results, per-voice WER, plots, training data from
           render_stats.json / train.log, held-out voices, deviations, this protocol);
  size     the folder must be at most --max-mb (10^6 bytes); else exit 1.

Test sets (under --testsets): test_va, test_gen (held-out voices), ps_testdata (Debian's
pocketsphinx-testdata, real), real_dev (real LibriSpeech test-other; it is also part of the
LM-tuning dev set, so the card marks it as dev). --limit N takes the first N utterances of each
test set (0: all); the card records the sizes used.
"""
import argparse
import glob
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

TEST_SETS = ("test_va", "test_gen", "ps_testdata", "real_dev")
MB = 10**6


# ---------------------------------------------------------------- small helpers

class Timer:
    """Wall time per stage, printed as it goes."""

    def __init__(self):
        self.times: Dict[str, float] = {}

    def run(self, name, fn, *args, **kw):
        t0 = time.time()
        print(f"finalize: [{name}] ...", flush=True)
        out = fn(*args, **kw)
        self.times[name] = round(time.time() - t0, 1)
        print(f"finalize: [{name}] {self.times[name]} s", flush=True)
        return out


def folder_bytes(d: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
               if os.path.isfile(os.path.join(d, f)))


def repo_relative(x):
    """Paths under the repository written relative to it (eval.json is committed)."""
    if isinstance(x, str) and x.startswith(REPO + os.sep):
        return os.path.relpath(x, REPO)
    if isinstance(x, dict):
        return {k: repo_relative(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [repo_relative(v) for v in x]
    return x


def read_jsonl(path: str) -> List[dict]:
    return [json.loads(ln) for ln in open(path, encoding="utf-8") if ln.strip()]


# ---------------------------------------------------------------- dev set

def dev_texts(text_dir: str, n_va: int, n_gen: int, seed: Optional[int] = None) -> Dict[str, List[str]]:
    """Sentences held out from training text (so from the LM) and not in the test sets.

    Requests: corpus/text.py's held-out-entity candidates (same catalog and seed), minus the
    test requests. General: the hash-chosen held-out pool, minus the test sentences."""
    from corpus import entities as E
    from corpus import text as T
    stats = json.load(open(os.path.join(text_dir, "stats.json")))
    seed = stats["seed"] if seed is None else seed
    train = T.read_train(text_dir)
    train_set = {s for _, s in train}
    test_va = {ln.strip() for ln in open(os.path.join(text_dir, "test_va.txt")) if ln.strip()}
    test_gen = {ln.strip() for ln in open(os.path.join(text_dir, "test_gen.txt")) if ln.strip()}
    proper_path = os.path.join(text_dir, T.PROPER_FILE)
    proper = ([w.strip() for w in open(proper_path, encoding="utf-8") if w.strip()]
              if os.path.exists(proper_path) else None)
    cat = E.Catalog(seed, proper=proper)
    held_words = {w for v in cat.test.values() for name in v for w in name.split()}
    train_words = {w for k, s in train if k == "va" for w in s.split()}
    cands = T.generate_requests(cat.pool("test"), stats.get("test_va", 150) * 20, seed + 7919)
    va = [s for s in cands if s not in train_set and s not in test_va and any(
        w in held_words and w not in train_words for w in s.split())]
    gen = []
    gpath = os.path.join(text_dir, "general.txt.gz")
    if os.path.exists(gpath):
        salt = f"seed{seed}"
        with gzip.open(gpath, "rt", encoding="utf-8") as f:
            for ln in f:
                s = ln.strip()
                if (s and T._hash_frac(s, salt) < 0.01 and 4 <= len(s.split()) <= 20
                        and s not in test_gen and s not in train_set):
                    gen.append(s)
    rng = random.Random(seed + 1)
    rng.shuffle(va)
    rng.shuffle(gen)
    return {"va": va[:n_va], "gen": gen[:n_gen],
            "overlap_with_test": len((set(va) & test_va) | (set(gen) & test_gen))}


def training_voices(render_stats: List[str]):
    """Non-espeak voices of the training run (render_stats*.json) that are installed here."""
    from corpus import voices as V
    env = V.Env.from_environ()
    trained = None
    for p in render_stats or []:
        if os.path.exists(p):
            rs = json.load(open(p))
            trained = (trained or set()) | set(rs.get("voices", [])) | set(rs.get("per_voice", {}))
    vs = [v for v in V.all_voices() if v.engine != "espeak" and env.available(v)
          and (trained is None or v.id in trained)]
    return [v for v in vs if not V.is_heldout(v)]


def render_dev(texts: dict, man: str, voices: list, id_prefix: str) -> None:
    """Renders texts ({"va": [...], "gen": [...]}) into the manifest man, voices taken in turn."""
    from corpus import render as R
    from corpus import voices as V
    d = os.path.dirname(man)
    planned = []
    for kind in ("va", "gen"):
        for s in texts[kind]:
            planned.append((kind, s, voices[len(planned) % len(voices)], {"rate": 1.0, "pitch": 1.0}))
    jobs = R.make_jobs(planned, os.path.join(d, "audio"), d, "dev", V.Env.from_environ().root,
                       chunk=8, id_prefix=id_prefix)
    rows, _ = R.run_jobs(jobs, max(1, os.cpu_count() or 1))
    os.makedirs(d, exist_ok=True)
    R.write_manifest(man + ".tmp", rows)
    os.replace(man + ".tmp", man)


def build_dev(a, work: str) -> dict:
    """The LM-tuning dev set: dev_syn.jsonl (training voices), dev_unheard.jsonl (the DEV_ONLY
    voices no model trained on, when installed here) and real_dev.jsonl."""
    from corpus import voices as V
    d = os.path.join(work, "dev")
    syn, unheard = os.path.join(d, "dev_syn.jsonl"), os.path.join(d, "dev_unheard.jsonl")
    if not os.path.exists(syn):  # rendered once, then cached
        voices = training_voices(a.render_stats)
        if not voices:
            raise SystemExit("finalize: no training voice is installed here to render the dev set")
        render_dev(dev_texts(a.text, a.dev_size, a.dev_size), syn, voices, "dev-")
    rows = read_jsonl(syn)
    env = V.Env.from_environ()
    unheard_voices = [v for v in V.dev_only_voices() if env.available(v)]
    if not os.path.exists(unheard) and unheard_voices:
        # The same texts, so the two sets differ only in the voice.
        same = {k: [r["text"] for r in rows if r.get("kind") == k] for k in ("va", "gen")}
        render_dev(same, unheard, unheard_voices, "devu-")
    unheard = unheard if os.path.exists(unheard) else None
    real = os.path.join(a.testsets, "real_dev.jsonl")
    urows = read_jsonl(unheard) if unheard else []
    return {"manifests": [syn] + ([unheard] if unheard else [])
            + ([real] if os.path.exists(real) else []),
            "text_manifests": [syn] + ([real] if os.path.exists(real) else []),  # each text once
            "synthetic_utts": len(rows), "voices": sorted({r["voice"] for r in rows}),
            "unheard_utts": len(urows), "unheard_voices": sorted({r["voice"] for r in urows}),
            "real_utts": len(read_jsonl(real)) if os.path.exists(real) else 0}


# ---------------------------------------------------------------- LM candidates

PRUNE_THRESHOLDS = (2e-6, 3e-6, 5e-6, 7e-6, 1e-5, 1.5e-5, 2e-5, 3e-5, 5e-5, 1e-4)


def arpa_order(path: str) -> int:
    from corpus.lm import arpa_counts
    return max(arpa_counts(path) or {1: 0})


def fit_lm(path: str, budget: int, work: str) -> dict:
    """The candidate itself if it fits in `budget` bytes, else the least pruned version that
    does (prune-lm at rising thresholds); {"file": None, ...} when nothing fits."""
    size = os.path.getsize(path)
    info = {"source": path, "source_bytes": size, "budget_bytes": budget}
    if size <= budget:
        return {**info, "file": path, "prune_threshold": 0.0, "bytes": size}
    from corpus.lm import _bin, _run, arpa_counts
    order = arpa_order(path)
    uni = arpa_counts(path).get(1, 0)
    stem = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(work, exist_ok=True)
    for thr in PRUNE_THRESHOLDS:
        out = os.path.join(work, f"{stem}.prune{thr:g}.arpa")
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(path):
            _run([_bin("prune-lm"), f"--threshold={','.join([str(thr)] * (order - 1))}", path,
                  out + ".tmp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.replace(out + ".tmp", out)
        if os.path.getsize(out) <= budget:
            return {**info, "file": out, "prune_threshold": thr, "bytes": os.path.getsize(out),
                    "counts": arpa_counts(out)}
    return {**info, "file": None, "prune_threshold": None,
            "why": f"{uni} unigrams: even at threshold {PRUNE_THRESHOLDS[-1]:g} it is "
                   f"{os.path.getsize(out) / MB:.1f} MB > {budget / MB:.1f} MB"}


def vocab_prune(path: str, keep: int, out: str) -> str:
    """The ARPA restricted to its `keep` most probable words (unigram probability; <s>, </s>
    and <unk> always kept): every n-gram with another word is dropped, so the size saved on
    rare unigrams can go to more bigrams and trigrams. Back-off weights are kept as they are
    (the dropped words' mass is simply lost), which shallow fusion tolerates."""
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(path):
        return out
    from corpus.mix_lm import read_arpa, write_arpa
    probs, bows = read_arpa(path)
    special = {"<s>", "</s>", "<unk>"}
    ranked = sorted((lp, w[0]) for w, lp in probs[1].items() if w[0] not in special)[::-1]
    vocab = {w for _, w in ranked[:keep]} | {w[0] for w in probs[1] if w[0] in special}
    probs = [None] + [{g: lp for g, lp in p.items() if all(x in vocab for x in g)}
                      for p in probs[1:]]
    bows = [None] + [{g: b for g, b in bw.items() if g in probs[n]}
                     for n, bw in enumerate(bows[1:], 1)]
    write_arpa(probs, bows, out + ".tmp")
    os.replace(out + ".tmp", out)
    return out


def lm_perplexity(c: dict, dev: dict) -> dict:
    """Perplexity and OOV rate of a fitted candidate on the dev set's text (compile-lm)."""
    if c.get("file"):
        from corpus.lm import perplexity
        text = [e["text"] for m in dev.get("text_manifests", dev["manifests"]) for e in read_jsonl(m)]
        try:
            c["dev_text"] = perplexity(c["file"], text)
        except Exception as ex:  # IRSTLM missing or failing: the tuning still decides
            c["dev_text"] = {"error": str(ex)[:200]}
    return c


def lm_budget(a) -> int:
    """Bytes left for lm.arpa: --max-mb minus the copied files and a reserve for card/plots."""
    fixed = sum(os.path.getsize(os.path.join(a.ancat, f)) for f in os.listdir(a.ancat)
                if f not in ("lm.arpa", "MODEL_CARD.md") and not f.endswith(".png")
                and os.path.isfile(os.path.join(a.ancat, f)))
    return int(a.max_mb * MB) - fixed - int(a.reserve_kb * 1000)


# ---------------------------------------------------------------- evaluation

def set_args(sets: Dict[str, str]) -> List[str]:
    out = []
    for name, path in sets.items():
        out += ["--set", f"{name}={path}"]
    return out


def run_evaluate(argv: List[str]) -> List[dict]:
    import evaluate
    evaluate.main(argv)
    out = argv[argv.index("--out") + 1]
    return json.load(open(os.path.join(out, "results.json")))


def tune(a, work: str, dev: dict, lms: List[dict]) -> dict:
    """Dev WER for no LM and every (LM, weight, bonus, blank penalty); the best (lowest WER,
    then smaller weight, bonus and penalty) is the folder's setting."""
    dev_set = ",".join(dev["manifests"])
    grid = []
    base = ["--model", f"ancat={a.ancat}", "--device", "cpu", "--set", f"dev={dev_set}",
            "--betas", "0", "--search", "beam", "--beam", str(a.beam)]
    base += ["--blank-penalty", a.blank_penalties]
    rows = run_evaluate(base + ["--no-lm", "--out", os.path.join(work, "tune", "nolm")])
    for r in rows:
        grid.append({"lm": None, "weight": 0.0, "word_bonus": 0.0,
                     "blank_penalty": r["blank_penalty"], "wer": r["wer"], "cer": r["cer"],
                     "words": r["words"]})
    for i, lm in enumerate(lms):
        rows = run_evaluate(base + ["--lm", lm["file"], "--lm-weight", a.lm_weights,
                                    "--word-bonus", a.word_bonuses,
                                    "--out", os.path.join(work, "tune", f"lm{i}")])
        for r in rows:
            grid.append({"lm": lm["file"], "weight": r["lm_weight"], "word_bonus": r["word_bonus"],
                         "blank_penalty": r["blank_penalty"], "wer": r["wer"], "cer": r["cer"],
                         "words": r["words"]})
    return {"grid": grid, "best": choose(grid, require_lm=not a.allow_no_lm)}


def choose(grid: List[dict], require_lm: bool = True) -> dict:
    """The lowest dev WER, then the smaller weight, bonus and penalty. With require_lm, only
    settings with an LM compete: the model folder ships its n-gram LM with a tuned weight
    (issue 3), and the no-LM rows stay in the grid as the reference the protocol reports."""
    pool = [g for g in grid if g["lm"]] if require_lm else grid
    if not pool:
        raise SystemExit("finalize: no LM candidate fits the folder (--allow-no-lm ships none)")
    return min(pool, key=lambda g: (round(g["wer"], 6), g["weight"], g["word_bonus"],
                                    g["blank_penalty"]))


def evaluate_tests(a, work: str, sets: Dict[str, str], search: str, lm: Optional[dict]) -> str:
    """evaluate.py on the test sets; search "greedy,beam" runs both on one encoder pass."""
    out = os.path.join(work, "eval")
    argv = ["--model", f"causal={a.causal}", "--model", f"fixed={a.fixed}",
            "--model", f"ancat={a.ancat}", "--device", "cpu", "--betas", a.betas,
            "--search", search, "--beam", str(a.beam), "--out", out,
            "--plot-set", "all", "--plot-utt", str(a.plot_utt)] + set_args(sets)
    if a.limit:
        argv += ["--limit", str(a.limit)]
    if a.peer_hyps and os.path.exists(a.peer_hyps):
        argv += ["--peer-hyps", a.peer_hyps]
    if "beam" in search:
        argv += ["--blank-penalty", str((lm or {}).get("blank_penalty", 0.0))]
        if lm is None or lm.get("lm") is None:
            argv += ["--no-lm"]
        else:
            argv += ["--lm", lm["lm"], "--lm-weight", str(lm["weight"]),
                     "--word-bonus", str(lm["word_bonus"])]
    run_evaluate(argv)
    return out


# ---------------------------------------------------------------- folder, C++ check

def assemble(a, lm_choice: dict, staging: str) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    for f in os.listdir(a.ancat):
        p = os.path.join(a.ancat, f)
        if os.path.isfile(p) and f not in ("lm.arpa", "MODEL_CARD.md", "eval.json") \
                and not f.endswith(".png"):
            shutil.copyfile(p, os.path.join(staging, f))
    mj = json.load(open(os.path.join(a.ancat, "model.json")))
    mj["name"] = a.name
    if lm_choice.get("lm"):
        shutil.copyfile(lm_choice["lm"], os.path.join(staging, "lm.arpa"))
        mj["lm"] = {"file": "lm.arpa", "weight": lm_choice["weight"],
                    "word_bonus": lm_choice["word_bonus"]}
    else:
        mj["lm"] = None
    mj.setdefault("decoding", {})["blank_penalty"] = lm_choice.get("blank_penalty", 0.0)
    with open(os.path.join(staging, "model.json"), "w") as f:
        json.dump(mj, f, indent=2)
        f.write("\n")


def find_ancat_batch(explicit: Optional[str]) -> Optional[str]:
    if explicit:
        return explicit
    cands = [p for p in glob.glob(os.path.join(REPO, "build*", "client", "batch", "ancat-batch"))
             + glob.glob(os.path.join(REPO, "build*", "*", "client", "batch", "ancat-batch"))
             if "asan" not in p and os.access(p, os.X_OK)]
    return max(cands, key=os.path.getmtime) if cands else None


def cpp_check(a, folder: str, sets: Dict[str, str], work: str) -> dict:
    """ancat-batch (beam search + the folder's LM, model.json defaults) on the test files:
    the C++ runtime loads the folder and its LM, and its WER sits beside Python's."""
    from data import read_manifest
    from decode import ErrorRate
    exe = find_ancat_batch(a.ancat_batch)
    if not exe:
        return {"ok": False, "why": "no ancat-batch binary (cmake --build BUILD --target ancat-batch)"}
    d = os.path.join(work, "cpp")
    os.makedirs(d, exist_ok=True)
    res = {"binary": os.path.relpath(exe, REPO), "sets": {}}
    for name, path in sets.items():
        entries = read_manifest(path)
        if a.cpp_limit:
            entries = entries[: a.cpp_limit]
        lst = os.path.join(d, f"{name}.list")
        with open(lst, "w") as f:
            f.write("\n".join(e["audio"] for e in entries) + "\n")
        outp = os.path.join(d, f"{name}.jsonl")
        t0 = time.time()
        p = subprocess.run([exe, "--model", folder, "--input", lst, "--output", outp,
                            "--threads", str(os.cpu_count() or 1), "--decoding", "beam"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            return {**res, "ok": False, "why": f"ancat-batch exit {p.returncode}: {p.stdout[-1500:]}"}
        hyp = {r["audio"]: r["text"] for r in read_jsonl(outp)}
        er = ErrorRate()
        for e in entries:
            er.add(e["text"], hyp.get(e["audio"], ""))
        res["sets"][name] = {"utts": len(entries), "transcribed": len(hyp),
                             "wer": round(er.wer, 2), "cer": round(er.cer, 2),
                             "seconds": round(time.time() - t0, 1)}
        res["log_tail"] = p.stdout[-600:]
    res["ok"] = True
    return res


# ---------------------------------------------------------------- protocol section

def protocol_md(a, info: dict) -> str:
    dev, tuning, lms = info["dev"], info["tune"], info["lm_candidates"]
    best = tuning["best"]
    no_lm = choose([g for g in tuning["grid"] if not g["lm"]], require_lm=False)
    sizes = ", ".join(f"{k} {v}" for k, v in info["test_sizes"].items())
    lines = ["## Evaluation protocol", "",
             f"Written by `models/recipe/finalize.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             f" (CPU, {os.cpu_count()} cores).", "",
             f"- **Test sets** (utterances used): {sizes}"
             + (f" (first {a.limit} of each, `--limit {a.limit}`)" if a.limit else " (all)") + ". "
             "test_va / test_gen: held-out text rendered only by the held-out voices; "
             "ps_testdata: Debian's pocketsphinx-testdata recordings; real_dev: LibriSpeech "
             "test-other speakers 3005 and 367 (real). real_dev is also in the LM-tuning dev set "
             "below, so it is a dev number, not a test number.",
             f"- **Peer**: Debian's pocketsphinx (en-us acoustic model + its LM) on the same files, "
             f"scored with the same normalizer and counter (`corpus/wer.py`), from its hypotheses "
             f"in `{os.path.relpath(a.peer_hyps, REPO) if a.peer_hyps else 'n/a'}`.",
             f"- **LM tuning dev set**: {dev['synthetic_utts']} synthetic utterances (requests and "
             f"general sentences held out from the training text and from the test sets, rendered "
             f"with training voices {', '.join(dev['voices'])} at default prosody) + "
             + (f"the same texts rendered by {', '.join(dev['unheard_voices'])}, a voice no "
                f"model trained on and no test uses ({dev['unheard_utts']} utterances) + "
                if dev.get("unheard_utts") else "")
             + f"{dev['real_utts']} real_dev utterances. Grid: LM weight {a.lm_weights}, word bonus "
             f"{a.word_bonuses}, blank penalty {a.blank_penalties}, beam {a.beam}, ANCAT at beta 0; "
             f"chosen: "
             + (f"`{os.path.basename(best['lm'])}` weight {best['weight']:g}, bonus "
                f"{best['word_bonus']:g}, blank penalty {best['blank_penalty']:g} (dev WER "
                f"{best['wer']:.1f}%; without LM, at its best blank penalty "
                f"{no_lm['blank_penalty']:g}: {no_lm['wer']:.1f}%)."
                if best["lm"] else
                f"no LM, blank penalty {best['blank_penalty']:g} (dev WER {best['wer']:.1f}%: "
                f"no LM setting beat it)."),
             "- **LM size**: the folder must stay within "
             f"{a.max_mb:g} MB; candidates:"]
    for c in lms:
        if c.get("vocab_from"):
            lines.append(f"  - `{os.path.relpath(c['vocab_from'], REPO)}` restricted to its "
                         f"{c['vocab_words']} most probable words ({c['source_bytes'] / MB:.1f} MB)"
                         + (f", pruned with IRSTLM prune-lm at threshold {c['prune_threshold']:g} "
                            f"to {c['bytes'] / MB:.2f} MB (n-gram counts {c.get('counts')})"
                            if c.get("prune_threshold") else "" if c.get("file") else
                            f": dropped: {c.get('why')}")
                         + (f"; dev-text perplexity {c['dev_text']['ppl']}, OOV rate "
                            f"{100 * c['dev_text'].get('oov_rate', 0):.1f}%"
                            if c.get("dev_text", {}).get("ppl") else ""))
        elif c.get("file"):
            lines.append(f"  - `{os.path.relpath(c['source'], REPO)}` ({c['source_bytes'] / MB:.1f} MB)"
                         + (f" pruned with IRSTLM prune-lm at threshold {c['prune_threshold']:g} to "
                            f"{c['bytes'] / MB:.2f} MB (n-gram counts {c.get('counts')})"
                            if c["prune_threshold"] else " used as is")
                         + (f"; dev-text perplexity {c['dev_text']['ppl']}, OOV rate "
                            f"{100 * c['dev_text'].get('oov_rate', 0):.1f}%"
                            if c.get("dev_text", {}).get("ppl") else ""))
        else:
            lines.append(f"  - `{os.path.relpath(c['source'], REPO)}` ({c['source_bytes'] / MB:.1f} MB) "
                         f"dropped: {c['why']}")
    cpp = info.get("cpp", {})
    if cpp.get("ok"):
        lines.append("- **C++ runtime check**: `" + cpp["binary"] + " --model <this folder> "
                     "--decoding beam` (LM and weights from model.json) loads the folder and "
                     "transcribes: " + "; ".join(
                         f"{k} WER {v['wer']:.1f}% / CER {v['cer']:.1f}% on {v['utts']} utts"
                         for k, v in cpp["sets"].items()) +
                     ". (The C++ search also scores words in progress by their best LM continuation, "
                     "so its numbers can differ from the Python beam search in the tables.)")
    else:
        lines.append(f"- **C++ runtime check**: not done ({cpp.get('why', 'skipped')}).")
    lines.append("- **Stage times (s)**: " + ", ".join(f"{k} {v}" for k, v in info["times"].items())
                 + ".")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def main(argv=None):
    W = os.path.join(HERE, "work")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ancat", required=True)
    ap.add_argument("--causal", required=True)
    ap.add_argument("--fixed", required=True)
    ap.add_argument("--out", required=True, help="the model folder to write (replaced)")
    ap.add_argument("--name", default="ancat-en")
    ap.add_argument("--work", default=os.path.join(W, "finalize"))
    ap.add_argument("--testsets", default=os.path.join(W, "testsets"))
    ap.add_argument("--text", default=os.path.join(W, "text"))
    ap.add_argument("--peer-hyps", default=None,
                    help="pocketsphinx hypotheses JSONL (default: TESTSETS/pocketsphinx.hyps.jsonl)")
    ap.add_argument("--lm", action="append", default=None,
                    help="candidate ARPA LM (repeat); default work/lm.blend.arpa and work/lm.arpa")
    ap.add_argument("--lm-vocab", action="append", default=None,
                    help="PATH:WORDS: also a candidate restricted to PATH's WORDS most probable "
                         "words (then pruned to fit); default work/lm.blend.arpa:40000")
    ap.add_argument("--max-mb", type=float, default=25.0, help="folder size limit, 10^6 bytes")
    ap.add_argument("--reserve-kb", type=float, default=500.0,
                    help="room kept for MODEL_CARD.md, eval.json and the plots")
    ap.add_argument("--render-stats", action="append", default=None,
                    help="render_stats*.json (repeat); default: those beside --ancat (or in corpus/ there)")
    ap.add_argument("--train-log", default=None,
                    help="default: train_ancat.log, train.log or exp/ancat/log.jsonl beside --ancat")
    ap.add_argument("--run-log", default=None, help="default: beside --ancat (optional)")
    ap.add_argument("--notes", default=None, help="markdown for the card: capabilities, limits")
    ap.add_argument("--baselines-note", default="",
                    help="card: how the causal/fixed folders were trained, if not like --ancat")
    ap.add_argument("--betas", default="0,0.5,1,2,4")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--lm-weights", default="0.1,0.2,0.3,0.45")
    ap.add_argument("--word-bonuses", default="0,0.5,1")
    ap.add_argument("--blank-penalties", default="0",
                    help="beam search: subtracted from blank's log-prob per frame (comma list)")
    ap.add_argument("--allow-no-lm", action="store_true",
                    help="let beam search without an LM win the tuning (then the folder has none)")
    ap.add_argument("--dev-size", type=int, default=60, help="dev sentences per kind")
    ap.add_argument("--limit", type=int, default=0, help="first N utterances of each test set")
    ap.add_argument("--plot-utt", type=int, default=0)
    ap.add_argument("--ancat-batch", default=None, help="default: newest build*/.../ancat-batch")
    ap.add_argument("--cpp-limit", type=int, default=0)
    ap.add_argument("--skip-greedy", action="store_true")
    a = ap.parse_args(argv)
    beside = os.path.dirname(os.path.abspath(a.ancat))
    a.render_stats = a.render_stats or sorted(
        glob.glob(os.path.join(beside, "render_stats*.json"))
        + glob.glob(os.path.join(beside, "corpus", "render_stats*.json")))
    a.train_log = a.train_log or next(
        (p for p in (os.path.join(beside, n) for n in ("train_ancat.log", "train.log",
                                                      os.path.join("exp", "ancat", "log.jsonl")))
         if os.path.exists(p)), os.path.join(beside, "train.log"))
    a.run_log = a.run_log or os.path.join(beside, "run.log")
    a.peer_hyps = a.peer_hyps or os.path.join(a.testsets, "pocketsphinx.hyps.jsonl")
    a.lm = a.lm or [os.path.join(W, "lm.blend.arpa"), os.path.join(W, "lm.arpa")]
    if a.lm_vocab is None:
        a.lm_vocab = [os.path.join(W, "lm.blend.arpa") + ":40000"]
    a.lm_vocab = [v for v in a.lm_vocab if v]  # --lm-vocab "" disables
    for d in (a.ancat, a.causal, a.fixed):
        if not os.path.exists(os.path.join(d, "model.json")):
            raise SystemExit(f"finalize: {d}/model.json missing")
    os.makedirs(a.work, exist_ok=True)
    import torch
    torch.set_num_threads(os.cpu_count() or 1)

    T = Timer()
    sets = {s: os.path.join(a.testsets, f"{s}.jsonl") for s in TEST_SETS
            if os.path.exists(os.path.join(a.testsets, f"{s}.jsonl"))}
    dev = T.run("dev", build_dev, a, a.work)
    budget = lm_budget(a)
    def lm_stage():
        srcs = [(p, {}) for p in a.lm]
        d = os.path.join(a.work, "lm")
        os.makedirs(d, exist_ok=True)
        for spec in a.lm_vocab or []:  # PATH:WORDS, a vocabulary-pruned candidate
            p, _, n = spec.rpartition(":")
            srcs.append((vocab_prune(p, int(n), os.path.join(
                d, f"{os.path.splitext(os.path.basename(p))[0]}.v{int(n) // 1000}k.arpa")),
                {"vocab_from": p, "vocab_words": int(n)}))
        return [lm_perplexity({**fit_lm(p, budget, d), **extra}, dev) for p, extra in srcs]
    lms = T.run("lm", lm_stage)
    fitting = [c for c in lms if c.get("file")]
    tuning = T.run("tune", tune, a, a.work, dev, fitting)
    best = tuning["best"]
    choice = {"lm": best["lm"], "weight": best["weight"], "word_bonus": best["word_bonus"],
              "blank_penalty": best["blank_penalty"]}
    evals = [T.run("test", evaluate_tests, a, a.work, sets,
                   "beam" if a.skip_greedy else "greedy,beam", choice)]

    staging = os.path.abspath(a.out).rstrip("/") + ".finalize-tmp"
    T.run("folder", assemble, a, choice, staging)
    info = {"inputs": {"ancat": a.ancat, "causal": a.causal, "fixed": a.fixed},
            "dev": dev, "lm_candidates": lms, "tune": tuning, "lm_choice": choice,
            "test_sizes": {}, "times": T.times}
    from data import read_manifest
    for s, p in sets.items():
        n = len(read_manifest(p))
        info["test_sizes"][s] = min(n, a.limit) if a.limit else n
    info["cpp"] = T.run("cpp", cpp_check, a, staging, sets, a.work)
    rows = []
    for e in evals:
        rows += json.load(open(os.path.join(e, "results.json")))
    info["results"] = rows

    def write_card():
        proto = os.path.join(a.work, "protocol.md")
        with open(proto, "w") as f:
            f.write(protocol_md(a, info))
        import card
        argv_card = ["--model", staging, "--name", "ancat", "--append", proto,
                     "--train-log", a.train_log, "--run-log", a.run_log, "--testsets", a.testsets]
        for p in a.render_stats:
            argv_card += ["--render-stats", p]
        for e in evals:
            argv_card += ["--eval", e]
        if a.notes:
            argv_card += ["--notes", a.notes]
        if a.baselines_note:
            argv_card += ["--baselines-note", a.baselines_note]
        card.main(argv_card)
        with open(os.path.join(staging, "eval.json"), "w") as f:
            json.dump(repo_relative(info), f, indent=1, default=str)
    T.run("card", write_card)
    write_card()  # again, so the card's stage list includes the card stage itself

    total = folder_bytes(staging)
    print(f"finalize: {staging}: {total / MB:.2f} MB", flush=True)
    for f in sorted(os.listdir(staging)):
        print(f"  {os.path.getsize(os.path.join(staging, f)):>10}  {f}")
    if total > a.max_mb * MB:
        raise SystemExit(f"finalize: folder is {total / MB:.2f} MB > {a.max_mb:g} MB; "
                         f"left in {staging}")
    if not info["cpp"].get("ok"):
        print(f"finalize: WARNING: C++ check failed: {info['cpp'].get('why')}", flush=True)
    shutil.rmtree(a.out, ignore_errors=True)
    os.replace(staging, a.out)
    print(f"finalize: wrote {a.out}; stage times {json.dumps(T.times)}", flush=True)
    return 0 if info["cpp"].get("ok") else 3


if __name__ == "__main__":
    sys.exit(main())
