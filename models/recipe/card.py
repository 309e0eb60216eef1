#!/usr/bin/env python3
"""Writes MODEL_CARD.md for an exported model folder from the measured results.

  card.py --model models/ancat-en --eval results/ [--eval results-cpu/] \
      --train-log exp/ancat/log.jsonl --checkpoint exp/ancat/last.pt \
      [--stats corpus/render_stats.json ...] [--notes notes.md]

Every number in the card comes from the files named on the command line (evaluate.py's
results.json and plots, train.py's log and checkpoint, the corpus' stats); the free-text
parts (what the model can and cannot do) come from --notes, written by a person who read
the numbers. Plots are copied next to the card.
"""
import argparse
import json
import os
import shutil
import sys
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEVIATIONS = """\
- **Predictor.** FORMAT.md's stateless predictor: the embeddings of the last two tokens,
  concatenated, through one linear layer and ReLU (DESIGN.md mentions a 1-D conv; the linear
  layer over two embeddings is the same receptive field and is what the C++ runtime runs).
- **Latency regularizer.** A budget instead of a plain penalty: lambda * max(0, mean soft
  latency - target) with the target in encoder frames (train.py `--latency-target`). A plain
  linear penalty drove every arbiter to W = 0 within a few hundred steps in a smoke run,
  before lookahead had any value to the model; below the budget the arbiters are free.
- **Fixed-lookahead baseline.** W = {w_max} at every layer, so its latency compounds over
  the layers (12 x 4 frames = 1.92 s at most): that is the baseline the issue defines.
- **Features.** fbank computed batched on the GPU during training (features.py, equal to
  torchaudio's kaldi.fbank within 2e-3 on log-mel values; tested), with dither 1.0 in training only.
"""


def _fmt(x, nd=1):
    return "" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def results_section(rows: List[dict]) -> str:
    sets = []
    for r in rows:
        if r["set"] not in sets:
            sets.append(r["set"])
    out = ["| model | beta | search | " + " | ".join(f"{s} WER / CER (%)" for s in sets) +
           " | mean lat. (ms) | p90 lat. (ms) |",
           "|" + "---|" * (5 + len(sets))]
    keys = []
    for r in rows:
        k = (r["model"], r.get("beta"), r.get("search", ""), r.get("lm", False))
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = {r["set"]: r for r in rows
              if (r["model"], r.get("beta"), r.get("search", ""), r.get("lm", False)) == k}
        cells = [f"{rs[s]['wer']:.1f} / {rs[s]['cer']:.1f}" if s in rs else "" for s in sets]
        lat = [r for r in rs.values() if "lat_mean_ms" in r]
        # frame-weighted over the sets is in table.md; here the per-set mean of means
        lm = sum(r["lat_mean_ms"] for r in lat) / len(lat) if lat else None
        lp = max(r["lat_p90_ms"] for r in lat) if lat else None
        search = (k[2] or "") + (" + LM" if k[3] else "")
        out.append(f"| {k[0]} | {_fmt(k[1], 2) if k[1] is not None else ''} | {search} | "
                   + " | ".join(cells) + f" | {_fmt(lm, 0)} | {_fmt(lp, 0)} |")
    return "\n".join(out) + "\n"


def per_voice_section(rows: List[dict], model: str) -> str:
    out = []
    for r in rows:
        if r["model"] == model and (r.get("beta") in (0, 0.0, None)) and r.get("per_voice_wer"):
            tag = r.get("search", "") + (" + LM" if r.get("lm") else "")
            out.append(f"*{r['set']}* ({tag}): " + ", ".join(
                f"{v} {w:.1f}%" for v, w in sorted(r["per_voice_wer"].items())))
    return "\n\n".join(out) + "\n" if out else "(no per-voice results)\n"


