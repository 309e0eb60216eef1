"""Waveform augmentation: each transform does what it claims, on synthetic signals."""
import math

import pytest
import torch

from corpus import augment as A

SR = 16000


def tone(f, sec=1.0, amp=0.5):
    t = torch.arange(int(SR * sec)) / SR
    return amp * torch.sin(2 * math.pi * f * t)


def peak_hz(x):
    return torch.fft.rfft(x).abs().argmax().item() * SR / x.numel()


def band_energy(x, lo, hi):
    s = torch.fft.rfft(x).abs() ** 2
    f = torch.linspace(0, SR / 2, s.numel())
    return s[(f >= lo) & (f < hi)].sum().item()


def test_fast_len():
    for n in (1, 7, 1000, 1025, 64001, 99991):
        m = A.fast_len(n)
        assert m >= n and m < 1.25 * n + 2
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        assert k == 1


def test_resample_changes_length_and_keeps_tone():
    x = tone(500)
    y = A.resample(x, 0.5)  # 16 kHz -> 8 kHz: the tone stays at 500 Hz
    assert y.numel() == 8000
    assert abs(peak_hz(y) / 2 - 500) < 2


def test_smooth_ratio_is_close_and_fast():
    for f in (1 / 1.1, 0.5, 0.8, 1.0 / 0.93, 1.333, 0.7519):
        p, q = A.smooth_ratio(f)
        assert abs(p / q - f) / f < 2e-3
        for v in (p, q):
            for pr in (2, 3, 5, 7, 11):
                while v % pr == 0:
                    v //= pr
            assert v == 1


def test_speed_perturbation_shifts_pitch_and_length():
    x = tone(400)
    y = A.resample(x, 1 / 1.1)   # 10% faster
    assert abs(y.numel() - round(SR / 1.1)) <= 1
    # played back at 16 kHz, the tone is 10% higher
    assert abs(peak_hz(y) - 440) < 6


def test_speaker_warp_pitch_keeps_duration():
    x = tone(200, 2.0)
    y = A.speaker_warp(x, pitch=1.25, vtl=1.0)
    assert y.shape == x.shape
    assert abs(peak_hz(y) - 250) < 5


def test_vtl_warp_moves_spectral_envelope():
    # pulse train (flat harmonics) filtered by one resonance at 1 kHz
    n = SR
    x = torch.zeros(n)
    x[::160] = 1.0  # 100 Hz
    spec = torch.fft.rfft(x)
    f = torch.linspace(0, SR / 2, spec.numel())
    x = torch.fft.irfft(spec * torch.exp(-0.5 * ((f - 1000) / 150) ** 2), n)
    y = A.speaker_warp(x, pitch=1.0, vtl=1.3)
    # energy moves from ~1 kHz toward ~1.3 kHz
    ratio_x = band_energy(x, 1200, 1500) / band_energy(x, 850, 1100)
    ratio_y = band_energy(y, 1200, 1500) / band_energy(y, 850, 1100)
    assert ratio_y > 3 * ratio_x


def test_phase_vocoder_stretches():
    spec = A._stft(tone(300))
    out = A.phase_vocoder(spec, 0.5)
    assert out.shape[1] == 2 * spec.shape[1]
    y = A._istft(out, length=2 * SR)
    assert abs(peak_hz(y) - 300) < 3


def test_add_noise_hits_snr():
    x = tone(300)
    g = torch.Generator().manual_seed(0)
    n = A.colored_noise(x.numel(), 1.0, g)
    y = A.add_noise(x, n, 10.0)
    snr = 10 * math.log10(x.pow(2).mean() / (y - x).pow(2).mean())
    assert abs(snr - 10.0) < 1e-3


def test_colored_noise_slopes():
    g = torch.Generator().manual_seed(1)
    white = A.colored_noise(SR * 2, 0.0, g)
    brown = A.colored_noise(SR * 2, 2.0, g)
    assert band_energy(brown, 50, 500) / band_energy(brown, 4000, 7000) > \
        100 * band_energy(white, 50, 500) / band_energy(white, 4000, 7000)


