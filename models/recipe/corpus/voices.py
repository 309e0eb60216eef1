"""The TTS voice list and the command lines that drive each Debian engine.

Every voice is (engine, name). Engines: flite (per-voice flite_cmu_us_* binaries), festival
(batch scheme scripts, one process per chunk), pico (pico2wave), espeak (espeak-ng voices and
variants) and mbrola (espeak-ng's mb-* voices, which drive the mbrola binary: us1/us2/en1 and the
accented mb-XX-en voices).

Held-out voices never render training audio: `check_allowed()` raises for them, and
`render.py` calls it for every training job.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

# (engine, voice) pairs reserved for the held-out test sets.
HELDOUT = {("pico", "en-GB"), ("mbrola", "us3"), ("festival", "rab_diphone")}
HELDOUT_TOKENS = ("en-GB", "us3", "rab_diphone", "rablpc")


# Voices no model trains on and no test uses: a dev set rendered with them measures how a model
# carries over to a voice it never heard, without touching the test voices. mbrola de6 (German
# accent) is one: its 41 MB database never fitted a GPU call's carry, so no run has trained on it.
DEV_ONLY = {("mbrola", "de6")}


class HeldOutVoiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str
    weight: float = 1.0
    sr_hint: int = 16000
    extra: tuple = field(default=())

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.name}".replace("+", "_")


def _database(v: Voice) -> str:
    """The voice without its espeak variant, and an mbrola voice as its database (mb-us3 -> us3)."""
    base = v.name.split("+")[0]
    return base[3:] if v.engine == "mbrola" and base.startswith("mb-") else base


def is_heldout(v: Voice) -> bool:
    return ((v.engine, v.name.split("+")[0]) in HELDOUT or (v.engine, _database(v)) in HELDOUT
            or any(t in v.name for t in HELDOUT_TOKENS))


def is_dev_only(v: Voice) -> bool:
    return (v.engine, _database(v).removesuffix("-en")) in DEV_ONLY


def _voice_args(argv: list[str]) -> list[str]:
    """The parts of a command line that pick a voice: the program's name (flite links one
    voice per binary) and the values of -v / -l. Not file paths or the text: a random
    temporary folder name or a sentence may contain "us3" by chance (one did, and stopped a
    rendering pass on the GPU box)."""
    if not argv:
        return []
    out = [os.path.basename(argv[0])]
    out += [b for a, b in zip(argv, argv[1:]) if a in ("-v", "-l", "--voice", "--lang")]
    return out


def check_allowed(v: Voice, split: str, argv: list[str] | None = None) -> None:
    """Raise HeldOutVoiceError if a held-out voice (or a command naming one) would render
    anything but a test split."""
    dev_only_args = any(f"mb-{name}" in a for _, name in DEV_ONLY for a in _voice_args(argv or []))
    if (is_dev_only(v) or dev_only_args) and split != "dev":
        raise HeldOutVoiceError(f"voice {v.engine}/{v.name} is kept for the unheard-voice dev "
                                f"set; refusing split {split!r}")
    if split.startswith("test"):
        return
    if is_heldout(v) or any(t in a for a in _voice_args(argv or []) for t in HELDOUT_TOKENS):
        raise HeldOutVoiceError(f"voice {v.engine}/{v.name} is held out; refusing split {split!r}")


FLITE = ["slt", "rms", "awb", "kal16", "kal"]
FESTIVAL = ["kal_diphone", "ked_diphone", "don_diphone", "cmu_us_slt_arctic_hts", "us1_mbrola",
            "us2_mbrola", "en1_mbrola"]
MBROLA_EN = ["us1", "us2", "en1"]
MBROLA_ACCENT = ["af1", "de1", "de2", "de3", "de4", "de5", "fr1", "fr4", "gr2", "hu1",
                 "nl2", "pl1", "ro1", "sw1", "sw2"]  # de6: DEV_ONLY
ESPEAK_LANGS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                "en-gb-x-gbcwmd"]
ESPEAK_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3",
                   "+f4", "+f5", "+klatt", "+klatt2", "+klatt4", "+croak", "+Andy",
                   "+Annie", "+Alex", "+edward", "+iven", "+john", "+robert", "+steph", "+anika"]


def all_voices(espeak_share: float = 0.10) -> list[Voice]:
    """Training voice list with sampling weights (espeak-ng variants together ~espeak_share)."""
    vs: list[Voice] = []
    vs += [Voice("flite", n, 1.0, 8000 if n == "kal" else 16000) for n in FLITE]
    # HTS is ~4x slower than the diphone voices: sampled less so rendering stays fast.
    vs += [Voice("festival", n, 0.7 if "hts" in n else 1.0) for n in FESTIVAL]
    vs += [Voice("pico", "en-US", 1.2)]
    vs += [Voice("mbrola", f"mb-{n}", 1.0) for n in MBROLA_EN]
    vs += [Voice("mbrola", f"mb-{n}-en", 0.6) for n in MBROLA_ACCENT]
    main = sum(v.weight for v in vs)
    esp = [Voice("espeak", lang + var, 1.0, 22050) for lang in ESPEAK_LANGS for var in ESPEAK_VARIANTS]
    w = espeak_share / (1 - espeak_share) * main / len(esp)
    vs += [Voice("espeak", v.name, w, 22050) for v in esp]
    return [v for v in vs if not is_heldout(v)]


def dev_only_voices() -> list[Voice]:
    return [Voice("mbrola", "mb-de6-en")]


def test_voices() -> list[Voice]:
    return [Voice("pico", "en-GB"), Voice("mbrola", "mb-us3"), Voice("festival", "rab_diphone")]


# --------------------------------------------------------------------------- environment
@dataclass
class Env:
    """Where the engines live: a TTS root from unpack_tts.sh, or the system (root '/')."""
    root: str = "/"

    @classmethod
    def from_environ(cls) -> "Env":
        return cls(os.environ.get("TTS_ROOT", "/"))

    @property
    def system(self) -> bool:
        return self.root in ("", "/")

    def path(self, p: str) -> str:
        return p if self.system else os.path.join(self.root, p.lstrip("/"))

    def bin(self, name: str) -> str:
        return self.path("/usr/bin/" + name)

    def proc_env(self) -> dict:
        e = {"PATH": (self.path("/usr/bin") + ":" if not self.system else "") + "/usr/bin:/bin",
             "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}
        if not self.system:
            lib = self.path("/usr/lib/x86_64-linux-gnu")
            e["LD_LIBRARY_PATH"] = f"{lib}:{lib}/pulseaudio:{self.path('/lib/x86_64-linux-gnu')}"
        return e

    def espeak_path_args(self) -> list[str]:
        return [] if self.system else ["--path=" + self.path("/usr/lib/x86_64-linux-gnu")]

    def available(self, v: Voice) -> bool:
        """Whether the files this voice needs exist (a voice whose bundle was not carried is skipped)."""
        if v.engine == "flite":
            return os.path.exists(self.bin(f"flite_cmu_us_{v.name}"))
        if v.engine == "pico":
            return os.path.exists(self.bin("pico2wave")) and os.path.exists(
                f"/usr/share/pico/lang/{v.name}_ta.bin")
        if v.engine == "espeak":
            return os.path.exists(self.bin("espeak-ng"))
        if v.engine == "mbrola":
            db = v.name.split("-")[1]
            return (os.path.exists(self.bin("espeak-ng")) and os.path.exists(self.bin("mbrola"))
                    and os.path.exists(f"/usr/share/mbrola/{db}/{db}"))
        if v.engine == "festival":
            if not os.path.exists(self.bin("festival")):
                return False
            for d in ("english", "us"):
                vd = self.path(f"/usr/share/festival/voices/{d}/{v.name}")
                if os.path.isdir(vd):
                    if v.name.endswith("_mbrola"):
                        db = v.name.split("_")[0]
                        return os.path.exists(self.path(f"/usr/share/mbrola/{db}/{db}"))
                    return True
            return False
        return False


# --------------------------------------------------------------------------- prosody
def sample_prosody(rng: random.Random) -> dict:
    """Random speaking rate (duration factor, >1 is slower) and pitch factor per utterance."""
    return {"rate": round(rng.uniform(0.8, 1.25), 3), "pitch": round(rng.uniform(0.85, 1.2), 3)}


def command(env: Env, v: Voice, text: str, out: str, pros: dict) -> list[str]:
    """argv rendering one utterance to `out` (not used for festival, which batches)."""
    rate, pitch = pros["rate"], pros["pitch"]
    if v.engine == "flite":
        f0 = {"slt": 160, "rms": 100, "awb": 110, "kal16": 105, "kal": 105}[v.name] * pitch
        return [env.bin(f"flite_cmu_us_{v.name}"), "--setf", f"duration_stretch={rate}",
                "--setf", f"int_f0_target_mean={f0:.0f}", "-t", text, "-o", out]
    if v.engine == "pico":
        ssml = (f"<speed level='{int(100 / rate)}'><pitch level='{int(100 * pitch)}'>{text}"
                f"</pitch></speed>")
        return [env.bin("pico2wave"), "-l", v.name, "-w", out, ssml]
    if v.engine in ("espeak", "mbrola"):
        wpm = int(165 / rate)
        p = int(max(0, min(99, 50 * pitch)))
        return [env.bin("espeak-ng"), *env.espeak_path_args(), "-v", v.name, "-s", str(wpm),
                "-p", str(p), "-w", out, text]
    raise ValueError(v.engine)


def festival_script(v: Voice, items: list[tuple[str, str, dict]]) -> str:
    """Scheme for one festival process rendering many (text, out, prosody) items with voice v."""
    lines = [f"(voice_{v.name})"]
    for text, out, pros in items:
        t = text.replace("\\", " ").replace('"', " ")
        lines.append(f"(Parameter.set 'Duration_Stretch {pros['rate']})")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{t}")) "{out}" \'riff)')
    return "\n".join(lines) + "\n"


def festival_command(env: Env, script_path: str) -> list[str]:
    args = [env.bin("festival")]
    if not env.system:
        args += ["--libdir", env.path("/usr/lib/festival"), "--datadir",
                 env.path("/usr/share/festival")]
    return args + ["-b", script_path]