def _json_lines(path: str) -> List[dict]:
    """The JSON records of a log (train.py's log.jsonl, or its stdout with text lines mixed in)."""
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def training_section(log_path: str, ck_path: str, variant: str = "ancat") -> str:
    lines = []
    if ck_path and os.path.exists(ck_path):
        from model import torch_load
        ck = torch_load(ck_path)
        st, a = ck["state"], ck["args"]
        lines.append(f"- {st['step']} optimizer steps, {st['trained_seconds'] / 60:.1f} min of "
                     f"training ({a.get('variant')} trained side by side on the same batches).")
        keys = ["lr", "warmup", "warmup_frac", "max_frames", "ctc_weight", "latency_weight",
                "latency_target", "tau_start", "tau_end", "dither", "augment", "augment_prob",
                "budget_minutes", "manifest", "seed"]
        lines.append("- Settings: " + ", ".join(f"`{k}={a[k]}`" for k in keys if k in a) + ".")
    if log_path and os.path.exists(log_path):
        text = [l.strip() for l in open(log_path, encoding="utf-8", errors="replace")]
        saved = [l for l in text if l.startswith(f"[{variant}] saved")]
        slices = [l for l in text if l.startswith("slice:")]
        data = [l for l in text if l.startswith("data:") and "utterances" in l
                and not l.startswith("data: epoch")]
        epochs = [l for l in text if l.startswith("data: epoch")]
        if data:
            lines.append(f"- Training data as loaded by train.py (last start): "
                         f"{data[-1][len('data:'):].strip()}.")
        if epochs:
            lines.append(f"- Last epoch line: `{epochs[-1]}`.")
        if saved:
            lines.append(f"- Last checkpoint: {saved[-1].split(': ', 1)[-1]} "
                         f"({len(slices)} training slice(s)).")
        if slices:
            import re
            hours = sum(float(m.group(1)) for l in slices
                        for m in [re.search(r"([\d.]+) h of audio", l)] if m)
            lines.append(f"- Audio seen in training: {hours:.1f} h (all slices; augmented copies "
                         f"of the corpus, per variant).")
        recs = [r for r in _json_lines(log_path) if r.get("variant", variant) == variant]
        if recs:
            last = recs[-5:]
            avg = {k: sum(r.get(k, 0) for r in last) / len(last) for k in ("rnnt", "ctc")}
            tok = ""
            if all("rnnt_tok" in r for r in last):
                tok = (f" ({sum(r['rnnt_tok'] for r in last) / len(last):.3f} / "
                       f"{sum(r.get('ctc_tok', 0) for r in last) / len(last):.3f} per token)")
            lines.append(f"- Last logged steps (step {last[-1].get('step')}): RNN-T loss "
                         f"{avg['rnnt']:.2f}, CTC {avg['ctc']:.2f} per utterance{tok}; mean training "
                         f"latency {last[-1].get('lat_hard', 0):.1f} frames; lookahead choice "
                         f"shares {last[-1].get('choices')}.")
    return "\n".join(lines) + "\n"


def merge_render_stats(paths: List[str]) -> dict:
    """One render_stats from several render passes (render_stats_TAG.json): per-voice counts
    and seconds summed, hours summed."""
    pv: Dict[str, dict] = {}
    hours = 0.0
    for p in paths:
        rs = json.load(open(p))
        hours += rs.get("hours", sum(v.get("seconds", 0) for v in rs.get("per_voice", {}).values()) / 3600)
        for v, st in rs.get("per_voice", {}).items():
            d = pv.setdefault(v, {"ok": 0, "failed": 0, "seconds": 0.0})
            for k in d:
                d[k] += st.get(k, 0)
    return {"per_voice": pv, "hours": hours, "files": [os.path.basename(p) for p in paths]}


def data_section(render_stats, run_log: str, train_log: str) -> str:
    """Voices and hours of the training corpus (corpus/render.py's render_stats*.json)."""
    lines = []
    if isinstance(render_stats, str):
        render_stats = [render_stats]
    render_stats = [p for p in (render_stats or []) if p and os.path.exists(p)]
    if render_stats:
        rs = merge_render_stats(render_stats)
        pv = rs.get("per_voice", {})
        fam: Dict[str, List[float]] = {}
        for v, st in pv.items():
            f = fam.setdefault(v.split("-", 1)[0], [0, 0.0, 0])
            f[0] += 1
            f[1] += st.get("seconds", 0.0) / 3600
            f[2] += st.get("ok", 0)
        hours = rs.get("hours", sum(f[1] for f in fam.values()))
        lines.append(f"- Synthetic speech: {hours:.1f} h, {sum(f[2] for f in fam.values())} "
                     f"utterances from {len(pv)} voices of Debian TTS engines "
                     "(before augmentation):")
        lines.append("")
        lines.append("| engine | voices | hours | utterances |")
        lines.append("|---|---|---|---|")
        for k, (n, h, u) in sorted(fam.items(), key=lambda x: -x[1][1]):
            lines.append(f"| {k} | {n} | {h:.2f} | {u} |")
        lines.append("")
        big = sorted(((st.get("seconds", 0) / 3600, v) for v, st in pv.items()), reverse=True)
        lines.append("- Voices with at least 0.1 h: " + ", ".join(
            f"{v} {h:.2f} h" for h, v in big if h >= 0.1) + ".")
    if run_log and os.path.exists(run_log):
        for l in open(run_log, encoding="utf-8", errors="replace"):
            l = l.strip()
            if l.startswith("render: real speech") or l.startswith("gpu_corpus: train"):
                lines.append(f"- `{l}`")
    lines.append("- Real speech: Debian-side `../shared/data/real-speech/` (2.4 h: LibriSpeech "
                 "test-other, LJSpeech and a self-recorded reader, plus isolated digits, command "
                 "and wake words), upweighted in training; LibriSpeech speakers 3005 and 367 "
                 "kept out (real_dev).")
    return "\n".join(lines) + "\n"