def test_reverb_rir_decays():
    import random
    rir = A.synthetic_rir(random.Random(0), rt60=0.5)
    assert rir.abs().argmax().item() < 16 * 12  # direct path or early reflection first
    early = rir[: SR // 10].pow(2).sum()
    late = rir[SR // 2:].pow(2).sum()
    assert late < early * 0.01
    y = A.reverb(tone(300), random.Random(0), 0.5)
    assert y.shape == (SR,)


def test_telephone_and_band_limit_remove_high_band():
    x = tone(700) + tone(6000)
    for y in (A.telephone(x), A.band_limit(x, 100.0, 3400.0)):
        assert y.shape == x.shape
        assert band_energy(y, 5000, 8000) < 1e-3 * band_energy(x, 5000, 8000)
        assert band_energy(y, 650, 750) > 0.5 * band_energy(x, 650, 750)


def test_mu_law_is_8_bit():
    x = torch.linspace(-1, 1, 5000)
    assert A.mu_law(x).unique().numel() <= 256
    assert (A.mu_law(x) - x).abs().max() < 0.05


def test_augmenter_deterministic_shape_and_range():
    x = tone(220, 1.5) + 0.1 * tone(1800, 1.5)
    bank = [tone(f, 0.7) for f in (150, 250, 350)]
    a1 = A.Augmenter(seed=7)
    a2 = A.Augmenter(seed=7)
    for _ in range(6):
        y1, y2 = a1(x, bank), a2(x, bank)
        assert torch.equal(y1, y2)
        # speed perturbation (0.9-1.1) is the only transform that changes the length
        assert 0.89 * x.numel() <= y1.numel() <= 1.12 * x.numel()
        assert y1.abs().max() <= 1.0 and torch.isfinite(y1).all()


def test_config_validate_names_field():
    with pytest.raises(ValueError, match="p_noise"):
        A.Augmenter(A.AugmentConfig(p_noise=1.5))
    with pytest.raises(ValueError, match="pitch_range"):
        A.AugmentConfig(pitch_range=(1.2, 0.8)).validate()


def test_parse_config_overrides_ranges_and_probabilities():
    cfg = A.parse_config("vtl_range=0.8:1.25, pitch_range=0.7:1.45,p_speaker=0.9")
    assert cfg.vtl_range == (0.8, 1.25) and cfg.pitch_range == (0.7, 1.45)
    assert cfg.p_speaker == 0.9
    assert cfg.p_eq == A.AugmentConfig().p_eq  # untouched fields keep their defaults
    assert A.parse_config("") == A.AugmentConfig()


@pytest.mark.parametrize("text,names", [
    ("vtl=0.8:1.2", "vtl=0.8:1.2"),          # no such field: the message lists the real ones
    ("vtl_range=0.8", "vtl_range takes LO:HI"),
    ("p_eq=0.1:0.2", "p_eq takes one number"),
    ("p_eq=often", "p_eq='often'"),
    ("p_eq=1.5", "p_eq must be in [0, 1]"),
    ("vtl_range=1.2:0.8", "vtl_range must be 0 < lo <= hi"),
])
def test_parse_config_names_the_bad_field(text, names):
    with pytest.raises(ValueError, match=names.replace("[", r"\[").replace("]", r"\]")):
        A.parse_config(text)


def test_augmenter_uses_the_parsed_config():
    # p_speaker=0 and every other transform off except gain: only a level change remains.
    off = ",".join(f"{p}=0" for p in ("p_speaker", "p_eq", "p_speed", "p_reverb", "p_noise",
                                       "p_band", "p_telephone", "p_clip"))
    aug = A.Augmenter(A.parse_config(off + ",p_gain=1,gain_db_range=-6.0206:-6.0206"), seed=1)
    x = tone(440.0)
    y = aug(x)
    assert torch.allclose(y, x * 0.5, atol=1e-4)
