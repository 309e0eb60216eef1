"""Word n-gram LM (ARPA) from the training text with Debian's IRSTLM.

Modified Kneser-Ney ("improved-kneser-ney", IRSTLM's improved shift-beta) 4-gram, built with
build-lm.sh, compiled to ARPA with compile-lm and pruned with prune-lm (raising the threshold
until the ARPA is at most --max-mb), then evaluated (perplexity, OOV rate) on the held-out text.
IRSTLM is needed only here (package irstlm), not by CI.

  python3 -m corpus.lm --text work/text --out work/lm.arpa [--order 4 --max-mb 6]
      [--pocketsphinx-blend 0.5]     # also work/lm.blend.arpa

--pocketsphinx-blend W mixes in Debian's pocketsphinx-en-us general US English LM with weight W.
Its en-us.lm.bin is a sphinxbase binary trie that Debian's converters cannot turn into ARPA
(sphinx_lm_convert and python3-pocketsphinx's NGramModel.write abort on an assertion in
ngram_model_trie_write_arpa); corpus/sphinx_lm.py reads the trie directly instead. Both LMs are
pruned to --max-mb, then corpus/mix_lm.py interpolates them statically into one ARPA.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import text as T  # noqa: E402

IRSTLM = os.environ.get("IRSTLM", "/usr/lib/irstlm")


def _bin(name: str) -> str:
    p = os.path.join(IRSTLM, "bin", name)
    if not os.path.exists(p):
        raise SystemExit(f"lm: {p} missing: install Debian's irstlm (apt-get install irstlm)")
    return p


def _run(argv, **kw):
    env = dict(os.environ, IRSTLM=IRSTLM, PATH=os.path.join(IRSTLM, "bin") + ":" + os.environ["PATH"])
    return subprocess.run(argv, env=env, check=True, **kw)


def write_sentences(sentences, path: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for s in sentences:
            f.write(f"<s> {s} </s>\n")


def arpa_counts(path: str) -> dict:
    counts = {}
    with open(path, encoding="utf-8", errors="ignore") as f:
        for line in f:
            m = re.match(r"ngram\s+(\d+)=\s*(\d+)", line)
            if m:
                counts[int(m.group(1))] = int(m.group(2))
            elif line.startswith("\\1-grams"):
                break
    return counts


def perplexity(arpa: str, sentences: list[str]) -> dict:
    """compile-lm --eval on held-out sentences: perplexity and OOV rate."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for s in sentences:
            f.write(f"<s> {s} </s>\n")
        name = f.name
    try:
        out = _run([_bin("compile-lm"), arpa, f"--eval={name}"], capture_output=True, text=True)
    finally:
        os.remove(name)
    txt = out.stdout + out.stderr
    m = re.search(r"PP=([\d.]+)", txt)
    oov = re.search(r"OOV=([\d.]+)%", txt)
    res = {"ppl": float(m.group(1)) if m else None}
    if oov:
        res["oov_rate"] = round(float(oov.group(1)) / 100, 4)
    return res


def prune_to(full: str, max_mb: float, work: str, prefix: str, order: int) -> tuple[str, float]:
    """prune-lm with a rising threshold until the ARPA is at most max_mb; (path, threshold)."""
    chosen, thr = full, 0.0
    for thr in (0.0, 1e-7, 3e-7, 1e-6, 1.5e-6, 2e-6, 3e-6, 5e-6, 1e-5, 3e-5, 1e-4):
        if thr == 0.0:
            cand = full
        else:
            cand = os.path.join(work, f"{prefix}.prune{thr:g}.arpa")
            _run([_bin("prune-lm"), f"--threshold={','.join([str(thr)] * (order - 1))}", full, cand],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        chosen = cand
        if os.path.getsize(cand) <= max_mb * 2**20:
            break
    return chosen, thr


def build(sentences: list[str], out: str, order: int, max_mb: float, work: str,
          smoothing: str = "improved-kneser-ney") -> dict:
    os.makedirs(work, exist_ok=True)
    txt = os.path.join(work, "lm_text.gz")
    write_sentences(sentences, txt)
    ilm = os.path.join(work, "lm.ilm.gz")
    tmp = os.path.join(work, "stat")
    shutil.rmtree(tmp, ignore_errors=True)
    if os.path.exists(ilm):  # build-lm.sh refuses to overwrite its output
        os.remove(ilm)
    _run([_bin("build-lm.sh"), "-i", f"gunzip -c {txt}", "-n", str(order), "-o", ilm,
          "-k", "4", "-s", smoothing, "-t", tmp], stdout=subprocess.DEVNULL)
    full = os.path.join(work, "lm.full.arpa")
    _run([_bin("compile-lm"), "--text=yes", ilm, full], stdout=subprocess.DEVNULL)
    stats = {"order": order, "smoothing": smoothing, "full_counts": arpa_counts(full),
             "full_mb": round(os.path.getsize(full) / 2**20, 1)}
    chosen, thr = prune_to(full, max_mb, work, "lm", order)
    shutil.copyfile(chosen, out)
    stats.update({"prune_threshold": thr, "counts": arpa_counts(out),
                  "mb": round(os.path.getsize(out) / 2**20, 2)})
    return stats


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--text", required=True, help="folder from corpus.text build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--max-mb", type=float, default=6.0)
    ap.add_argument("--smoothing", default="improved-kneser-ney")
    ap.add_argument("--work", default=None)
    ap.add_argument("--reuse", action="store_true", help="keep an existing --out corpus LM")
    ap.add_argument("--pocketsphinx-blend", type=float, default=0.0,
                    help="weight of the pocketsphinx-en-us LM in a second, blended ARPA")
    a = ap.parse_args(argv)
    work = a.work or os.path.join(os.path.dirname(os.path.abspath(a.out)), "lm_work")
    if a.reuse and os.path.exists(a.out):
        stats = {"reused": a.out, "counts": arpa_counts(a.out)}
    else:
        sentences = [s for _, s in T.read_train(a.text)]
        stats = build(sentences, a.out, a.order, a.max_mb, work, a.smoothing)
    for name in ("test_va", "test_gen"):
        p = os.path.join(a.text, name + ".txt")
        if os.path.exists(p):
            stats[name] = perplexity(a.out, [ln.strip() for ln in open(p) if ln.strip()])
    if a.pocketsphinx_blend > 0:
        from corpus import mix_lm, sphinx_lm
        ps_full = os.path.join(work, "ps_en_us.arpa")
        if not os.path.exists(ps_full):
            sphinx_lm.write_arpa(sphinx_lm.read_trie(sphinx_lm.DEFAULT_LM), ps_full)
        ps_pruned, ps_thr = prune_to(ps_full, a.max_mb, work, "ps", 3)
        blend = os.path.splitext(a.out)[0] + ".blend.arpa"
        probs, bows = mix_lm.mix(a.out, ps_pruned, 1.0 - a.pocketsphinx_blend)
        mix_lm.write_arpa(probs, bows, blend)
        stats["blend"] = {"file": blend, "weight_pocketsphinx": a.pocketsphinx_blend,
                          "ps_prune_threshold": ps_thr, "counts": arpa_counts(blend),
                          "mb": round(os.path.getsize(blend) / 2**20, 2)}
        for name in ("test_va", "test_gen"):
            p = os.path.join(a.text, name + ".txt")
            lines = [ln.strip() for ln in open(p) if ln.strip()]
            stats["blend"][name] = perplexity(blend, lines)
            stats["blend"][name + "_pocketsphinx_only"] = perplexity(ps_pruned, lines)
    with open(a.out + ".json", "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