def heldout_section(testsets: str) -> str:
    from corpus import voices as V
    lines = ["Never rendered for training (`corpus/voices.py` HELDOUT, enforced by "
             "`check_allowed` for every training job): " +
             ", ".join(f"{v.engine} {v.name}" for v in V.test_voices()) +
             " (`pico2wave -l en-GB`, mbrola us3, festival rab_diphone)."]
    if testsets and os.path.isdir(testsets):
        from data import read_manifest
        for name in ("test_va", "test_gen", "ps_testdata", "real_dev"):
            p = os.path.join(testsets, name + ".jsonl")
            if os.path.exists(p):
                es = read_manifest(p)
                voices = sorted({e["voice"] for e in es})
                lines.append(f"- {name}: {len(es)} utterances, {sum(e['duration'] for e in es) / 60:.1f} "
                             f"min, voices {', '.join(voices)}.")
    return "\n".join(lines) + "\n"


TARGETS = [("test_va", 25.0, "held-out voices, requests: WER <= 25%"),
           ("test_gen", 30.0, "held-out voices, general sentences: WER <= 30%")]


def _best_rows(rows: List[dict], model: str, beta=0.0) -> Dict[str, dict]:
    """The model's rows at beta, preferring beam search with LM over beam over greedy."""
    rank = {("beam", True): 0, ("beam", False): 1, ("greedy", False): 2}
    out: Dict[str, dict] = {}
    for r in rows:
        if r["model"] != model or (r.get("beta") is not None and abs(r["beta"] - beta) > 1e-9):
            continue
        k = rank.get((r.get("search"), bool(r.get("lm"))), 3)
        if r["set"] not in out or k < out[r["set"]][0]:
            out[r["set"]] = (k, r)
    return {s: r for s, (_, r) in out.items()}


def targets_section(rows: List[dict], name: str, baselines_note: str = "") -> str:
    """baselines_note: said in the rows that compare with causal/fixed, when those were not
    trained like this model (e.g. it continued training and they did not)."""
    a = _best_rows(rows, name)
    fx, ca = _best_rows(rows, "fixed"), _best_rows(rows, "causal")
    ps = {r["set"]: r for r in rows if r["model"] == "pocketsphinx"}
    out = ["| target | measured | met |", "|---|---|---|"]
    for s, lim, what in TARGETS:
        if s in a:
            out.append(f"| {what} | {a[s]['wer']:.1f}% | {'yes' if a[s]['wer'] <= lim else 'no'} |")
    for s in ("ps_testdata", "real_dev"):
        if s in a and s in ps:
            out.append(f"| {s} (real): WER below pocketsphinx | {a[s]['wer']:.1f}% vs "
                       f"{ps[s]['wer']:.1f}% | {'yes' if a[s]['wer'] < ps[s]['wer'] else 'no'} |")
    common = [s for s in a if s in fx and s in ca and "lat_mean_ms" in a[s]]
    if common:
        def mean(d, k):
            return sum(d[s][k] for s in common) / len(common)
        wa, wf, wc = mean(a, "wer"), mean(fx, "wer"), mean(ca, "wer")
        note = f" ({baselines_note})" if baselines_note else ""
        la, lf = mean(a, "lat_mean_ms"), mean(fx, "lat_mean_ms")
        out.append(f"| ANCAT WER within 5% relative of fixed (mean over {len(common)} sets){note} | "
                   f"{wa:.1f}% vs {wf:.1f}% ({100 * (wa - wf) / max(wf, 1e-9):+.1f}% rel.) | "
                   f"{'yes' if wa <= 1.05 * wf else 'no'} |")
        out.append(f"| ANCAT mean latency <= 40% of fixed{note} | {la:.0f} ms vs {lf:.0f} ms "
                   f"({100 * la / max(lf, 1e-9):.0f}%) | {'yes' if la <= 0.4 * lf else 'no'} |")
        out.append(f"| ANCAT clearly better WER than causal{note} | {wa:.1f}% vs {wc:.1f}% | "
                   f"{'yes' if wa < 0.95 * wc else 'no'} |")
    return "\n".join(out) + "\n"


