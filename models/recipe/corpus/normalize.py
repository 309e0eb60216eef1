"""Text normalization to spoken form: what a speaker says, in lower case.

Numbers, ordinals, years, times, dates, money, percentages and common abbreviations become
words; the only punctuation left is the apostrophe inside words. The output alphabet is
`a-z`, apostrophe and single spaces (the same convention as the real-speech manifest and
LibriSpeech). `normalize()` returns None when a sentence cannot be spoken unambiguously
(leftover symbols, acronyms, foreign letters) so callers can drop it.
"""
from __future__ import annotations

import re
import unicodedata

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORD_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                 "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]


def number_words(n: int) -> str:
    """Cardinal number in words, e.g. 2405 -> 'two thousand four hundred five'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return TENS[t] + ("" if o == 0 else " " + ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return ONES[h] + " hundred" + ("" if r == 0 else " " + number_words(r))
    for value, name in SCALES:
        if n >= value:
            q, r = divmod(n, value)
            return number_words(q) + " " + name + ("" if r == 0 else " " + number_words(r))
    raise AssertionError(n)


def ordinal_words(n: int) -> str:
    """Ordinal in words, e.g. 21 -> 'twenty first'."""
    words = number_words(n).split()
    last = words[-1]
    if last in ORD_IRREGULAR:
        last = ORD_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def year_words(n: int) -> str:
    """Years as people say them: 1984 -> 'nineteen eighty four', 2005 -> 'two thousand five'."""
    if 2000 <= n <= 2009 or n % 1000 == 0 or n < 1000 or n > 9999:
        return number_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    if lo < 10:
        return number_words(hi) + " oh " + ONES[lo]
    return number_words(hi) + " " + number_words(lo)


def digits_words(s: str) -> str:
    return " ".join("oh" if c == "0" else ONES[int(c)] for c in s)


def time_words(h: int, m: int, suffix: str = "") -> str:
    """Clock time: (7, 30, 'pm') -> 'seven thirty p m'; (9, 0, '') -> "nine o'clock"."""
    if m == 0:
        core = number_words(h) + ("" if suffix else " o'clock")
    elif m < 10:
        core = number_words(h) + " oh " + ONES[m]
    else:
        core = number_words(h) + " " + number_words(m)
    if suffix:
        core += " " + " ".join(suffix.replace(".", "").lower())
    return core


ABBREVIATIONS = {
    "mr.": "mister", "mrs.": "missus", "ms.": "miz", "dr.": "doctor", "st.": "saint",
    "jr.": "junior", "sr.": "senior", "prof.": "professor", "gen.": "general", "capt.": "captain",
    "lt.": "lieutenant", "col.": "colonel", "sgt.": "sergeant", "gov.": "governor",
    "rev.": "reverend", "ave.": "avenue", "blvd.": "boulevard", "rd.": "road", "mt.": "mount",
    "ft.": "fort", "no.": "number", "vs.": "versus", "etc.": "et cetera", "approx.": "approximately",
    "dept.": "department", "e.g.": "for example", "i.e.": "that is", "a.m.": "a m", "p.m.": "p m",
    "u.s.": "u s", "u.k.": "u k", "mr": "mister", "mrs": "missus", "dr": "doctor",
    "tv": "t v", "ok": "okay", "dj": "d j", "uk": "u k", "usa": "u s a", "gps": "g p s",
    "km": "kilometers", "kg": "kilograms", "mph": "miles per hour", "lbs": "pounds",
}
SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at ",
           "°": " degrees ", "#": " number "}
KEEP_UPPER = {"I", "A", "O", "OK"}

_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\s*(a\.?m\.?|p\.?m\.?)?(?![\w])", re.I)
_TIME_H = re.compile(r"\b(\d{1,2})\s*(a\.?m\.?|p\.?m\.?)(?![\w])", re.I)
_MONEY = re.compile(r"\$(\d+)(?:\.(\d{2}))?")
_ORD = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.I)
_DEC = re.compile(r"\b(\d+)\.(\d+)\b")
_NUM = re.compile(r"\b\d+\b")
_COMMA_NUM = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_DATE = re.compile(r"\b(" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b",
                   re.I)
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")


def _date(m: re.Match) -> str:
    month = next(x for x in MONTHS if x.startswith(m.group(1).lower()))
    day = int(m.group(2))
    return f"{month} {ordinal_words(day)}" if 1 <= day <= 31 else m.group(0)


def _money(m: re.Match) -> str:
    d = int(m.group(1))
    out = number_words(d) + (" dollar" if d == 1 else " dollars")
    if m.group(2) and int(m.group(2)):
        c = int(m.group(2))
        out += " and " + number_words(c) + (" cent" if c == 1 else " cents")
    return " " + out + " "


def _time(m: re.Match) -> str:
    h, mi = int(m.group(1)), int(m.group(2))
    if h > 24 or mi > 59:
        return m.group(0)
    return " " + time_words(h, mi, m.group(3) or "") + " "


def _number(m: re.Match) -> str:
    s = m.group(0)
    n = int(s)
    if len(s) > 1 and s[0] == "0":
        return " " + digits_words(s) + " "
    if 1100 <= n <= 2099 and len(s) == 4:
        return " " + year_words(n) + " "
    if n >= 10**15:
        return " " + digits_words(s) + " "
    return " " + number_words(n) + " "


def normalize(text: str, allow_acronyms: bool = False) -> str | None:
    """Spoken form of `text`, or None if it cannot be spoken unambiguously."""
    t = unicodedata.normalize("NFKC", text)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = re.sub(r"[\u2013\u2014]|--", " ", t)
    t = _COMMA_NUM.sub(lambda m: m.group(0).replace(",", ""), t)
    t = _DATE.sub(_date, t)
    t = _TIME.sub(_time, t)
    t = _TIME_H.sub(lambda m: " " + time_words(int(m.group(1)), 0, m.group(2)) + " "
                    if 1 <= int(m.group(1)) <= 12 else m.group(0), t)
    t = _MONEY.sub(_money, t)
    t = _ORD.sub(lambda m: " " + ordinal_words(int(m.group(1))) + " ", t)
    t = _DEC.sub(lambda m: " " + number_words(int(m.group(1))) + " point "
                 + digits_words(m.group(2)) + " ", t)
    t = _NUM.sub(_number, t)
    for sym, word in SYMBOLS.items():
        t = t.replace(sym, word)
    if not allow_acronyms:
        if any(a not in KEEP_UPPER for a in _ACRONYM.findall(t)):
            return None
    words = []
    for w in t.split():
        lw = w.lower()
        stripped = lw.strip(".,;:!?\"()[]{}")
        if lw.rstrip(",;:!?\"()") in ABBREVIATIONS:
            words.append(ABBREVIATIONS[lw.rstrip(",;:!?\"()")])
        elif stripped in ABBREVIATIONS and not stripped.endswith("."):
            words.append(ABBREVIATIONS[stripped])
        else:
            words.append(lw)
    t = " ".join(words)
    t = re.sub(r"[.,;:!?\"()\[\]{}/\\*_~<>|^-]", " ", t)
    # Apostrophes only inside words ("don't", "james'"), never as quotes.
    t = re.sub(r"(^|\s)'+", r"\1", t)
    t = re.sub(r"'+(\s|$)", r"\1", t)
    t = re.sub(r"\s+", " ", t).strip()
    if not t or re.search(r"[^a-z' ]", t):
        return None
    return t


def is_clean(text: str) -> bool:
    """True if `text` is already in the corpus alphabet (lower case, apostrophes, spaces)."""
    return bool(text) and re.fullmatch(r"[a-z']+( [a-z']+)*", text) is not None
