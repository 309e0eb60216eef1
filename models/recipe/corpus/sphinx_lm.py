"""Convert Debian's pocketsphinx-en-us general LM (en-us.lm.bin, sphinxbase's binary trie) to ARPA.

Why: Debian's converters (sphinx_lm_convert, python3-pocketsphinx NGramModel.write) abort in
ngram_model_trie_write_arpa on this file (assertion raw_ngram_idx == n_counts). This reader
parses the trie directly (numpy, vectorized) instead of going through that code.

The format, as sphinxbase writes it (lm_trie.c, lm_trie_quant.c, ngram_model_trie.c):
  "Trie Language Model" | uint8 order | uint32 counts[order]
  int32 0 | float quant tables: per middle order 65536 prob + 65536 backoff centers, then 65536
            prob centers for the longest order
  unigrams[counts[0] + 1]: {float prob, float backoff, uint32 next}
  middle arrays (bit-packed little-endian records: word | backoff:16 | prob:16 | next),
  longest array (word | prob:16), each (1 + n) records + 8 bytes
  int32 k | k bytes of NUL-separated words
The trie is reversed (root = the predicted word, then its history backwards), and values are
in sphinxbase "log float" units (logarithms to base 1.0001, the logmath base of the
converter); ARPA wants log10. The trie also holds "blank"
middle entries that make higher orders reachable; they are written like any other n-gram
(their probability is the backed-off one, their backoff 0).

  python3 -m corpus.sphinx_lm [--lm /usr/share/pocketsphinx/model/en-us/en-us.lm.bin] --out ps.arpa
"""
from __future__ import annotations

import argparse
import math
import struct
import sys

import numpy as np

HEADER = b"Trie Language Model"
QBITS = 16
LOG10_OF_BASE = math.log10(1.0001)  # sphinxbase's default -logbase
DEFAULT_LM = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"


def required_bits(max_value: int) -> int:
    if max_value == 0:
        return 0
    return int(max_value).bit_length()


def _read_field(mem: np.ndarray, start: int, rec_bits: int, field_off: int, n: int, bits: int,
                idx: np.ndarray | None = None) -> np.ndarray:
    """Field of `bits` bits at bit `field_off` of records 0..n-1 (or `idx`) of a packed array."""
    i = np.arange(n, dtype=np.int64) if idx is None else idx.astype(np.int64)
    off = i * rec_bits + field_off
    byte = start + (off >> 3)
    shift = (off & 7).astype(np.uint64)
    # gather 8 bytes little-endian into uint64
    val = np.zeros(len(i), dtype=np.uint64)
    for k in range(8):
        val |= mem[byte + k].astype(np.uint64) << np.uint64(8 * k)
    return ((val >> shift) & np.uint64((1 << bits) - 1)).astype(np.int64)


