"""Training and held-out text for the synthetic speech corpus.

Two kinds of sentences:
  * voice-assistant requests ("va"), generated from templates and entity catalogs
    (corpus/entities.py), in written form (digits, times, dates) and then normalized to
    spoken form with corpus/normalize.py;
  * general English ("gen") from Debian text packages: fortunes (fortunes, fortunes-min,
    fortune-anarchism, tfortunes), the King James Bible (bible-kjv), WordNet glosses and
    examples (wordnet-base), GCIDE definitions (dict-gcide), normalized and deduplicated.

Held-out split: test requests use only held-out entity names (10% of every catalog, never seen
in training text); test general sentences are a hash-chosen subset removed from training.

Usage:
  python3 -m corpus.text extract --out work/text/general.txt.gz     # needs the Debian packages
  python3 -m corpus.text build --general work/text/general.txt.gz --out work/text --seed 1
The build step needs only the extracted general file, so it runs anywhere (the GPU box).
Output folder: train.tsv.gz (kind<TAB>sentence), test_va.txt, test_gen.txt, bpe_text.txt.gz,
entities.json.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from corpus import entities as E  # noqa: E402
from corpus.normalize import MONTHS, normalize  # noqa: E402

MIN_WORDS, MAX_WORDS = 3, 24


# ---------------------------------------------------------------- general English extraction
def _split_sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[\"'A-Z])", text)
    return [p.strip() for p in parts if p.strip()]


def _chunk_long(words: list[str]) -> list[list[str]]:
    """Split an over-long word list into pieces of MIN..MAX words (TTS and training like it short)."""
    if len(words) <= MAX_WORDS:
        return [words]
    n = (len(words) + MAX_WORDS - 1) // MAX_WORDS
    size = (len(words) + n - 1) // n
    return [words[i:i + size] for i in range(0, len(words), size)]


def _emit(raw: str, out: set, split_clauses: bool = False) -> None:
    pieces = re.split(r"[;:]\s+", raw) if split_clauses else [raw]
    for piece in pieces:
        s = normalize(piece)
        if s is None:
            continue
        for chunk in _chunk_long(s.split()):
            if MIN_WORDS <= len(chunk) and not any(len(w) > 18 for w in chunk):
                out.add(" ".join(chunk))


def extract_fortunes(out: set) -> None:
    files = [f for f in glob.glob("/usr/share/games/fortunes/*") if "." not in os.path.basename(f)]
    files += glob.glob("/usr/share/games/tfortunes/*/en.tfortunes")
    for f in sorted(files):
        if os.path.basename(f).startswith("mario") or os.path.isdir(f):
            continue
        with open(f, encoding="utf-8", errors="ignore") as fh:
            for cookie in fh.read().split("\n%\n"):
                lines = [ln for ln in cookie.splitlines() if not re.match(r"\s*(--|-- )", ln)]
                body = " ".join(ln.strip() for ln in lines)
                if re.search(r"[|<>{}\\]|_{2,}|:\s*$", body):
                    continue
                for sent in _split_sentences(body):
                    _emit(sent, out)


def extract_bible(out: set) -> None:
    try:
        txt = subprocess.run(["bible", "-l100000", "gen1:1-rev22:21"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        print("text: bible-kjv not available, skipped", file=sys.stderr)
        return
    for line in txt.splitlines():
        m = re.match(r"\s*\d+\s+(.*)", line)
        if m:
            _emit(m.group(1), out, split_clauses=True)


def extract_wordnet(out: set) -> None:
    for f in sorted(glob.glob("/usr/share/wordnet/data.*")):
        with open(f, encoding="utf-8", errors="ignore") as fh:
            for line in fh:
                if line.startswith("  ") or "|" not in line:
                    continue
                gloss = line.split("|", 1)[1].strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                for ex in examples:
                    _emit(ex, out)
                definition = gloss.split('"')[0].strip(" ;")
                if len(definition.split()) >= 4:
                    _emit(definition, out, split_clauses=True)


def extract_gcide(out: set, limit: int = 60000) -> None:
    path = "/usr/share/dictd/gcide.dict.dz"
    if not os.path.exists(path):
        return
    with gzip.open(path, "rt", encoding="utf-8", errors="ignore") as fh:
        data = fh.read()
    n = 0
    for para in data.split("\n\n"):
        lines = [ln.strip() for ln in para.splitlines()[1:]]
        body = " ".join(ln for ln in lines if ln and not ln.startswith("["))
        body = re.sub(r"\[[^\]]*\]|--\w+[\w. ]*|\{[^}]*\}|\([^)]*\)", " ", body)
        body = re.sub(r"^\d+\.\s*", "", body)
        for sent in _split_sentences(body):
            if len(sent.split()) >= 5 and not re.search(r"[\\*`\"]|Syn\.|See |Note:", sent):
                before = len(out)
                _emit(sent, out)
                n += len(out) - before
        if n >= limit:
            break


PROPER_FILE = "proper_nouns.txt"


def extract_general(path_out: str) -> int:
    # The catalog's extra surnames come from wamerican; save them beside the text so a machine
    # without the word list (the GPU box) builds the identical catalog and split.
    _, proper = E.load_dict_words()
    with open(os.path.join(os.path.dirname(os.path.abspath(path_out)), PROPER_FILE), "w") as f:
        f.write("\n".join(proper) + "\n")
    sents: set[str] = set()
    for name, fn in [("fortunes", extract_fortunes), ("bible", extract_bible),
                     ("wordnet", extract_wordnet), ("gcide", extract_gcide)]:
        before = len(sents)
        fn(sents)
        print(f"text: {name}: +{len(sents) - before} sentences", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(path_out)), exist_ok=True)
    with gzip.open(path_out, "wt", encoding="utf-8", compresslevel=9) as f:
        for s in sorted(sents):
            f.write(s + "\n")
    return len(sents)


# ---------------------------------------------------------------- voice-assistant generation
def _time_written(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    m = rng.choice([0, 0, 0, 15, 30, 45, 5, 10, 20, 25, 40, 50, rng.randint(0, 59)])
    suffix = rng.choice(["am", "pm", "a.m.", "p.m.", ""])
    if m == 0 and suffix and rng.random() < 0.5:
        return f"{h}{suffix}" if "." not in suffix else f"{h} {suffix}"
    return f"{h}:{m:02d} {suffix}".strip()


def _duration(rng: random.Random) -> str:
    unit = rng.choice(["minutes", "minutes", "seconds", "hours", "minute", "hour"])
    if unit in ("minute", "hour"):
        return rng.choice([f"1 {unit}", f"an {unit}" if unit == "hour" else f"a {unit}",
                           f"half an hour" if unit == "hour" else "one minute"])
    n = rng.choice([rng.randint(2, 60), rng.choice([5, 10, 15, 20, 30, 45, 90])])
    if unit == "hours":
        n = rng.randint(2, 12)
    s = f"{n} {unit}"
    if rng.random() < 0.15 and unit == "minutes":
        h = rng.randint(1, 3)
        s = f"{h} {'hour' if h == 1 else 'hours'} and {n} minutes"
    return s


def _date(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return rng.choice(["today", "tomorrow", "tonight", "this evening", "this afternoon",
                           "tomorrow morning", "next week", "this weekend", "the day after tomorrow"])
    if r < 0.7:
        return rng.choice(["on ", "next ", "this ", ""]) + rng.choice(E.WEEKDAYS)
    month = rng.choice(MONTHS)
    if rng.random() < 0.5:
        month = month.capitalize()[:3] if rng.random() < 0.4 else month.capitalize()
    return f"on {month} {rng.randint(1, 28)}"


def _phone(rng: random.Random) -> str:
    return " ".join(rng.choice(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]) for _ in range(rng.choice([3, 7, 10])))


class RequestGenerator:
    """Generates written-form voice-assistant requests from entity pools."""

    def __init__(self, pool: dict[str, list[str]], rng: random.Random):
        self.p = pool
        self.rng = rng

    def pick(self, key: str) -> str:
        return self.rng.choice(self.p[key])

    def contact(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.pick("first")
        if r < 0.85:
            return self.pick("first") + " " + self.pick("last")
        if r < 0.93:
            return self.rng.choice(E.RELATIONS)
        return self.rng.choice(["doctor ", "mister ", "missus ", "professor "]) + self.pick("last")

    def song(self) -> str:
        r = self.rng.random()
        a, n = self.pick("song_adj"), self.pick("song_noun")
        if r < 0.4:
            return f"{a} {n}"
        if r < 0.6:
            return f"the {a} {n}"
        if r < 0.8:
            return f"{n} of the {self.pick('song_noun')}"
        return f"{a} {self.pick('first')}"

    def artist(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return self.pick("first") + " " + self.pick("last")
        if r < 0.8:
            return f"the {self.pick('song_adj')} {self.pick('band_noun')}"
        return f"{self.pick('last')} and the {self.pick('band_noun')}"

    def city(self) -> str:
        return self.pick("city")

    def address(self) -> str:
        n = self.rng.choice([self.rng.randint(1, 99), self.rng.randint(100, 9999)])
        return f"{n} {self.pick('last')} {self.rng.choice(E.STREET_TYPES)}"

    def item(self) -> str:
        return self.pick("item")

    # each template function returns one written request
    def call(self):
        c = self.contact()
        t = self.rng.choice(["call {c}", "call {c} please", "phone {c}", "dial {c}",
                             "give {c} a call", "can you call {c}", "video call {c}",
                             "call {c} on speaker", "facetime {c}", "ring {c}",
                             "i need to call {c}", "start a call with {c}", "call {c} mobile",
                             "call {c} at work", "call {c} at home", "please call {c} back"])
        if self.rng.random() < 0.06:
            return "dial " + _phone(self.rng)
        return t.format(c=c)

    def message(self):
        c = self.contact()
        body = self.rng.choice([
            "i'm running late", "i'll be there in {d}", "see you at {t}", "call me back",
            "happy birthday", "don't forget the {i}", "can you pick up {i}", "dinner is ready",
            "i'm on my way", "thanks for everything", "where are you", "meeting moved to {t}",
            "the game starts at {t}", "i love you", "let's meet {dt}", "bring some {i}",
            "are we still on for {dt}", "good night", "i just landed", "running {d} late"])
        body = body.format(d=_duration(self.rng), t=_time_written(self.rng), i=self.item(),
                           dt=_date(self.rng))
        t = self.rng.choice(["text {c} {b}", "send a message to {c} saying {b}",
                             "message {c} {b}", "tell {c} {b}", "send {c} a text that says {b}",
                             "text {c}", "reply to {c} {b}", "send an email to {c}",
                             "email {c} about {b}", "read my messages from {c}",
                             "whatsapp {c} {b}"])
        return t.format(c=c, b=body)

    def music(self):
        t = self.rng.choice([
            "play {s}", "play {s} by {a}", "play some {g}", "play {a}", "play music by {a}",
            "put on {s}", "i want to hear {s}", "play the album {s}", "shuffle songs by {a}",
            "play {g} on spotify", "play the latest album by {a}", "play my {g} playlist",
            "add {s} to my playlist", "who sings {s}", "skip this song", "next song",
            "pause the music", "resume playback", "turn the volume up", "turn it down a bit",
            "set the volume to {n}", "play something relaxing", "play {s} from the beginning",
            "play the radio", "play {a} radio", "like this song", "repeat this song",
            "what song is this", "play {g} in the {r}", "stop the music in {ar} minutes"])
        return t.format(s=self.song(), a=self.artist(), g=self.rng.choice(E.GENRES),
                        n=self.rng.randint(1, 10), r=self.rng.choice(E.ROOMS),
                        ar=self.rng.randint(5, 60))

    def navigate(self):
        t = self.rng.choice([
            "navigate to {ad}", "directions to {p}", "take me to {c}", "how far is {c}",
            "how long will it take to get to {p}", "find {p}", "navigate home",
            "get directions to {ad} in {c}", "show me the way to {p}", "drive to {c}",
            "how do i get to {ad}", "find a route to {c} avoiding tolls", "where is {p}",
            "what's the traffic like on the way to {c}", "find parking near {ad}",
            "walk me to {p}", "navigate to {f} {l}'s house", "how far away is {p}",
            "start navigation to {ad}", "what time will i arrive in {c}"])
        return t.format(ad=self.address(), p=self.rng.choice(E.PLACE_KINDS), c=self.city(),
                        f=self.pick("first"), l=self.pick("last"))

    def timer(self):
        t = self.rng.choice([
            "set a timer for {d}", "timer for {d}", "start a {ds} timer", "set an alarm for {t}",
            "wake me up at {t}", "set an alarm for {t} {dt}", "wake me up at {t} {dt}",
            "remind me to {k} at {t}", "remind me to {k} {dt}", "remind me to {k} in {d}",
            "how much time is left on my timer", "cancel my alarm", "cancel the {ds} timer",
            "snooze for {d}", "set a reminder for {t} to {k}", "add a {ds} timer for the pasta",
            "turn off my {t} alarm", "set an alarm every weekday at {t}",
            "create an event {dt} at {t} called {k}", "what's on my calendar {dt}",
            "schedule a meeting with {c} {dt} at {t}", "move my {t} meeting to {t2}"])
        n = self.rng.choice([2, 3, 5, 10, 15, 20, 25, 30, 45, 90, self.rng.randint(2, 60)])
        ds = f"{n} {self.rng.choice(['minute', 'minute', 'second', 'hour'])}"
        return t.format(d=_duration(self.rng), ds=ds, t=_time_written(self.rng),
                        t2=_time_written(self.rng), dt=_date(self.rng),
                        k=self.rng.choice(E.TASKS), c=self.contact())

    def weather(self):
        t = self.rng.choice([
            "what's the weather like", "what's the weather in {c}", "will it rain {dt}",
            "is it going to snow in {c} {dt}", "what's the temperature outside",
            "how hot will it be {dt}", "do i need an umbrella {dt}", "weather forecast for {c}",
            "what's the weather going to be like {dt} in {c}", "how cold is it in {c}",
            "is it windy outside", "when is sunset {dt}", "what's the humidity in {c}",
            "will it be sunny {dt}", "what time is it in {c}", "what's the air quality in {c}"])
        return t.format(c=self.city(), dt=_date(self.rng))

    def smarthome(self):
        t = self.rng.choice([
            "turn on {dv}", "turn off {dv}", "switch off {dv}", "switch on {dv}",
            "dim the lights in the {r} to {n}%", "set the thermostat to {deg} degrees",
            "set the {r} to {deg} degrees", "lock {door}", "unlock {door}", "is {door} locked",
            "make the lights in the {r} brighter", "turn the heat up", "turn the ac down",
            "set {dv} to {n} percent", "close the blinds in the {r}", "open the garage door",
            "start the robot vacuum", "turn off all the lights", "turn on the lights in the {r}",
            "what's the temperature in the {r}", "change the lights to {col}",
            "turn {dv} off in {m} minutes", "activate movie mode", "good night",
            "turn on do not disturb", "set the oven to {ov} degrees"])
        return t.format(dv=self.rng.choice(E.DEVICES), r=self.rng.choice(E.ROOMS),
                        n=self.rng.choice([10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100]),
                        deg=self.rng.randint(60, 78), door=self.rng.choice(
                            ["the front door", "the back door", "the garage", "the side door"]),
                        col=self.rng.choice(["red", "blue", "warm white", "green", "purple",
                                             "orange", "pink", "yellow"]),
                        m=self.rng.randint(2, 90), ov=self.rng.choice([325, 350, 375, 400, 425, 450]))

    def lists(self):
        t = self.rng.choice([
            "add {i} to my {ls}", "add {i} and {i2} to the {ls}", "put {i} on my {ls}",
            "remove {i} from my {ls}", "what's on my {ls}", "clear my {ls}",
            "create a new list called {k}", "do i have {i} on my {ls}", "read my {ls}",
            "add {k} to my to do list", "mark {k} as done", "we need {i}", "buy {n} {i}"])
        i, i2 = self.rng.sample(self.p["item"], 2)
        return t.format(i=i, i2=i2, ls=self.rng.choice(E.LISTS),
                        k=self.rng.choice(E.TASKS + [self.song()]), n=self.rng.randint(2, 12))

    def apps(self):
        t = self.rng.choice([
            "open {a}", "launch {a}", "close {a}", "start {a}", "open {a} please",
            "take a picture", "take a selfie", "turn on the flashlight", "turn on bluetooth",
            "turn off wifi", "set brightness to {n}%", "take a screenshot",
            "what's my battery level", "open {a} and play {s}", "search the web for {q}",
            "look up {q}", "what is {n} times {n2}", "what's {n} plus {n2}",
            "convert {n} miles to kilometers", "how many ounces in a pound",
            "what's {n} percent of {n3}", "tell me a joke", "what time is it",
            "what's today's date", "how do you spell {w}", "translate {w} into spanish",
            "who is {f} {l}", "show me photos from {c}", "find my phone",
            "read the news", "what's the score of the game", "order a pizza",
            "book a table for {n} at {t}", "call an uber to {p}", "how much is ${n3}.{cents} in euros"])
        return t.format(a=self.rng.choice(E.APPS), n=self.rng.randint(2, 100),
                        n2=self.rng.randint(2, 50), n3=self.rng.randint(10, 5000),
                        s=self.song(), q=self.rng.choice(E.TASKS + E.GENRES + E.PLACE_KINDS),
                        w=self.pick("song_noun"), f=self.pick("first"), l=self.pick("last"),
                        c=self.city(), t=_time_written(self.rng),
                        p=self.rng.choice(E.PLACE_KINDS), cents=f"{self.rng.randint(0, 99):02d}")

    KINDS = ["call", "message", "music", "navigate", "timer", "weather", "smarthome", "lists",
             "apps"]
    WEIGHTS = [14, 12, 14, 11, 13, 8, 12, 7, 9]

    def request(self) -> str:
        kind = self.rng.choices(self.KINDS, self.WEIGHTS)[0]
        s = getattr(self, kind)()
        if self.rng.random() < 0.12:
            s = self.rng.choice(["hey ", "okay ", "please ", "could you ", "can you "]) + s
        return s


def _hash_frac(s: str, salt: str) -> float:
    return int(hashlib.sha1((salt + s).encode()).hexdigest()[:8], 16) / 2**32


def generate_requests(pool: dict, n: int, seed: int, max_tries_factor: int = 6) -> list[str]:
    rng = random.Random(seed)
    gen = RequestGenerator(pool, rng)
    out, seen = [], set()
    for _ in range(n * max_tries_factor):
        s = normalize(gen.request(), allow_acronyms=False)
        if s and s not in seen and len(s.split()) <= MAX_WORDS:
            seen.add(s)
            out.append(s)
            if len(out) >= n:
                break
    return out


def build(general_path: str, out_dir: str, seed: int, n_va: int, n_test: int,
          gen_test_frac: float = 0.01) -> dict:
    proper_path = os.path.join(os.path.dirname(os.path.abspath(general_path)), PROPER_FILE)
    if os.path.exists(proper_path):
        proper = [w.strip() for w in open(proper_path, encoding="utf-8") if w.strip()]
    else:
        print(f"text: {proper_path} missing, reading the system word list: the split matches "
              "test sets made elsewhere only if that list is identical", file=sys.stderr)
        proper = None
    cat = E.Catalog(seed, proper=proper)
    os.makedirs(out_dir, exist_ok=True)
    with gzip.open(general_path, "rt", encoding="utf-8") as f:
        general = [ln.strip() for ln in f if ln.strip()]
    salt = f"seed{seed}"
    gen_test_pool = [s for s in general if _hash_frac(s, salt) < gen_test_frac]
    gen_train = [s for s in general if _hash_frac(s, salt) >= gen_test_frac]

    test_held = set()
    for v in cat.test.values():
        test_held.update(v)
    va_train = generate_requests(cat.pool("train"), n_va, seed)
    va_test_all = generate_requests(cat.pool("test"), n_test * 20, seed + 7919)
    train_set = set(va_train)
    # A held-out request must carry at least one held-out entity word and not occur in training.
    held_words = {w for name in test_held for w in name.split()}
    train_words = {w for s in va_train for w in s.split()}
    va_test = [s for s in va_test_all if s not in train_set and any(
        w in held_words and w not in train_words for w in s.split())]
    rng = random.Random(seed)
    rng.shuffle(va_test)
    va_test = va_test[:n_test]
    rng.shuffle(gen_test_pool)
    gen_test = [s for s in gen_test_pool if 4 <= len(s.split()) <= 20][:n_test]

    with gzip.open(os.path.join(out_dir, "train.tsv.gz"), "wt", encoding="utf-8",
                   compresslevel=9) as f:
        for s in va_train:
            f.write("va\t" + s + "\n")
        for s in gen_train:
            f.write("gen\t" + s + "\n")
    for name, rows in [("test_va.txt", va_test), ("test_gen.txt", gen_test)]:
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    with open(os.path.join(out_dir, "entities.json"), "w") as f:
        json.dump({"train": cat.train, "test": cat.test}, f, indent=0, sort_keys=True)
    stats = {"seed": seed, "va_train": len(va_train), "gen_train": len(gen_train),
             "test_va": len(va_test), "test_gen": len(gen_test),
             "distinct_words_train": len({w for s in va_train + gen_train for w in s.split()})}
    with open(os.path.join(out_dir, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    return stats


def read_train(out_dir: str) -> list[tuple[str, str]]:
    """(kind, sentence) pairs of the training text."""
    rows = []
    with gzip.open(os.path.join(out_dir, "train.tsv.gz"), "rt", encoding="utf-8") as f:
        for ln in f:
            kind, _, s = ln.rstrip("\n").partition("\t")
            if s:
                rows.append((kind, s))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("extract", help="general English from installed Debian text packages")
    ex.add_argument("--out", required=True)
    b = sub.add_parser("build", help="requests + splits from an extracted general file")
    b.add_argument("--general", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--n-va", type=int, default=300000)
    b.add_argument("--n-test", type=int, default=150)
    a = ap.parse_args(argv)
    if a.cmd == "extract":
        print(f"text: {extract_general(a.out)} general sentences -> {a.out}")
    else:
        print(json.dumps(build(a.general, a.out, a.seed, a.n_va, a.n_test)))


if __name__ == "__main__":
    main()
