"""Static linear interpolation of two back-off ARPA LMs into one ARPA (what SRILM's
`ngram -mix-lm` does; IRSTLM's interpolate-lm only evaluates a mixture, it cannot write one).

For every n-gram in either model, p(w|h) = l * p1(w|h) + (1 - l) * p2(w|h), each p_k with its
own back-off; then every context's back-off weight is recomputed so the mixture stays
normalized: bow(h) = (1 - sum_E p(w|h)) / (1 - sum_E p(w|h')) over the explicit words E of h.
A word unknown to one model has probability 0 there.

  python3 -m corpus.mix_lm A.arpa B.arpa --weight-a 0.5 --out mix.arpa
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from collections import defaultdict

LOG0 = -99.0


def read_arpa(path: str) -> tuple[list[dict], list[dict]]:
    """probs[n][words] and bows[n][words] (log10), n from 1."""
    probs, bows = [None], [None]
    order = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            m = re.match(r"\\(\d+)-grams:", line)
            if m:
                order = int(m.group(1))
                while len(probs) <= order:
                    probs.append({})
                    bows.append({})
                continue
            if line.startswith("\\") or order == 0:
                continue
            parts = line.split()
            if len(parts) < order + 1:
                continue
            words = tuple(parts[1:1 + order])
            probs[order][words] = float(parts[0])
            if len(parts) > order + 1:
                bows[order][words] = float(parts[order + 1])
    return probs, bows


class Backoff:
    """p(w | h) in the linear domain for an ARPA model with back-off."""

    def __init__(self, probs, bows):
        self.probs, self.bows = probs, bows
        self.n = len(probs) - 1

    def p(self, h: tuple, w: str) -> float:
        h = h[-(self.n - 1):] if self.n > 1 else ()
        lbo = 0.0
        while True:
            k = len(h) + 1
            lp = self.probs[k].get(h + (w,)) if k <= self.n else None
            if lp is not None:
                return 10.0 ** (lp + lbo) if lp > LOG0 else 0.0
            if not h:
                return 0.0
            lbo += self.bows[len(h)].get(h, 0.0)
            h = h[1:]


def mix(a_path: str, b_path: str, weight_a: float) -> tuple[list[dict], list[dict]]:
    pa, ba = read_arpa(a_path)
    pb, bb = read_arpa(b_path)
    A, B = Backoff(pa, ba), Backoff(pb, bb)
    n = max(A.n, B.n)
    probs, bows = [None], [None]
    for k in range(1, n + 1):
        keys = set(pa[k]) if k <= A.n else set()
        if k <= B.n:
            keys |= set(pb[k])
        pk = {}
        for g in keys:
            p = weight_a * A.p(g[:-1], g[-1]) + (1 - weight_a) * B.p(g[:-1], g[-1])
            pk[g] = math.log10(p) if p > 0 else LOG0
        probs.append(pk)
        bows.append({})
        print(f"mix_lm: {k}-grams {len(pk)}", file=sys.stderr)
    M = Backoff(probs, [None] + [{} for _ in range(n)])
    # back-off weights, lower orders first (the mixture's own lower-order probabilities)
    for k in range(1, n):
        children = defaultdict(list)
        for g in probs[k + 1]:
            children[g[:-1]].append(g[-1])
        bk = {}
        for h in probs[k]:
            ws = children.get(h)
            if not ws:
                continue
            num = 1.0 - sum(10.0 ** probs[k + 1][h + (w,)] for w in ws)
            den = 1.0 - sum(M.p(h[1:], w) for w in ws)
            num, den = max(num, 1e-12), max(den, 1e-12)
            bk[h] = math.log10(num / den)
        bows[k] = bk
        M.bows[k] = bk
    return probs, bows


def write_arpa(probs, bows, path: str) -> None:
    n = len(probs) - 1
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for k in range(1, n + 1):
            f.write(f"ngram {k}={len(probs[k])}\n")
        for k in range(1, n + 1):
            f.write(f"\n\\{k}-grams:\n")
            for g in sorted(probs[k]):
                line = f"{probs[k][g]:.5f}\t{' '.join(g)}"
                if k < n:
                    line += f"\t{bows[k].get(g, 0.0):.5f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--weight-a", type=float, default=0.5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    probs, bows = mix(a.a, a.b, a.weight_a)
    write_arpa(probs, bows, a.out)


if __name__ == "__main__":
    main()