def read_trie(path: str) -> dict:
    raw = open(path, "rb").read()
    if not raw.startswith(HEADER):
        raise ValueError(f"{path}: not a sphinxbase trie LM")
    pos = len(HEADER)
    order = raw[pos]
    pos += 1
    counts = list(struct.unpack_from(f"<{order}I", raw, pos))
    pos += 4 * order
    if order < 2:
        raise ValueError("unigram-only LM not supported")
    pos += 4  # quantizer dummy int
    n_tab = (order - 2) * 2 + 1
    tables = np.frombuffer(raw, dtype="<f4", count=n_tab * 65536, offset=pos).reshape(n_tab, 65536)
    pos += n_tab * 65536 * 4
    uni = np.frombuffer(raw, dtype=np.dtype([("prob", "<f4"), ("bo", "<f4"), ("next", "<u4")]),
                        count=counts[0] + 1, offset=pos)
    pos += (counts[0] + 1) * 12
    mem = np.frombuffer(raw, dtype=np.uint8)
    word_bits = required_bits(counts[0])
    levels = []
    for i in range(1, order - 1):  # middle orders 2..order-1
        next_bits = required_bits(counts[i + 1])
        rec = word_bits + 2 * QBITS + next_bits
        size = ((1 + counts[i]) * rec + 7) // 8 + 8
        levels.append({"start": pos, "rec": rec, "n": counts[i], "next_bits": next_bits, "mid": True})
        pos += size
    rec = word_bits + QBITS
    size = ((1 + counts[order - 1]) * rec + 7) // 8 + 8
    levels.append({"start": pos, "rec": rec, "n": counts[order - 1], "mid": False})
    pos += size
    (k,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    words = raw[pos:pos + k].decode("utf-8", errors="replace").split("\0")[: counts[0]]
    return {"order": order, "counts": counts, "tables": tables, "uni": uni, "mem": mem,
            "levels": levels, "words": words, "word_bits": word_bits}


def enumerate_ngrams(t: dict):
    """Yield (n, probs_log10 [N], backoffs_log10 [N] or None, word_ids [N, n]) per order >= 2.
    Records no parent range reaches (the trie ends with a few) are dropped."""
    wb = t["word_bits"]
    n_uni = t["counts"][0]
    parent_next = t["uni"]["next"].astype(np.int64)  # n_parents + 1 range bounds
    parent_paths = np.arange(n_uni, dtype=np.int64)[:, None]  # reversed word paths
    parent_ok = np.ones(n_uni, dtype=bool)
    for li, lv in enumerate(t["levels"]):
        n = lv["n"]
        word = _read_field(t["mem"], lv["start"], lv["rec"], 0, n, wb)
        # the parent of record r is the p with next[p] <= r < next[p + 1]
        parent = np.searchsorted(parent_next, np.arange(n), side="right") - 1
        ok = (parent >= 0) & (parent < len(parent_paths))
        parent = np.where(ok, parent, 0)
        ok &= parent_ok[parent]
        paths = np.concatenate([parent_paths[parent], word[:, None]], axis=1)
        if lv["mid"]:
            q = _read_field(t["mem"], lv["start"], lv["rec"], wb, n, 2 * QBITS)
            bo = t["tables"][2 * li + 1][q & 0xFFFF] * LOG10_OF_BASE
            prob = t["tables"][2 * li][q >> QBITS] * LOG10_OF_BASE
            nxt = _read_field(t["mem"], lv["start"], lv["rec"], wb + 2 * QBITS, n + 1, lv["next_bits"])
            parent_next, parent_paths, parent_ok = nxt, paths, ok
        else:
            q = _read_field(t["mem"], lv["start"], lv["rec"], wb, n, QBITS)
            prob = t["tables"][-1][q] * LOG10_OF_BASE
            bo = None
        # ARPA order: history first, predicted word last (the trie stores it reversed)
        yield paths.shape[1], prob, bo, paths[:, ::-1], ok


def write_arpa(t: dict, out: str, lowercase: bool = True) -> dict:
    to10 = LOG10_OF_BASE
    words = [w.lower() if lowercase else w for w in t["words"]]
    sections = list(enumerate_ngrams(t))
    # Drop unreachable records and the quantizer's -inf filler.
    keep = [ok & np.isfinite(p) & (p > -98) for _, p, _, _, ok in sections]
    uni = t["uni"][: t["counts"][0]]
    counts = [len(uni)] + [int(k.sum()) for k in keep]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for i, c in enumerate(counts):
            f.write(f"ngram {i + 1}={c}\n")
        f.write("\n\\1-grams:\n")
        for w, p, b in zip(words, uni["prob"] * to10, uni["bo"] * to10):
            f.write(f"{max(p, -99):.4f}\t{w}\t{b:.4f}\n")
        for (n, prob, bo, ids, _), k in zip(sections, keep):
            f.write(f"\n\\{n}-grams:\n")
            ids, prob = ids[k], prob[k]
            order = np.lexsort(ids.T[::-1])
            if bo is not None:
                bo = bo[k]
            lines = []
            for r in order:
                ws = " ".join(words[j] for j in ids[r])
                lines.append(f"{prob[r]:.4f}\t{ws}" + (f"\t{bo[r]:.4f}" if bo is not None else "") + "\n")
            f.writelines(lines)
        f.write("\n\\end\\\n")
    return {"counts": counts}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lm", default=DEFAULT_LM)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    t = read_trie(a.lm)
    print(f"sphinx_lm: order {t['order']}, stored counts {t['counts']}", file=sys.stderr)
    print(write_arpa(t, a.out))


if __name__ == "__main__":
    main()
