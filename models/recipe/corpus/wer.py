"""Word and character error rates (Levenshtein), summed over utterances."""
from __future__ import annotations


def edit_distance(ref: list, hyp: list) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_kinds(ref: list, hyp: list) -> tuple:
    """(substitutions, deletions, insertions) of a minimum edit alignment; among alignments
    with the fewest errors, the one with the fewest substitutions."""
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, 1):
        cur = [(i, 0, i, 0)]
        for j, h in enumerate(hyp, 1):
            d, s_, u, v = prev[j - 1]
            sub = r != h
            cur.append(min((d + sub, s_ + sub, u, v),
                           (prev[j][0] + 1, prev[j][1], prev[j][2] + 1, prev[j][3]),
                           (cur[j - 1][0] + 1, cur[j - 1][1], cur[j - 1][2], cur[j - 1][3] + 1)))
        prev = cur
    return prev[-1][1:]


class ErrorRate:
    """Accumulates word and character errors; .wer and .cer are ratios (0.25 = 25%)."""

    def __init__(self):
        self.words = self.word_err = self.chars = self.char_err = self.n = 0

    def add(self, ref: str, hyp: str) -> None:
        r, h = ref.split(), hyp.split()
        self.words += len(r)
        self.word_err += edit_distance(r, h)
        rc, hc = list(" ".join(r)), list(" ".join(h))
        self.chars += len(rc)
        self.char_err += edit_distance(rc, hc)
        self.n += 1

    @property
    def wer(self) -> float:
        return self.word_err / max(1, self.words)

    @property
    def cer(self) -> float:
        return self.char_err / max(1, self.chars)

    def summary(self) -> dict:
        return {"utts": self.n, "words": self.words, "wer": round(self.wer, 4), "cer": round(self.cer, 4)}