def limits_section(rows: List[dict], name: str, render_stats: List[str], mj: dict,
                   model_dir: str = "") -> str:
    """What the numbers say the model can and cannot do (facts from the files; a person's
    reading of them goes in --notes)."""
    out = []
    stats = [p for p in (render_stats or []) if p and os.path.exists(p)]
    if stats:
        h = merge_render_stats(stats)["hours"]
        out.append(f"- Trained on {h:.1f} h of synthetic (TTS) speech and about 2.4 h of real "
                   "recordings: it has heard few real voices, microphones and rooms.")
    a = _best_rows(rows, name)
    ps = {r["set"]: r for r in rows if r["model"] == "pocketsphinx"}
    syn = [f"{s} {a[s]['wer']:.1f}%" for s in ("test_va", "test_gen") if s in a]
    if syn:
        out.append("- Unseen synthetic voices (held out): WER " + ", ".join(syn) + ".")
    real = [f"{s} {a[s]['wer']:.1f}%" + (f" (pocketsphinx {ps[s]['wer']:.1f}%)" if s in ps else "")
            for s in ("ps_testdata", "real_dev") if s in a]
    if real:
        out.append("- Real recordings: WER " + ", ".join(real) + ".")
    out.append("- English only, 16 kHz input; numbers, times and dates come out as words "
               "(spoken form), lower case, no punctuation.")
    if mj.get("lm"):
        from corpus.lm import arpa_counts
        lm_path = os.path.join(model_dir, mj["lm"]["file"])
        n = arpa_counts(lm_path).get(1) if os.path.exists(lm_path) else None
        out.append(f"- Beam search fuses a word n-gram LM ({n} words) built from the recipe's "
                   "text; a word outside it (e.g. a rare name) can still be spelled from "
                   "word pieces but pays an out-of-vocabulary penalty.")
    return "\n".join(out) + "\n"


