#!/usr/bin/env python3
"""Evaluates exported models (or checkpoints) on JSONL manifests: WER/CER, per-voice WER,
mean/p90 algorithmic latency, a beta sweep for ANCAT, the causal/fixed/ANCAT table, plots,
and Debian's pocketsphinx on the same audio as the peer.

  evaluate.py --model causal=models/exp/causal.dir --model fixed=... --model ancat=DIR \
      --set requests=test_requests.jsonl --set general=test_general.jsonl --set real=real_dev.jsonl \
      --betas 0,0.5,1,2,4 [--search beam --beam 4 --lm lm.arpa --lm-weight 0.2] \
      [--peer pocketsphinx] --out results/

A --model value is an exported model folder (model.json) or a train.py checkpoint (then
--bpe names the tokenizer). The beta sweep applies to models with more than one lookahead
choice. Writes results.json, table.md, wer_latency.png and lookahead.png under --out.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audio_io import load_audio  # noqa: E402
from data import read_manifest  # noqa: E402
from decode import ArpaLM, ErrorRate, beam_search, greedy_batch  # noqa: E402
from features import batch_fbank  # noqa: E402
from model import Transducer, load_model_folder  # noqa: E402


def load_any(path: str, bpe: Optional[str], device):
    """(model, sentencepiece processor, model.json or None) from a folder or a checkpoint."""
    import sentencepiece as spm
    if os.path.isdir(path):
        model, mj = load_model_folder(path, device)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(path, mj["vocab"]["tokenizer"]))
        return model, sp, mj
    from export import load_checkpoint
    if not bpe:
        raise SystemExit(f"{path}: a checkpoint needs --bpe")
    return load_checkpoint(path).to(device).eval(), spm.SentencePieceProcessor(model_file=bpe), None


def batches(entries: List[dict], max_seconds: float):
    order = sorted(range(len(entries)), key=lambda i: entries[i]["duration"])
    cur, longest = [], 0.0
    for i in order:
        d = entries[i]["duration"]
        if cur and max(longest, d) * (len(cur) + 1) > max_seconds:
            yield cur
            cur, longest = [], 0.0
        cur.append(i)
        longest = max(longest, d)
    if cur:
        yield cur


def load_wavs(entries, idx, pool):
    wavs = list(pool.map(lambda i: load_audio(entries[i]["audio"]), idx))
    lens = torch.tensor([w.numel() for w in wavs])
    out = torch.zeros(len(wavs), int(lens.max()))
    for j, w in enumerate(wavs):
        out[j, :w.numel()] = w
    return out, lens


@torch.no_grad()
def encode_set(model: Transducer, entries: List[dict], beta: float, max_lookahead, args,
               device) -> dict:
    """Encoder outputs of a whole set at one beta, batch by batch, with per-frame latency:
    computed once and searched with every search method and LM setting."""
    t0 = time.time()
    out = []
    with ThreadPoolExecutor(4) as pool:
        for idx in batches(entries, args.batch_seconds):
            wav, wl = load_wavs(entries, idx, pool)
            feats, flen = batch_fbank(wav.to(device), wl.to(device))
            e, elen, infos = model.encode(feats, flen, mode="hard", beta=beta,
                                          max_lookahead=max_lookahead)
            r = model.latency(infos, elen)
            lat = [(r[j, :int(elen[j])] - torch.arange(int(elen[j]), device=r.device)).cpu().numpy()
                   for j in range(len(idx))]
            out.append((idx, e, elen, lat))
    return {"batches": out, "seconds": time.time() - t0}


@torch.no_grad()
def search_set(model: Transducer, sp, entries: List[dict], enc: dict, search: str, beam: int,
               lm=None, lm_weight=0.0, word_bonus=0.0, blank_penalty=0.0) -> dict:
    """Searches encode_set's output; returns error rates, per-voice WER, latency stats and
    hypotheses ("seconds" counts the encoder's share too)."""
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    total, per_voice = ErrorRate(), {}
    lat_frames: List[np.ndarray] = []
    hyps: Dict[int, str] = {}
    t0 = time.time()
    for idx, e, elen, lat in enc["batches"]:
        if search == "greedy":
            toks = greedy_batch(model, e, elen)
        else:
            toks = [beam_search(model, e[j], int(elen[j]), pieces, beam, lm, lm_weight,
                                word_bonus, blank_penalty=blank_penalty)
                    for j in range(len(idx))]
        for j, i in enumerate(idx):
            lat_frames.append(lat[j])
            text = sp.decode(toks[j])
            hyps[i] = text
            ref = entries[i]["text"]
            total.add(ref, text)
            per_voice.setdefault(entries[i].get("voice", "unknown"), ErrorRate()).add(ref, text)
    lat = np.concatenate(lat_frames) * model.cfg.frame_ms if lat_frames else np.zeros(1)
    return {"wer": total.wer, "cer": total.cer, "utts": total.n, "words": total.words,
            "lat_mean_ms": float(lat.mean()), "lat_p90_ms": float(np.percentile(lat, 90)),
            "per_voice_wer": {v: round(er.wer, 2) for v, er in sorted(per_voice.items())},
            "seconds": round(time.time() - t0 + enc["seconds"], 1), "hyps": hyps, "lat": lat}


def run_model(model: Transducer, sp, entries: List[dict], beta: float, max_lookahead, args,
              device, lm=None, lm_weight=0.0, word_bonus=0.0) -> dict:
    """Decodes a set with args.search; returns error rates, per-voice WER, latency stats and
    hypotheses."""
    enc = encode_set(model, entries, beta, max_lookahead, args, device)
    return search_set(model, sp, entries, enc, args.search, args.beam, lm, lm_weight, word_bonus)


# ---------------------------------------------------------------- peer: pocketsphinx

def _as_wav16(path: str, tmpdir: str) -> str:
    """pocketsphinx wants 16 kHz 16-bit mono WAV: convert anything else."""
    if path.lower().endswith(".wav"):
        with wave.open(path) as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (16000, 2, 1):
                return path
    x = load_audio(path).numpy()
    out = os.path.join(tmpdir, f"{abs(hash(path))}.wav")
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return out


def pocketsphinx_one(path: str, tmpdir: str) -> str:
    res = subprocess.run(["pocketsphinx_continuous", "-infile", _as_wav16(path, tmpdir),
                          "-logfn", "/dev/null"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    return " ".join(res.stdout.split())


def read_peer_hyps(path: str) -> Dict[str, str]:
    """Cached peer hypotheses (JSONL with "audio", "hyp"; a relative audio path is relative
    to the file's folder, as in manifests): absolute audio path -> hypothesis."""
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            r = json.loads(line)
            out[os.path.normpath(os.path.join(base, r["audio"]))] = r["hyp"]
    return out


def run_pocketsphinx(entries: List[dict], jobs: int, cached: Optional[Dict[str, str]] = None) -> dict:
    """pocketsphinx on the entries' audio, or its cached hypotheses where `cached` has them
    (the same files, decoded once by corpus/pocketsphinx_peer.py)."""
    total, per_voice = ErrorRate(), {}
    t0 = time.time()
    cached = cached or {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        hyps = list(pool.map(
            lambda e: cached.get(os.path.normpath(os.path.abspath(e["audio"])))
            if os.path.normpath(os.path.abspath(e["audio"])) in cached
            else pocketsphinx_one(e["audio"], tmp), entries))
    for e, h in zip(entries, hyps):
        total.add(e["text"], h)
        per_voice.setdefault(e.get("voice", "unknown"), ErrorRate()).add(e["text"], h)
    return {"wer": total.wer, "cer": total.cer, "utts": total.n, "words": total.words,
            "per_voice_wer": {v: round(er.wer, 2) for v, er in sorted(per_voice.items())},
            "seconds": round(time.time() - t0, 1), "hyps": dict(enumerate(hyps))}


# ---------------------------------------------------------------- plots and table

def plot_wer_latency(rows: List[dict], path: str, set_name: str):
    """WER against mean algorithmic latency: one panel for set_name, or one per set for
    "all"; each model's beta sweep as a curve, the peer (no latency figure) as a dashed line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = []
    for r in rows:
        if r["set"] not in names:
            names.append(r["set"])
    names = names if set_name == "all" else [set_name]
    cols = min(2, len(names))
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6 * cols, 4.2 * nrows), squeeze=False)
    multi = len({(r.get("search"), bool(r.get("lm"))) for r in rows if r["model"] != "pocketsphinx"}) > 1
    styles = {}
    for n, (sname, ax) in enumerate(zip(names, axes.flat)):
        by_model: Dict[str, List[dict]] = {}
        for r in rows:
            if r["set"] == sname and r["model"] != "pocketsphinx":
                key = r["model"]
                if multi:
                    key += f" [{r.get('search')}{' + LM' if r.get('lm') else ''}]"
                by_model.setdefault(key, []).append(r)
        for name, rs in sorted(by_model.items()):
            rs = sorted(rs, key=lambda r: r["lat_mean_ms"])
            xs, ys = [r["lat_mean_ms"] for r in rs], [r["wer"] for r in rs]
            color = styles.setdefault(name, f"C{len(styles) % 10}")
            if len(rs) > 1:
                ax.plot(xs, ys, "o-", color=color, label=f"{name} (beta sweep)")
                for r in rs:
                    ax.annotate(f"\u03b2={r['beta']:g}", (r["lat_mean_ms"], r["wer"]), fontsize=7,
                                textcoords="offset points", xytext=(4, 4))
            else:
                ax.plot(xs, ys, "s", color=color, markersize=8, label=name)
        for r in rows:
            if r["set"] == sname and r["model"] == "pocketsphinx":
                ax.axhline(r["wer"], color="gray", linestyle="--", label="pocketsphinx")
        ax.set_xlabel("mean algorithmic latency (ms)")
        ax.set_ylabel("WER (%)")
        ax.set_title(f"WER vs latency: {sname}")
        ax.grid(alpha=0.3)
        if n == 0:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100 if len(names) > 1 else 120)
    plt.close(fig)


@torch.no_grad()
def plot_lookahead(model: Transducer, sp, entry: dict, path: str, device, beta: float = 0.0):
    """Per-layer lookahead choices of one utterance over its spectrogram."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    wav = load_audio(entry["audio"])
    feats, flen = batch_fbank(wav[None].to(device), torch.tensor([wav.numel()], device=device))
    e, elen, infos = model.encode(feats, flen, mode="hard", beta=beta)
    w = model.lookahead.cpu()
    choices = torch.stack([i["choices"][0].cpu() for i in infos]).numpy()  # [L, T2] indices
    r = model.latency(infos, elen)[0].cpu()
    lat = (r - torch.arange(r.numel())).numpy() * model.cfg.frame_ms
    text = sp.decode(greedy_batch(model, e, elen)[0])
    n_frames = int(flen[0])
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True,
                             gridspec_kw={"height_ratios": [2, 2, 1]})
    axes[0].imshow(feats[0, :n_frames].cpu().numpy().T, origin="lower", aspect="auto",
                   extent=[0, n_frames / 100.0, 0, 80], cmap="magma")
    axes[0].set_ylabel("mel bin")
    axes[0].set_title(f"ref: {entry['text'][:90]}\nhyp: {text[:90]}", fontsize=8)
    t2, nl, k = choices.shape[1], choices.shape[0], len(w)
    # Each encoder frame covers 40 ms ending at its last input frame (causal subsampling).
    cmap = matplotlib.colors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0, 1, max(k, 2)))[:k])
    im = axes[1].imshow(choices, origin="lower", aspect="auto", cmap=cmap, vmin=-0.5,
                        vmax=k - 0.5, interpolation="nearest",
                        extent=[0, t2 * model.cfg.frame_ms / 1000.0, 0.5, nl + 0.5])
    axes[1].set_ylabel("layer")
    axes[1].set_yticks(range(1, nl + 1, max(1, nl // 6)))
    cb = fig.colorbar(im, ax=list(axes), fraction=0.04, pad=0.02, ticks=range(k))
    cb.ax.set_yticklabels([f"{int(x) * model.cfg.frame_ms} ms" for x in w.tolist()])
    cb.set_label("lookahead chosen")
    axes[2].plot(np.arange(t2) * model.cfg.frame_ms / 1000.0, lat, drawstyle="steps-post")
    axes[2].set_ylabel("latency (ms)")
    axes[2].set_xlabel("time (s)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table_md(rows: List[dict], sets: List[str], lat_all: Dict) -> str:
    """One line per (model, beta, search): WER/CER per set, latency over all sets' frames."""
    head = "| model | beta | search | " + " | ".join(f"{s} WER / CER" for s in sets) + \
           " | mean latency (ms) | p90 latency (ms) |"
    lines = [head, "|" + "---|" * (5 + len(sets))]
    keys = []
    for r in rows:
        k = (r["model"], r.get("beta"), r.get("search"))
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = {r["set"]: r for r in rows if (r["model"], r.get("beta"), r.get("search")) == k}
        cells = [f"{rs[s]['wer']:.1f} / {rs[s]['cer']:.1f}" if s in rs else "" for s in sets]
        if k in lat_all:
            la = np.concatenate(lat_all[k])
            lat = f"{la.mean():.0f} | {np.percentile(la, 90):.0f}"
        else:
            lat = "n/a | n/a"
        beta = "" if k[1] is None else f"{k[1]:g}"
        search = (k[2] or "") + (" + LM" if any(r.get("lm") for r in rs.values()) else "")
        lines.append(f"| {k[0]} | {beta} | {search} | " + " | ".join(cells) + f" | {lat} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="NAME=DIR_or_CKPT")
    ap.add_argument("--set", action="append", required=True,
                    help="NAME=MANIFEST[,MANIFEST...] (one set from several manifests; "
                         "glob patterns allowed, quote them)")
    ap.add_argument("--split", default=None, help="only manifest entries of this split")
    ap.add_argument("--bpe", default=None)
    ap.add_argument("--betas", default="0,0.5,1,2,4")
    ap.add_argument("--max-lookahead", type=int, default=None)
    ap.add_argument("--search", default="greedy",
                    help="greedy, beam, or both (greedy,beam: one encoder pass for both)")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--lm", default=None, help="ARPA LM (default: the model folder's, if any)")
    ap.add_argument("--lm-weight", default=None,
                    help="LM weight, or a comma list to sweep (default: model.json's)")
    ap.add_argument("--word-bonus", default=None,
                    help="word insertion bonus, or a comma list (default: model.json's)")
    ap.add_argument("--blank-penalty", default=None,
                    help="beam search: subtracted from blank's log-prob per frame, or a comma "
                         "list (default: model.json's decoding.blank_penalty, else 0)")
    ap.add_argument("--no-lm", action="store_true")
    ap.add_argument("--peer", choices=["pocketsphinx"], default=None)
    ap.add_argument("--peer-hyps", default=None,
                    help="JSONL of pocketsphinx hypotheses (audio, hyp) to score instead of "
                         "running it (files missing there are decoded); implies --peer pocketsphinx")
    ap.add_argument("--peer-jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=0, help="first N utterances of each set")
    ap.add_argument("--batch-seconds", type=float, default=600.0)
    ap.add_argument("--plot-set", default=None,
                    help="set for the WER-latency plot (default first; all: a panel per set)")
    ap.add_argument("--plot-utt", type=int, default=0, help="utterance index for lookahead.png")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="")
    a = ap.parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    os.makedirs(a.out, exist_ok=True)

    sets = {}
    for s in a.set:
        name, _, paths = s.partition("=")
        import glob
        files = [f for p in paths.split(",") for f in (sorted(glob.glob(p)) or [p])]
        entries = [e for path in files for e in read_manifest(path, a.split)]
        sets[name] = entries[: a.limit] if a.limit else entries
        print(f"set {name}: {len(sets[name])} utterances", flush=True)
    betas = [float(b) for b in a.betas.split(",")]
    searches = a.search.split(",")
    if not searches or any(x not in ("greedy", "beam") for x in searches):
        ap.error(f"--search: greedy, beam or greedy,beam, not {a.search!r}")
    rows = []
    lat_all: Dict = {}
    ancat_model = None
    for spec in a.model:
        name, _, path = spec.partition("=")
        model, sp, mj = load_any(path, a.bpe, device)
        lm, combos = None, [(0.0, 0.0)]
        bps = ([float(x) for x in a.blank_penalty.split(",")] if a.blank_penalty
               else [float(((mj or {}).get("decoding") or {}).get("blank_penalty", 0.0))])
        if "beam" in searches and not a.no_lm:
            has = bool(mj and mj.get("lm"))
            lm_path = a.lm or (os.path.join(path, mj["lm"]["file"]) if has else None)
            if lm_path:
                lm = ArpaLM(lm_path)
                ws = ([float(x) for x in a.lm_weight.split(",")] if a.lm_weight
                      else [mj["lm"]["weight"] if has else 0.2])
                bs = ([float(x) for x in a.word_bonus.split(",")] if a.word_bonus
                      else [mj["lm"]["word_bonus"] if has else 0.0])
                combos = [(w, b) for w in ws for b in bs]
        sweep = betas if len(model.cfg.lookahead_frames) > 1 else [0.0]
        if len(model.cfg.lookahead_frames) > 1 and ancat_model is None:
            ancat_model = (model, sp)
        runs = [(srch, lmw, wb, bp) for srch in searches
                for lmw, wb in (combos if srch == "beam" else [(0.0, 0.0)])
                for bp in (bps if srch == "beam" else [0.0])]
        for beta in sweep:
            for sname, entries in sets.items():
                enc = encode_set(model, entries, beta, a.max_lookahead, a, device)
                for srch, lmw, wb, bp in runs:
                    use_lm = lm if srch == "beam" else None
                    label = name
                    if srch == "beam" and len(combos) > 1:
                        label += f"+lm{lmw:g}/wb{wb:g}"
                    if srch == "beam" and len(bps) > 1:
                        label += f"/bp{bp:g}"
                    res = search_set(model, sp, entries, enc, srch, a.beam, use_lm, lmw, wb, bp)
                    hyps = res.pop("hyps")
                    lat_all.setdefault((label, beta, srch), []).append(res.pop("lat"))
                    row = {"model": label, "beta": beta, "set": sname, "search": srch,
                           "lm": bool(use_lm), "lm_weight": lmw if use_lm else 0.0,
                           "word_bonus": wb if use_lm else 0.0, "blank_penalty": bp, **res}
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "per_voice_wer"}),
                          flush=True)
                    tag = f"_{srch}" if len(searches) > 1 else ""
                    with open(os.path.join(a.out, f"hyps_{label.replace('/', '_')}{tag}_b{beta:g}_{sname}.jsonl"),
                              "w") as f:
                        for i, e in enumerate(entries):
                            f.write(json.dumps({"audio": e["audio"], "ref": e["text"],
                                                "hyp": hyps[i], "voice": e.get("voice")}) + "\n")
    if a.peer == "pocketsphinx" or a.peer_hyps:
        cached = read_peer_hyps(a.peer_hyps) if a.peer_hyps else None
        for sname, entries in sets.items():
            res = run_pocketsphinx(entries, a.peer_jobs, cached)
            res.pop("hyps")
            row = {"model": "pocketsphinx", "beta": None, "set": sname, **res}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "per_voice_wer"}), flush=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    md = table_md(rows, list(sets), lat_all)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(md)
    print(md)
    plot_set = a.plot_set or next(iter(sets))
    if a.model:
        plot_wer_latency(rows, os.path.join(a.out, "wer_latency.png"), plot_set)
    if plot_set == "all":
        plot_set = next(iter(sets))
    if ancat_model is not None and sets[plot_set]:
        ents = sets[plot_set]
        plot_lookahead(ancat_model[0], ancat_model[1], ents[min(a.plot_utt, len(ents) - 1)],
                       os.path.join(a.out, "lookahead.png"), device)


if __name__ == "__main__":
    main()
