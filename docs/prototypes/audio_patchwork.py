"""Measurement prototype (issue 5): a patchwork audio watermark, audiowmark-style.

Not product code. Run from the repo root:
    .venv/bin/python docs/prototypes/audio_patchwork.py [--quick] [--strength G] [--period S]

Design (everything on a grid defined in seconds and hertz, so any rate maps onto it):
- STFT frames of 20 ms, hop 10 ms (sqrt-Hann analysis and synthesis, perfect reconstruction),
  bin spacing 50 Hz; marked bins 300 Hz .. 6 kHz (115 bins per frame).
- A keyed period of P frames (default 500 = 5 s). Every (frame, bin) slot of the period gets a
  keyed chip c = +-1 and is owned either by one of the 282 coded bits or by the sync reference
  (which behaves as a known bit 1). Marking multiplies the slot's STFT coefficient by
  exp(g * c * b): "up" bins (c*b > 0) grow, "down" bins shrink. g is relative, so quiet frames
  change little and digital silence stays exactly silent (the mark is added as a delta).
- Informed embedding: per period repetition, per bit, the host's own projection onto the
  bit's chips is measured and the gain is raised for bits the host works against (clipped).
- Detection: mono, resample to 16 kHz, STFT at 8 sub-hop offsets (1.25 ms steps), feature =
  log power, minus its frequency- and time-local mean (host cancellation), clipped. Fold by
  the period, circular cross-correlation with the reference chips gives a z-score per
  (offset, shift); the best few candidates are Viterbi-decoded, CRC-checked.
- Optional speed search: resample the detector input by factors around 1.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from marking.scheme.keys import as_key  # noqa: E402
from marking.scheme.payload import CODED_BITS, decode_payload, encode_payload  # noqa: E402

FRAME_S = 0.020
HOP_S = 0.010
BIN_HZ = 1 / FRAME_S  # 50 Hz
LO_BIN, HI_BIN = 6, 126  # 300 Hz .. 6.3 kHz (exclusive end)
TILE_F, TILE_B = 1, 1  # chips are constant over tiles of frames x bins
DETREND = (5, 7)  # frames x bins of the local-mean host cancellation
NBINS = HI_BIN - LO_BIN
DET_RATE = 16000
SUB_OFFSETS = 8

# ------------------------------------------------------------------------------- layout


class Layout:
    def __init__(self, key, period_frames: int, ref_fraction: float = 0.25) -> None:
        k = as_key(key)
        rng = k.rng(f"audio-patchwork/v0/{period_frames}")
        self.P = period_frames
        assert period_frames % TILE_F == 0 and NBINS % TILE_B == 0
        tf, tb = period_frames // TILE_F, NBINS // TILE_B
        slots = tf * tb
        n_ref = int(round(slots * ref_fraction))
        per_bit = (slots - n_ref) // CODED_BITS
        n_ref = slots - per_bit * CODED_BITS
        owner = np.concatenate([np.full(n_ref, -1), np.repeat(np.arange(CODED_BITS), per_bit)])
        rng.shuffle(owner)
        chip = (rng.integers(0, 2, size=(tf, tb)) * 2 - 1).astype(np.float64)

        def expand(a):
            return np.repeat(np.repeat(a.reshape(tf, tb), TILE_F, axis=0), TILE_B, axis=1)

        self.owner = expand(owner)  # -1 = reference
        self.chip = expand(chip)
        n_ref *= TILE_F * TILE_B
        per_bit *= TILE_F * TILE_B
        self.ref = np.where(self.owner < 0, self.chip, 0.0)
        self.per_bit = per_bit
        flat = self.owner.ravel()
        order = np.argsort(flat, kind="stable")
        self.data_idx = order[n_ref:].reshape(CODED_BITS, per_bit)  # slot indices per bit
        self.ref_idx = order[:n_ref]
        # gain groups for informed embedding: each coded bit, and the reference cut into
        # groups of about one bit's size
        grp = np.empty(slots * TILE_F * TILE_B, dtype=np.int64)
        for b in range(CODED_BITS):
            grp[self.data_idx[b]] = b
        grp[self.ref_idx] = CODED_BITS + np.arange(n_ref) * max(1, n_ref // per_bit) // n_ref
        self.group = grp.reshape(period_frames, NBINS)
        self.n_groups = int(grp.max()) + 1


# ------------------------------------------------------------------------------- STFT


def _win(n: int) -> np.ndarray:
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))  # periodic sqrt-Hann


def stft(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    """x (samples, ch) -> (ch, frames, n//2+1); frame f starts at f*hop - n//2 (padded)."""
    pad = np.pad(x, ((n // 2, n), (0, 0)))
    frames = (x.shape[0] + hop - 1) // hop
    idx = np.arange(frames)[:, None] * hop + np.arange(n)[None, :]
    w = _win(n)
    return np.fft.rfft(pad.T[:, idx] * w, axis=-1)


def istft_add(spec: np.ndarray, n: int, hop: int, length: int) -> np.ndarray:
    ch, frames, _ = spec.shape
    w = _win(n)
    seg = np.fft.irfft(spec, n=n, axis=-1) * w
    out = np.zeros((ch, frames * hop + 2 * n))
    for j in range(2):  # hop = n/2: two interleaved non-overlapping streams
        sel = seg[:, j::2]
        if sel.shape[1] == 0:
            continue
        start = j * hop
        blk = sel.reshape(ch, -1)
        out[:, start : start + blk.shape[1]] += blk
    return out[:, n // 2 : n // 2 + length].T


# ------------------------------------------------------------------------------- features


def features(spec_mono: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, NBINS) host-cancelled log power and per-frame weight (0 for silent frames)."""
    p = np.abs(spec_mono[:, LO_BIN:HI_BIN]) ** 2
    e = p.mean(axis=1)
    ref = np.percentile(e, 90) if e.size else 0.0
    weight = (e > max(ref * 1e-5, 1e-14)).astype(np.float64)
    L = np.log(p + 1e-4 * e[:, None] + 1e-20)
    # host cancellation: subtract the local mean across time and frequency
    from scipy.ndimage import uniform_filter

    L = L - uniform_filter(L, size=DETREND, mode="nearest")
    L = np.clip(L, -2.5, 2.5) * weight[:, None]
    return L, weight


# ------------------------------------------------------------------------------- embed


def embed(
    x: np.ndarray,
    rate: int,
    layout: Layout,
    payload: bytes,
    strength: float,
    informed: bool = True,
    target: float = 0.12,
    gmax_factor: float = 3.0,
    iterations: int = 2,
) -> np.ndarray:
    """strength = base relative amplitude change g (|X| *= exp(+-g)).

    Informed: per period repetition and per bit (and per reference group) the detector's own
    feature is re-measured on the marked signal and the bit's gain is corrected so that the
    mean of chip*sign*feature over the bit's slots reaches ``target`` (nats of log power);
    gains are clipped to [0, gmax_factor * strength]. ``iterations`` measure-correct rounds.
    """
    x2 = x if x.ndim == 2 else x[:, None]
    x2 = x2.astype(np.float64)
    n = int(round(FRAME_S * rate))
    hop = n // 2
    assert abs(hop - HOP_S * rate) < 1e-9, "rate must give an integer 10 ms hop"
    spec = stft(x2, n, hop)
    band = spec[:, :, LO_BIN:HI_BIN]
    frames = spec.shape[1]
    bits = encode_payload(payload).astype(np.float64) * 2 - 1
    P = layout.P
    signs = np.empty(P * NBINS)
    for b in range(CODED_BITS):
        signs[layout.data_idx[b]] = bits[b]
    signs[layout.ref_idx] = 1.0
    pattern = (layout.chip.ravel() * signs).reshape(P, NBINS)  # +1 up, -1 down
    pos = np.arange(frames) % P
    pat = pattern[pos]
    group = layout.group[pos]  # (frames, NBINS) gain-group ids
    rep = (np.arange(frames) // P)[:, None]
    gid = (rep * layout.n_groups + group).ravel()  # per repetition
    n_gid = (frames // P + 1) * layout.n_groups
    g = np.full(n_gid, strength)

    def render(gains):
        fac = np.exp(gains[gid].reshape(frames, NBINS) * pat) - 1.0
        delta = np.zeros_like(spec)
        delta[:, :, LO_BIN:HI_BIN] = band * fac[None]
        return x2 + istft_add(delta, n, hop, x2.shape[0])

    y = render(g)
    if informed:
        cnt = np.bincount(gid, minlength=n_gid).astype(np.float64)
        for _ in range(iterations):
            Ly, w = features(stft(y, n, hop).mean(axis=0))
            live = np.bincount(gid, weights=np.repeat(w, NBINS), minlength=n_gid)
            m = np.bincount(gid, weights=(Ly * pat).ravel(), minlength=n_gid) / np.maximum(cnt, 1)
            # measured response per unit gain is about 0.7 (2g ideal, minus STFT/detrend losses)
            g = np.clip(g + (target - m) / 0.7, 0.0, gmax_factor * strength)
            g[live == 0] = 0.0
            y = render(g)
    y = y.astype(np.float32)
    return y if x.ndim == 2 else y[:, 0]


# ------------------------------------------------------------------------------- detect


def _to_det(x: np.ndarray, rate: int, speed: float = 1.0) -> np.ndarray:
    m = x.mean(axis=1) if x.ndim == 2 else x
    m = m.astype(np.float64)
    # speed s: played s times faster -> detector stretches back by resampling rate*s -> 16k
    src = rate * speed
    frac = __import__("fractions").Fraction(DET_RATE / src).limit_denominator(2000)
    if frac != 1:
        m = resample_poly(m, frac.numerator, frac.denominator)
    return m


def detect(
    x: np.ndarray, rate: int, layout: Layout, speeds=(1.0,), top: int = 3, z_min: float = 5.0
):
    P = layout.P
    n = int(FRAME_S * DET_RATE)
    hop = n // 2
    R = np.fft.rfft(layout.ref, axis=0)
    r2 = np.fft.rfft(layout.ref**2, axis=0)
    cands = []
    for sp in speeds:
        m = _to_det(x, rate, sp)
        step = hop // SUB_OFFSETS
        for o in range(SUB_OFFSETS):
            spec = stft(m[o * step :, None], n, hop)[0]
            L, _ = features(spec)
            F = L.shape[0]
            reps = -(-F // P)
            Lp = np.zeros((reps * P, NBINS))
            Lp[:F] = L
            fold = Lp.reshape(reps, P, NBINS).sum(axis=0)
            fold2 = (Lp**2).reshape(reps, P, NBINS).sum(axis=0)
            Ff = np.fft.rfft(fold, axis=0)
            F2 = np.fft.rfft(fold2, axis=0)
            score = np.fft.irfft((R * np.conj(Ff)).sum(axis=1), n=P)
            var = np.fft.irfft((r2 * np.conj(F2)).sum(axis=1), n=P)
            z = score / np.sqrt(np.maximum(var, 1e-12))
            for s in np.argsort(z)[-top:]:
                cands.append((float(z[s]), int(s), o, sp, fold))
    cands.sort(key=lambda c: -c[0])
    n_hyp = len(speeds) * SUB_OFFSETS * P
    best = None
    for z, s, o, sp, fold in cands[:top]:
        per_period = np.roll(fold, s, axis=0).ravel() * layout.chip.ravel()
        soft = per_period[layout.data_idx].sum(axis=1)
        soft = soft / (np.std(soft) + 1e-12)
        res = decode_payload(soft.astype(np.float32))
        entry = dict(z=z, shift=s, offset=o, speed=sp, soft=soft, decoded=res, n_hyp=n_hyp)
        if best is None:
            best = entry
        if z >= z_min and res.check_ok:
            best = entry
            break
    ok = best["z"] >= z_min and best["decoded"].check_ok
    best["detected"] = ok
    best["payload"] = best["decoded"].payload if ok else None
    return best


# ------------------------------------------------------------------------------- test signals


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    t = 0
    while t < n:
        kind = rng.random()
        length = min(int(rng.uniform(0.08, 0.35) * rate), n - t)
        if length <= 0:
            break
        tt = np.arange(length) / rate
        env = np.sin(np.pi * np.arange(length) / length) ** 0.6
        if kind < 0.6:
            f0 = rng.uniform(90, 220) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * tt))
            ph = 2 * np.pi * np.cumsum(f0) / rate
            formants = rng.uniform([300, 900, 2200], [900, 2200, 3200])
            seg = np.zeros(length)
            for h in range(1, 40):
                fh = h * f0.mean()
                if fh > rate / 2 - 200:
                    break
                amp = sum(math.exp(-(((fh - f) / 150) ** 2)) for f in formants) + 0.02
                seg += amp / h**0.5 * np.sin(h * ph)
            out[t : t + length] = seg * env
        elif kind < 0.8:
            out[t : t + length] = 0.3 * lfilter([1, -0.9], [1], rng.standard_normal(length)) * env
        t += length
        if rng.random() < 0.3:
            t += int(rng.uniform(0.1, 0.6) * rate)  # pause: digital silence
    out *= 0.5 / (np.abs(out).max() + 1e-12)
    return out.astype(np.float32)


def music_like(seconds: float, rate: int, seed: int = 0, bass: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    left = np.zeros(n)
    right = np.zeros(n)
    beat = 60.0 / rng.uniform(80, 140)
    for k in range(int(seconds / (2 * beat)) + 1):
        s, e = int(k * 2 * beat * rate), min(n, int((k + 1) * 2 * beat * rate))
        if s >= n:
            break
        tt = t[s:e] - t[s]
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        env = np.exp(-tt * rng.uniform(0.5, 2.0))
        for ratio, pan in ((1, 0.3), (1.25, 0.7), (1.5, 0.5), (2, 0.4)):
            f = root * ratio * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * tt))
            ph = 2 * np.pi * np.cumsum(f) / rate
            tone = sum(np.sin(h * ph) / h for h in range(1, 8) if h * root * ratio < rate / 2.2)
            left[s:e] += (1 - pan) * tone * env * 0.3
            right[s:e] += pan * tone * env * 0.3
        bf = root / (4 if bass else 2)
        bt = np.sin(2 * np.pi * bf * tt) * np.exp(-tt * 1.0) * (2.5 if bass else 0.6)
        left[s:e] += bt
        right[s:e] += bt
    for k in range(int(seconds / beat)):
        s = int(k * beat * rate)
        length = min(n - s, int(0.08 * rate))
        if length <= 0:
            break
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.02 * rate)) * 0.4
        if bass:
            kick = np.sin(
                2
                * np.pi
                * 55
                * np.arange(length)
                / rate
                * np.exp(-np.arange(length) / (0.05 * rate))
            )
            burst = 0.3 * burst + 1.5 * kick
        left[s : s + length] += burst
        right[s : s + length] += burst
    st = np.stack([left, right], axis=1)
    st *= 0.7 / (np.abs(st).max() + 1e-12)
    return st.astype(np.float32)


def tones(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f = rng.uniform(200, 4000, size=3)
    return (0.5 * sum(np.sin(2 * np.pi * q * t + rng.uniform(0, 6)) for q in f) / 3).astype(
        np.float32
    )


def load_sample(name: str, seconds: float, rate: int | None = None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, r = sf.read(ROOT / "samples" / name, dtype="float32", always_2d=True)
    if rate and rate != r:
        g = math.gcd(rate, r)
        data = resample_poly(data.astype(np.float64), rate // g, r // g, axis=0).astype(np.float32)
        r = rate
    n = int(seconds * r)
    reps = -(-n // data.shape[0])
    data = np.concatenate([data] * reps)[:n]
    return (data[:, 0] if data.shape[1] == 1 else data), r


# ------------------------------------------------------------------------------- attacks


def codec(x: np.ndarray, rate: int, name: str, bitrate: int):
    import av

    data = x if x.ndim == 2 else x[:, None]
    ch = data.shape[1]
    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[name]
    out_rate = 48000 if name == "libopus" else rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        st = c.add_stream(name, rate=out_rate)
        st.bit_rate = bitrate
        st.layout = "stereo" if ch == 2 else "mono"
        fr = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data.T.astype(np.float32)), format="fltp", layout=st.layout.name
        )
        fr.sample_rate = rate
        if out_rate != rate:
            rs = av.AudioResampler(format="fltp", layout=st.layout.name, rate=out_rate)
            frs = rs.resample(fr) + rs.resample(None)
        else:
            frs = [fr]
        for f in frs:
            f.pts = None
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as c:
        dr = c.streams.audio[0].rate
        for f in c.decode(audio=0):
            a = f.to_ndarray()
            chunks.append(a.T if f.format.is_planar else a.reshape(-1, ch))
    return np.concatenate(chunks).astype(np.float32), dr


def resample(x, rate, new, mono=False):
    d = x.astype(np.float64)
    if mono and d.ndim == 2:
        d = d.mean(axis=1)
    g = math.gcd(rate, new)
    return resample_poly(d, new // g, rate // g, axis=0).astype(np.float32), new


def speed(x, rate, factor):
    up, down = 1000, int(round(1000 * factor))
    g = math.gcd(up, down)
    return resample_poly(x.astype(np.float64), up // g, down // g, axis=0).astype(np.float32), rate


def noise(x, rate, snr_db, seed=1):
    rng = np.random.default_rng(seed)
    pw = float(np.mean(x.astype(np.float64) ** 2))
    return (x + rng.standard_normal(x.shape) * math.sqrt(pw / 10 ** (snr_db / 10))).astype(
        np.float32
    ), rate


def highpass(x, rate, fc):
    from scipy.signal import butter, sosfilt

    return sosfilt(
        butter(8, fc, "highpass", fs=rate, output="sos"), x.astype(np.float64), axis=0
    ).astype(np.float32), rate


ATTACKS = {
    "none": lambda x, r: (x, r),
    "mp3 128k": lambda x, r: codec(x, r, "libmp3lame", 128000),
    "mp3 64k": lambda x, r: codec(x, r, "libmp3lame", 64000),
    "aac 128k": lambda x, r: codec(x, r, "aac", 128000),
    "aac 64k": lambda x, r: codec(x, r, "aac", 64000),
    "opus 32k": lambda x, r: codec(x, r, "libopus", 32000),
    "resample 22.05k": lambda x, r: resample(x, r, 22050),
    "16k mono": lambda x, r: resample(x, r, 16000, mono=True),
    "volume x0.3": lambda x, r: ((x * 0.3).astype(np.float32), r),
    "+6dB clip": lambda x, r: (np.clip(x * 2.0, -1, 1).astype(np.float32), r),
    "noise 20dB": lambda x, r: noise(x, r, 20.0),
    "highpass 1k": lambda x, r: highpass(x, r, 1000.0),
    "excerpt 10s": lambda x, r: (x[int(7.3 * r) + 7 : int(7.3 * r) + 7 + 10 * r].copy(), r),
    "excerpt 5s": lambda x, r: (x[int(12.1 * r) + 3 : int(12.1 * r) + 3 + 5 * r].copy(), r),
    "speed 0.97": lambda x, r: speed(x, r, 0.97),
    "speed 1.03": lambda x, r: speed(x, r, 1.03),
}

SPEED_GRID = tuple(np.round(np.arange(0.965, 1.0351, 0.0025), 4))


def segmental_snr(a, b, rate, seg_s=0.02):
    a = a if a.ndim == 2 else a[:, None]
    b = b if b.ndim == 2 else b[:, None]
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    size = int(seg_s * rate)
    n = a.shape[0] // size * size
    sig = (a[:n] ** 2).reshape(-1, size, a.shape[1]).sum(axis=(1, 2))
    err = ((a[:n] - b[:n]) ** 2).reshape(-1, size, a.shape[1]).sum(axis=(1, 2))
    act = sig > 1e-6 * sig.max()
    return float(np.mean(np.clip(10 * np.log10(sig[act] / np.maximum(err[act], 1e-30)), -10, 35)))


# ------------------------------------------------------------------------------- main

KEY = "audio-test-key"
PAYLOAD = bytes.fromhex("0123456789abcdef")


def clips(seconds: float):
    return {
        "tabla 44.1k st": load_sample("music-tabla-loop.flac", seconds),
        "it. speech 48k": load_sample("speech-italian-male.flac", seconds, 48000),
        "bass music 44.1k": (music_like(seconds, 44100, 3, bass=True), 44100),
        "music-like 48k": (music_like(seconds, 48000, 4), 48000),
        "speech-like 44.1k": (speech_like(seconds, 44100, 1), 44100),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strength", type=float, default=0.05)
    ap.add_argument("--period", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--attacks", default="")
    ap.add_argument("--clips", default="")
    ap.add_argument("--no-informed", action="store_true")
    ap.add_argument("--false", type=int, default=0, help="number of unmarked clips to check")
    ap.add_argument("--speed-search", action="store_true")
    args = ap.parse_args()
    layout = Layout(KEY, int(round(args.period / HOP_S)))
    coded = encode_payload(PAYLOAD).astype(bool)
    attacks = [
        a for a in ATTACKS if not args.attacks or any(s in a for s in args.attacks.split(","))
    ]
    cs = clips(args.seconds)
    if args.clips:
        cs = {k: v for k, v in cs.items() if any(s in k for s in args.clips.split(","))}
    print(
        f"strength {args.strength}, period {args.period} s, informed {not args.no_informed}, "
        f"{layout.per_bit} slots per coded bit",
        flush=True,
    )
    print("| clip | attack | exact | BER | sync z | speed |")
    print("|---|---|---|---|---|---|")
    summary = []
    for name, (x, r) in cs.items():
        t0 = time.perf_counter()
        y = embed(x, r, layout, PAYLOAD, args.strength, informed=not args.no_informed)
        t_embed = time.perf_counter() - t0
        snr = segmental_snr(x, y, r)
        # digital silence: samples whose +-25 ms neighbourhood is all zero must stay exactly 0
        from scipy.ndimage import maximum_filter1d

        amp = np.abs(x) if x.ndim == 1 else np.abs(x).max(axis=1)
        quiet = maximum_filter1d(amp, size=int(0.05 * r) + 1) == 0
        yy = y if y.ndim == 1 else np.abs(y).max(axis=1)
        silent_ok = f"{int(quiet.sum() / r * 1000)} ms, kept={bool(np.all(yy[quiet] == 0))}"
        t_det = None
        for a in attacks:
            z, rr = ATTACKS[a](y, r)
            sp = SPEED_GRID if (args.speed_search and a.startswith("speed")) else (1.0,)
            t0 = time.perf_counter()
            d = detect(z, rr, layout, speeds=sp)
            dt = time.perf_counter() - t0
            if a == "none":
                t_det = dt
            ber = float(np.mean((d["soft"] > 0) != coded))
            ok = "yes" if d["payload"] == PAYLOAD else ("WRONG" if d["detected"] else "no")
            print(f"| {name} | {a} | {ok} | {ber:.3f} | {d['z']:.1f} | {d['speed']} |", flush=True)
        dur = x.shape[0] / r
        summary.append(
            (name, snr, dur / t_embed, dur / t_det if t_det else float("nan"), silent_ok)
        )
    print("\n| clip | seg SNR dB | embed x RT | detect x RT | silence kept |")
    print("|---|---|---|---|---|")
    for s in summary:
        print(f"| {s[0]} | {s[1]:.1f} | {s[2]:.0f} | {s[3]:.0f} | {s[4]} |")
    if args.false:
        found = 0
        zs = []
        rng = np.random.default_rng(99)
        for i in range(args.false):
            kind = i % 5
            r = 44100
            if kind == 0:
                c = speech_like(10, r, 1000 + i)
            elif kind == 1:
                c = music_like(10, r, 1000 + i, bass=bool(i % 2))
            elif kind == 2:
                c = (rng.standard_normal(10 * r) * 0.1).astype(np.float32)
            elif kind == 3:
                c = tones(10, r, 1000 + i)
            else:
                c, r = load_sample(
                    "music-tabla-loop.flac" if i % 2 else "speech-italian-male.flac", 10
                )
            d = detect(c, r, layout)
            zs.append(d["z"])
            found += d["detected"]
        # wrong key on a marked clip
        x, r = cs[next(iter(cs))]
        y = embed(x, r, layout, PAYLOAD, args.strength, informed=not args.no_informed)
        wk = detect(y, r, Layout("another key", layout.P))
        print(
            f"\nunmarked clips: {args.false}, detections {found}, max sync z {max(zs):.2f}, "
            f"mean {np.mean(zs):.2f}; wrong key detected: {wk['detected']} (z {wk['z']:.2f})"
        )


if __name__ == "__main__":
    main()