def per_voice_table(rows: List[dict]) -> str:
    """WER per voice and set: every model at beta 0 (best search) and the peer."""
    models = []
    for r in rows:
        if r["model"] not in models and "+lm" not in r["model"]:
            models.append(r["model"])
    best = {m: _best_rows(rows, m) if m != "pocketsphinx" else
            {r["set"]: r for r in rows if r["model"] == m} for m in models}
    sets = []
    for r in rows:
        if r["set"] not in sets:
            sets.append(r["set"])
    out = ["| set | voice | " + " | ".join(models) + " |", "|" + "---|" * (2 + len(models))]
    for s in sets:
        voices = sorted({v for m in models if s in best[m] for v in best[m][s].get("per_voice_wer", {})})
        for v in voices:
            cells = [f"{best[m][s]['per_voice_wer'][v]:.1f}" if s in best[m] and v in
                     best[m][s].get("per_voice_wer", {}) else "" for m in models]
            out.append(f"| {s} | {v} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True, help="exported model folder (card goes here)")
    ap.add_argument("--eval", action="append", default=[], help="evaluate.py --out folder(s)")
    ap.add_argument("--name", default="ancat", help="the model's name in results.json")
    ap.add_argument("--train-log", default=None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--stats", action="append", default=[], help="corpus stats JSON files")
    ap.add_argument("--notes", default=None, help="markdown: data, capabilities, limits")
    ap.add_argument("--render-stats", action="append", default=[],
                    help="corpus/render.py render_stats*.json (repeat for several passes)")
    ap.add_argument("--run-log", default=None, help="the GPU run's log (corpus lines)")
    ap.add_argument("--testsets", default=None, help="folder of the test manifests")
    ap.add_argument("--append", action="append", default=[],
                    help="markdown files appended before the deviations (finalize.py's protocol)")
    ap.add_argument("--baselines-note", default="",
                    help="said beside every ANCAT-vs-baseline target, when the baselines were "
                         "trained differently (e.g. 'baselines: 21 min of training, ANCAT: 43')")
    a = ap.parse_args(argv)

    mj = json.load(open(os.path.join(a.model, "model.json")))
    from model import count_parameters, load_model_folder
    model, _ = load_model_folder(a.model)
    rows: List[dict] = []
    plots: Dict[str, str] = {}
    for d in a.eval:
        rows += json.load(open(os.path.join(d, "results.json")))
        for png in ("wer_latency.png", "lookahead.png"):
            p = os.path.join(d, png)
            if os.path.exists(p) and png not in plots:
                shutil.copyfile(p, os.path.join(a.model, png))
                plots[png] = png
    e = mj["encoder"]
    size = os.path.getsize(os.path.join(a.model, mj["weights"]["file"])) / 2**20
    md = [f"# {mj['name']} {mj['version']}", "",
          "ANCAT streaming transducer (adaptive non-causal lookahead attention) for English, "
          "trained by `models/recipe/`. Format: `models/FORMAT.md` version "
          f"{mj['format_version']}.", "",
          "## Model", "",
          f"- {count_parameters(model) / 1e6:.2f}M parameters, weights {mj['weights']['dtype']} "
          f"({size:.1f} MiB); {e['num_layers']} layers, d={e['d_model']}, {e['num_heads']} heads, "
          f"FFN {e['ffn_dim']}, left context {e['left_context']} frames, lookahead set "
          f"{e['lookahead_frames']} frames of {mj['frame_ms']} ms per layer; BPE vocabulary "
          f"{mj['vocab']['size']}; stateless predictor (2 tokens).",
          f"- LM: {('`' + mj['lm']['file'] + '`, weight ' + str(mj['lm']['weight']) + ', word bonus ' + str(mj['lm']['word_bonus'])) if mj.get('lm') else 'none'}.",
          f"- Beam search: blank penalty {(mj.get('decoding') or {}).get('blank_penalty', 0)} "
          "(subtracted from blank's log-probability at every frame; greedy search ignores it).",
          ""]
    if a.notes:
        md += [open(a.notes).read().rstrip(), ""]
    if rows:
        md += ["## What it can and cannot do (measured)", "",
               limits_section(rows, a.name, a.render_stats, mj, a.model)]
    if a.render_stats or a.run_log or a.train_log:
        md += ["## Training data", "", data_section(a.render_stats, a.run_log, a.train_log)]
    md += ["## Held-out voices and test sets", "", heldout_section(a.testsets)]
    if a.stats:
        md += ["## Data statistics", ""]
        for s in a.stats:
            md += [f"`{os.path.basename(s)}`:", "", "```", json.dumps(json.load(open(s)), indent=1)[:3000],
                   "```", ""]
    md += ["## Training", "", training_section(a.train_log, a.checkpoint, a.name)]
    if rows:
        md += ["## Results", "",
               "WER/CER in %, algorithmic latency R_L(t) - t in ms (FORMAT.md), measured by "
               "`models/recipe/evaluate.py`; beta is the inference latency bias; search `beam + LM` "
               "is this folder's LM at its model.json weight.", "",
               "### Targets (issue 3)", "", targets_section(rows, a.name, a.baselines_note),
               "### All results", "", results_section(rows),
               "### Per-voice WER (%, beta 0, best search per model)", "", per_voice_table(rows)]
    for png, title in (("wer_latency.png", "WER against mean algorithmic latency"),
                       ("lookahead.png", "Lookahead chosen per layer for one utterance")):
        if png in plots:
            md += [f"### {title}", "", f"![{title}]({png})", ""]
    for extra in a.append:
        md += [open(extra).read().rstrip(), ""]
    md += ["## Deviations from DESIGN.md", "", DEVIATIONS,
           f"- **Lookahead set.** {e['lookahead_frames']} frames of {mj['frame_ms']} ms per layer "
           "(DESIGN.md's example is {0, 2, 4, 8}): the smaller set keeps the compounded latency of "
           "12 layers in range.",
           "- **LM size.** The n-gram LM is pruned so that the committed folder stays within the "
           "recipe's own limit (finalize.py `--max-mb`, 25 MB by default; no issue sets one): the "
           "folder travels with every call to the GPU machine, which takes 64 MiB in all, corpus "
           "included. The evaluation protocol gives the threshold and what it cost."
           if mj.get("lm") else "- **LM.** No LM in this folder (see the evaluation protocol).", ""]
    with open(os.path.join(a.model, "MODEL_CARD.md"), "w") as f:
        f.write("\n".join(md))
    print(f"wrote {os.path.join(a.model, 'MODEL_CARD.md')}")


if __name__ == "__main__":
    main()
