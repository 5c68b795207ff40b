"""Measure our audio watermark on 30 s clips, next to audiowmark's reference figures.

One run gives:

- **robustness**: six 30 s clips (speech at 44.1 and 48 kHz, the tabla sample, bass-heavy
  music, speech-like sound with pauses of digital silence, music-like stereo at 48 kHz) are
  marked with a random 64-bit payload each; every attack in ``tests.support.audio_attacks.ATTACKS``
  is applied and ``detect_audio`` must return the exact payload. Segmental SNR per clip,
  whether digital silence stayed silent, and a wrong-key check.
- **false alarms**: ``detect_audio`` (speed search on) over N unmarked 30 s clips of every
  kind in ``tests.support.audio_clips.CLIP_KINDS`` at 16, 22.05, 44.1 and 48 kHz.
- **speed**: embedding and detection of the tabla sample looped to 30 s, 44.1 kHz stereo:
  wall and CPU time, as multiples of real time.

audiowmark (C++, the reference tool of issue 5) cannot be installed here, so its figures are
copied from ``shared/reference/watermark-anchors.md`` and labelled as such in every table.
Results go to ``audio-robustness.md``/``.png`` and ``audio-speed.md``/``.png`` in ``--outdir``
(default ``bench/results/``).

Run: ``.venv/bin/python bench/compare_audio.py [--outdir DIR] [--repeats N] [--false-clips N]
[--skip-speed | --skip-robustness]``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import harness
import numpy as np
from harness import KEY
from results_writer import Machine, grid, machine_lines, ordered, yes

import marking.watermark.audio as aw
from marking.kernels.config import single_threaded

WRONG_KEY = "not-the-bench-key"
PAYLOAD_SEED = 2025
CLIP_SECONDS = 30.0
#: The clip the speed is measured on: the tabla sample looped to 30 s, 44.1 kHz stereo.
SPEED_CLIP = ("music", 44100)

#: Clips of the robustness table: label -> (kind in tests.support.audio_clips.CLIP_KINDS, rate).
CLIPS: dict[str, tuple[str, int]] = {
    "speech 44.1k": ("speech", 44100),
    "speech 48k": ("speech", 48000),
    "tabla 44.1k stereo": ("music", 44100),
    "bass music 44.1k stereo": ("bass-music", 44100),
    "speech-like + silence 44.1k": ("speech-like", 44100),
    "music-like 48k stereo": ("music-like", 48000),
}
#: Shortest run of exact zeros counted as digital silence (s), and the frame length (s).
SILENCE_RUN = 0.1
FRAME_SECONDS = aw.FRAME_SECONDS
#: Rates the unmarked clips of the false-alarm check cycle through.
FALSE_ALARM_RATES = (16000, 22050, 44100, 48000)

#: audiowmark's figures from shared/reference/watermark-anchors.md, per attack of
#: tests.support.audio_attacks.ATTACKS. Not measured here: audiowmark is not installable on this
#: machine.
AUDIOWMARK_ATTACKS: dict[str, str] = {
    "none": "yes",
    "mp3-128k": "yes (MP3 32-128k)",
    "mp3-64k": "yes (MP3 32-128k)",
    "aac-128k": "yes (AAC 64-128k)",
    "aac-64k": "yes (AAC 64-128k)",
    "opus-32k": "yes (Opus 16-64k)",
    "resample-22.05k": "yes",
    "mono-16k": "yes",
    "volume-x0.3": "yes",
    "gain+6dB-clip": "not stated",
    "noise-20dB": "yes",
    "highpass-1k": "yes",
    "excerpt-10s": "yes (10-30 s)",
    "excerpt-5s": "4 of 9 (after MP3 64k)",
    "speed-0.97": "fails without a slow extra speed search",
    "speed-1.03": "fails without a slow extra speed search",
    "speed-0.8": "no, even with its speed search",
    "speed-0.9": "yes with its slow extra speed search",
    "speed-1.1": "yes with its slow extra speed search",
    "speed-1.25": "no, even with its speed search",
}
AUDIOWMARK_FACTS: dict[str, str] = {
    "segmental SNR": "26-38 dB at default strength",
    "embed": "600-800x real time",
    "detect": "about 20x real time (310 MB)",
    "unmarked audio": "prints 24 random payloads",
    "bass-heavy music": "no bands below 861 Hz (marks 861-4307 Hz only)",
}
AUDIOWMARK_SOURCE = (
    "audiowmark (C++, GPL) is not on PyPI or Debian and cannot be built here, so it was *not* "
    "run: its column repeats the figures in `shared/reference/watermark-anchors.md` (measured "
    "by the reference study on a 2-core machine like this one), not measurements of this run."
)


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipRecord:
    """One marked clip: distortion and the checks that need no attack."""

    clip: str
    kind: str
    rate: int
    channels: int
    seconds: float
    payload: str
    snr_db: float
    silence_seconds: float  # digital silence: runs of exact zeros of at least SILENCE_RUN
    silence_broken: int  # samples of those runs more than one frame from sound made non-zero
    edge_nonzero: int  # samples within one frame (20 ms) of sound made non-zero
    edge_peak_dbfs: float  # their largest magnitude (-inf when none)
    wrong_key_detected: bool
    wrong_key_score: float


@dataclass(frozen=True)
class AttackRecord:
    """Detection on one attacked marked clip."""

    clip: str
    attack: str
    detected: bool
    exact: bool  # detected with the embedded payload
    score: float
    false_alarm: float
    speed: float
    seconds: float  # length of the attacked clip
    detect_ms: float


@dataclass(frozen=True)
class FalseAlarmRecord:
    """Detection on one unmarked clip."""

    kind: str
    rate: int
    seed: int
    detected: bool
    payload: str | None
    score: float
    false_alarm: float


@dataclass(frozen=True)
class TimingRecord:
    """Repeated timings of one operation on ``audio_seconds`` of audio."""

    operation: str
    clip: str
    audio_seconds: float
    wall_ms: tuple[float, ...]
    cpu_ms: tuple[float, ...]

    @property
    def realtime(self) -> float:
        return self.audio_seconds / (statistics.median(self.wall_ms) / 1000.0)

    @property
    def realtime_per_core(self) -> float:
        return self.audio_seconds / (statistics.median(self.cpu_ms) / 1000.0)


@dataclass
class AudioResults:
    machine: Machine | None = None
    clips: list[ClipRecord] = field(default_factory=list)
    attacks: list[AttackRecord] = field(default_factory=list)
    false_alarms: list[FalseAlarmRecord] = field(default_factory=list)
    timings: list[TimingRecord] = field(default_factory=list)


# --- measuring ---------------------------------------------------------------------------------


def _clips_module() -> ModuleType:
    """``tests.support.audio_clips`` (imported lazily: it is maintained with the test suite)."""
    from tests.support import audio_clips

    return audio_clips


def _attacks_module() -> ModuleType:
    """``tests.support.audio_attacks``, shared with the robustness tests."""
    from tests.support import audio_attacks

    return audio_attacks


def speed_clip() -> tuple[np.ndarray, int]:
    """The tabla sample looped to 30 s, 44.1 kHz stereo float32 (a writable copy)."""
    kind, rate = SPEED_CLIP
    return np.array(_clips_module().clip(kind, CLIP_SECONDS, rate)), rate


def _channels(samples: np.ndarray) -> int:
    return 1 if samples.ndim == 1 else samples.shape[1]


def silence_check(original: np.ndarray, marked: np.ndarray, rate: int) -> dict[str, Any]:
    """Whether digital silence (runs of exact zeros >= :data:`SILENCE_RUN`) stayed silent.

    Samples more than one frame (:data:`FRAME_SECONDS`) away from sound must stay exactly 0;
    the frame next to sound may carry some of the mark of the sound it overlaps (counted and
    its peak level reported separately).
    """
    zero = np.all((original == 0).reshape(original.shape[0], -1), axis=1)
    edges = np.diff(np.concatenate([[0], zero.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    frame = round(FRAME_SECONDS * rate)
    total = inner = edge = 0
    peak = 0.0
    for start, end in zip(starts, ends, strict=True):
        if end - start < SILENCE_RUN * rate:
            continue
        total += end - start
        head = start + (frame if start > 0 else 0)
        tail = end - (frame if end < original.shape[0] else 0)
        inner += int(np.count_nonzero(marked[head:tail]))
        for part in (marked[start:head], marked[tail:end]):
            edge += int(np.count_nonzero(part))
            peak = max(peak, float(np.abs(part).max(initial=0.0)))
    return {
        "silence_seconds": total / rate,
        "silence_broken": inner,
        "edge_nonzero": edge,
        "edge_peak_dbfs": 20 * math.log10(peak) if peak > 0 else -math.inf,
    }


def measure_clip(
    label: str, kind: str, rate: int, payload: bytes, attacks: dict[str, Callable]
) -> tuple[ClipRecord, list[AttackRecord]]:
    """Embed ``payload`` in one clip, check quality, apply every attack and detect."""
    audio_attacks = _attacks_module()
    original = np.array(_clips_module().clip(kind, CLIP_SECONDS, rate))
    marked = aw.embed_audio(original, rate, payload, key=KEY)
    silence = silence_check(original, marked, rate)
    wrong = aw.detect_audio(marked, rate, key=WRONG_KEY)
    record = ClipRecord(
        clip=label,
        kind=kind,
        rate=rate,
        channels=_channels(original),
        seconds=original.shape[0] / rate,
        payload=payload.hex(),
        snr_db=audio_attacks.segmental_snr(original, marked, rate),
        **silence,
        wrong_key_detected=wrong.detected,
        wrong_key_score=wrong.score,
    )
    results = []
    for attack, fn in attacks.items():
        attacked, attacked_rate = fn(marked, rate)
        start = time.perf_counter()
        found = aw.detect_audio(attacked, attacked_rate, key=KEY)
        elapsed = 1000.0 * (time.perf_counter() - start)
        results.append(
            AttackRecord(
                clip=label,
                attack=attack,
                detected=found.detected,
                exact=found.detected and found.payload == payload.hex(),
                score=found.score,
                false_alarm=found.false_alarm,
                speed=found.speed,
                seconds=attacked.shape[0] / attacked_rate,
                detect_ms=elapsed,
            )
        )
        mark = "ok " if results[-1].exact else "NO "
        print(f"    {mark}{attack:<16} z {found.score:6.2f}  {elapsed:7.0f} ms", file=sys.stderr)
    return record, results


def measure_robustness(clips: dict[str, tuple[str, int]]) -> AudioResults:
    attacks = dict(_attacks_module().ATTACKS)
    rng = np.random.default_rng(PAYLOAD_SEED)
    out = AudioResults()
    for label, (kind, rate) in clips.items():
        payload = rng.bytes(8)
        print(f"  {label} payload {payload.hex()}", file=sys.stderr)
        record, attacked = measure_clip(label, kind, rate, payload, attacks)
        out.clips.append(record)
        out.attacks += attacked
    return out


def measure_false_alarms(count: int) -> list[FalseAlarmRecord]:
    """Detect in ``count`` unmarked 30 s clips: every kind in turn, rates in turn, new seeds."""
    audio_clips = _clips_module()
    kinds = list(audio_clips.CLIP_KINDS)
    records = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        rate = FALSE_ALARM_RATES[(i // len(kinds)) % len(FALSE_ALARM_RATES)]
        seed = 100 + i
        samples = audio_clips.CLIP_KINDS[kind](CLIP_SECONDS, rate, seed)
        found = aw.detect_audio(samples, rate, key=KEY)
        records.append(
            FalseAlarmRecord(
                kind, rate, seed, found.detected, found.payload, found.score, found.false_alarm
            )
        )
        if found.detected:
            print(f"    FALSE ALARM: {kind} {rate} Hz seed {seed}", file=sys.stderr)
    return records


def measure_speed(repeats: int) -> list[TimingRecord]:
    """Embed and detect on the 30 s tabla clip, with Numba limited to one thread."""
    samples, rate = speed_clip()
    payload = harness.PAYLOAD
    marked = aw.embed_audio(samples, rate, payload, key=KEY)
    seconds = samples.shape[0] / rate
    label = f"tabla {CLIP_SECONDS:g} s, {rate / 1000:g} kHz stereo"
    cases = {
        "embed": lambda: aw.embed_audio(samples, rate, payload, key=KEY),
        "detect (marked)": lambda: aw.detect_audio(marked, rate, key=KEY),
        "detect (unmarked, speed search)": lambda: aw.detect_audio(samples, rate, key=KEY),
        "detect (unmarked, no speed search)": lambda: aw.detect_audio(
            samples, rate, key=KEY, speed_search=False
        ),
    }
    records = []
    with single_threaded():
        for operation, fn in cases.items():
            print(f"  {operation}", file=sys.stderr)
            runs = harness.timed_runs(fn, repeats)
            records.append(TimingRecord(operation, label, seconds, runs.wall_ms, runs.cpu_ms))
    return records


def machine_record() -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "scipy", "soundfile", "av"),
        notes=(
            f"Key `{KEY}`; one random 64-bit payload per clip (seed {PAYLOAD_SEED}); default "
            "strength. Clips and attacks are the test suite's (`tests/support/audio_clips.py`, "
            "`tests/support/audio_attacks.py`); codecs run in memory through PyAV.",
        ),
    )


# --- formatting (pure: no measuring) -----------------------------------------------------------


def robustness_markdown(results: AudioResults) -> str:
    clips = ordered(r.clip for r in results.clips)
    attacks = ordered(r.attack for r in results.attacks)
    cell = {(r.clip, r.attack): r for r in results.attacks}
    out = ["# Audio watermark robustness, with audiowmark's reference figures", ""]
    out += machine_lines(results.machine)

    out += ["## Clips and imperceptibility", ""]
    out += [
        "| clip | kind | rate | channels | length | segmental SNR | digital silence kept "
        "| wrong key |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in results.clips:
        if c.silence_seconds == 0:
            silence = "none in the clip"
        elif c.silence_broken:
            silence = f"**no**: {c.silence_broken} samples of {c.silence_seconds:.1f} s"
        else:
            silence = f"yes ({c.silence_seconds:.1f} s)"
            if c.edge_nonzero:
                silence += (
                    f"; {c.edge_nonzero} samples next to sound, peak {c.edge_peak_dbfs:.0f} dBFS"
                )
        verdict = "**detected**" if c.wrong_key_detected else "not detected"
        wrong = f"{verdict} (z {c.wrong_key_score:.1f})"
        out.append(
            f"| {c.clip} | {c.kind} | {c.rate} Hz | {c.channels} | {c.seconds:.0f} s | "
            f"{c.snr_db:.1f} dB | {silence} | {wrong} |"
        )
    if results.clips:
        snrs = [c.snr_db for c in results.clips]
        out += [
            "",
            f"Segmental SNR: {min(snrs):.1f}-{max(snrs):.1f} dB (the target is at least "
            f"25 dB; audiowmark, reference figure: {AUDIOWMARK_FACTS['segmental SNR']}). "
            "20 ms segments, each clipped to [-10, 35] dB, silent segments left out "
            "(`tests.support.audio_attacks.segmental_snr`). *Digital silence kept*: "
            "in every run of "
            f"exact zeros of at least {SILENCE_RUN * 1000:.0f} ms, the samples more than one "
            f"frame ({FRAME_SECONDS * 1000:.0f} ms) away from sound are still exactly 0; the "
            "frame next to sound overlaps that sound, may carry a little of its mark, and is "
            "counted separately.",
            "",
        ]

    out += ["## Exact payload after each attack", ""]
    out.append(
        "| attack | " + " | ".join(clips) + " | all clips | audiowmark (reference, not run) |"
    )
    out.append("| --- |" + " --- |" * (len(clips) + 2))
    for attack in attacks:
        row = [cell.get((clip, attack)) for clip in clips]
        cells = ["-" if r is None else yes(r.exact) for r in row]
        done = [r for r in row if r is not None]
        total = f"{sum(r.exact for r in done)}/{len(done)}"
        peer = AUDIOWMARK_ATTACKS.get(attack, "not stated")
        out.append(f"| {attack} | " + " | ".join(cells) + f" | {total} | {peer} |")
    every = results.attacks
    out.append(
        "| **all attacks** | "
        + " | ".join(
            f"{sum(r.exact for r in every if r.clip == clip)}/{sum(r.clip == clip for r in every)}"
            for clip in clips
        )
        + f" | {sum(r.exact for r in every)}/{len(every)} | |"
    )
    wrong = [r for r in every if r.detected and not r.exact]
    out += [
        "",
        "*yes*: `detect_audio` (speed search on, as by default) reported `detected=True` with "
        "the embedded 64-bit payload. A wrong payload reported as detected would be a false "
        f"alarm: {len(wrong)} in this run.",
        "",
        AUDIOWMARK_SOURCE,
        "",
        "<details><summary>sync score z (detected / best) and detection time per cell</summary>",
        "",
    ]

    def detail(attack: str, clip: str) -> str | None:
        r = cell.get((clip, attack))
        if r is None:
            return None
        speed = f", speed {r.speed:g}" if r.detected and r.speed != 1.0 else ""
        return f"{r.score:.1f}{' ✓' if r.exact else ''}{speed}, {r.detect_ms:.0f} ms"

    out += grid("attack", attacks, clips, detail)
    out += [
        "",
        "✓ = exact payload. The time includes the speed search whenever nothing is found at "
        "normal speed (speed attacks, and every failure).",
        "",
        "</details>",
        "",
    ]

    fa = results.false_alarms
    if fa:
        detections = [r for r in fa if r.detected]
        top = max(fa, key=lambda r: r.score)
        kinds = ordered(r.kind for r in fa)
        rates = sorted({r.rate for r in fa})
        out += ["## False alarms on unmarked audio", ""]
        out += [
            "| clips | kinds | rates | detections | highest sync z | smallest false-alarm "
            "probability | audiowmark (reference, not run) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| {len(fa)} x {CLIP_SECONDS:g} s | {', '.join(kinds)} | "
            f"{', '.join(f'{r / 1000:g}k' for r in rates)} | {len(detections)} | "
            f"{top.score:.2f} ({top.kind}, {top.rate} Hz, seed {top.seed}) | "
            f"{min(r.false_alarm for r in fa):.2g} | {AUDIOWMARK_FACTS['unmarked audio']} |",
            "",
            "Per kind (clips, detections, highest z):",
            "",
        ]
        for kind in kinds:
            rows = [r for r in fa if r.kind == kind]
            out.append(
                f"- {kind}: {len(rows)}, {sum(r.detected for r in rows)}, "
                f"{max(r.score for r in rows):.2f}"
            )
        out += [
            "",
            "Detection means a false-alarm probability of at most 1e-6 per file (sync "
            "z-score over every offset and playback speed tried, times the CRC-24 check), "
            "with the speed search on. The wrong-key column above adds "
            f"{len(results.clips)} marked clips read with another key.",
            "",
        ]
    return "\n".join(out)


def speed_markdown(results: AudioResults) -> str:
    out = ["# Audio watermark speed, with audiowmark's reference figures", ""]
    out += machine_lines(results.machine)
    timings = results.timings
    if not timings:
        return "\n".join([*out, "No timings recorded.", ""])
    out += [
        f"Clip: {timings[0].clip}. Median of {len(timings[0].wall_ms)} runs after one warm-up "
        "run (Numba cache loading excluded), Numba limited to one thread and SciPy's FFT to "
        "one worker.",
        "",
        "| operation | median ms | min ms | CPU ms (median) | x real time | "
        "x real time per core | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    targets = {"embed": "500x per core"}
    for t in timings:
        target = targets.get(t.operation, "100x" if t.operation.startswith("detect") else "")
        if "no speed search" in t.operation:
            target = "(component)"
        out.append(
            f"| {t.operation} | {statistics.median(t.wall_ms):.1f} | {min(t.wall_ms):.1f} | "
            f"{statistics.median(t.cpu_ms):.1f} | {t.realtime:.0f} | "
            f"{t.realtime_per_core:.0f} | {target} |"
        )
    out += [
        "",
        "*x real time* = audio seconds / wall seconds. *Per core* = audio seconds / CPU seconds "
        "of the whole process (every thread), so it is what one core delivers; the two agree "
        "when the work is single-threaded.",
        "",
        "## audiowmark (reference figures, not run here)",
        "",
        "| operation | audiowmark | ours (this run, per core) |",
        "| --- | --- | --- |",
    ]
    by_op = {t.operation: t for t in timings}
    embed = by_op.get("embed")
    marked = by_op.get("detect (marked)")
    unmarked = by_op.get("detect (unmarked, speed search)")
    out.append(
        f"| embed | {AUDIOWMARK_FACTS['embed']} | "
        + (f"{embed.realtime_per_core:.0f}x |" if embed else "- |")
    )
    ours_detect = ", ".join(
        f"{t.realtime_per_core:.0f}x ({label})"
        for t, label in ((marked, "marked"), (unmarked, "unmarked, with speed search"))
        if t is not None
    )
    out.append(f"| detect 30 s | {AUDIOWMARK_FACTS['detect']} | {ours_detect or '-'} |")
    out += [
        "",
        AUDIOWMARK_SOURCE,
        "",
        "Our detector stops at normal speed when it finds the mark; on unmarked audio (or "
        "audio played faster or slower) it then searches playback speeds 0.8-1.25 on the "
        "first 7.5 s, which is the slower figure: 152 coarse speeds read from three "
        "spectrograms of those seconds, 22 fine ones around the best two (read the same way, "
        "the best three framed again), then the whole input at the speeds whose sync stands "
        "out. Peak memory on a 3-hour file: see "
        "`audio-large.md`.",
        "",
    ]
    return "\n".join(out)


def _robustness_chart(path: Path, results: AudioResults) -> None:
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    clips = ordered(r.clip for r in results.attacks)
    attacks = ordered(r.attack for r in results.attacks)
    cell = {(r.clip, r.attack): r for r in results.attacks}
    grid = np.full((len(attacks), len(clips)), np.nan)
    for i, attack in enumerate(attacks):
        for j, clip in enumerate(clips):
            r = cell.get((clip, attack))
            if r is not None:
                grid[i, j] = 1.0 if r.exact else 0.0
    fig = Figure(figsize=(2.0 + 1.45 * len(clips), 1.2 + 0.36 * len(attacks)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(grid, cmap=ListedColormap(["#e8a0a0", "#9fd49f"]), vmin=0, vmax=1, aspect="auto")
    for i, attack in enumerate(attacks):
        for j, clip in enumerate(clips):
            r = cell.get((clip, attack))
            if r is not None:
                text = f"{'yes' if r.exact else 'no'}  z {r.score:.0f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7)
    snr = {c.clip: c.snr_db for c in results.clips}
    labels = [f"{clip}\n{snr[clip]:.1f} dB" if clip in snr else clip for clip in clips]
    ax.set_xticks(range(len(clips)), labels, fontsize=7, rotation=20, ha="right")
    ax.set_yticks(range(len(attacks)), attacks, fontsize=8)
    ax.set_title("Exact 64-bit payload after each attack (30 s clips; segmental SNR under names)")
    fig.savefig(path, dpi=110)


def _speed_chart(path: Path, results: AudioResults) -> None:
    from matplotlib.figure import Figure

    rows = [(f"ours: {t.operation}", t.realtime_per_core, "C0") for t in results.timings]
    rows += [
        ("audiowmark embed (reference, 600-800x)", 700.0, "C7"),
        ("audiowmark detect (reference, ~20x)", 20.0, "C7"),
    ]
    fig = Figure(figsize=(9.0, 0.5 * len(rows) + 1.6), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(rows)))[::-1]
    values = [value for _, value, _ in rows]
    bars = ax.barh(ys, values, color=[colour for *_, colour in rows])
    for bar in bars[len(results.timings) :]:
        bar.set_hatch("//")
        bar.set_alpha(0.6)
    for y, value in zip(ys, values, strict=True):
        ax.text(value * 1.05, y, f"{value:.0f}x", va="center", fontsize=8)
    ax.axvline(500, color="C3", linestyle="--", linewidth=0.8, label="target: embed 500x")
    ax.axvline(100, color="C2", linestyle="--", linewidth=0.8, label="target: detect 100x")
    ax.set_yticks(ys, [label for label, *_ in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(left=5, right=max(values) * 3)
    ax.set_xlabel("x real time per core (log scale; longer is faster)")
    ax.set_title("30 s, 44.1 kHz stereo (audiowmark: reference figures, not run here)")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=110)


def write_audio_results(results: AudioResults, outdir: Path | str) -> list[Path]:
    """Write ``audio-robustness.md``/``.png`` and ``audio-speed.md``/``.png`` (when measured)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    if results.attacks or results.false_alarms:
        path = outdir / "audio-robustness.md"
        path.write_text(robustness_markdown(results), encoding="utf-8")
        written.append(path)
        if results.attacks:
            chart = outdir / "audio-robustness.png"
            _robustness_chart(chart, results)
            written.append(chart)
    if results.timings:
        path = outdir / "audio-speed.md"
        path.write_text(speed_markdown(results), encoding="utf-8")
        chart = outdir / "audio-speed.png"
        _speed_chart(chart, results)
        written += [path, chart]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.arguments(__doc__, outdir=True, repeats=5)
    parser.add_argument(
        "--false-clips", type=int, default=100, help="unmarked clips for the false-alarm check"
    )
    parser.add_argument("--skip-speed", action="store_true", help="robustness only")
    parser.add_argument(
        "--skip-robustness",
        action="store_true",
        help="speed only (rewrites audio-speed.* and leaves audio-robustness.* alone)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.false_clips < 0:
        parser.error("--repeats must be at least 1 and --false-clips at least 0")
    if args.skip_speed and args.skip_robustness:
        parser.error("--skip-speed and --skip-robustness leave nothing to do")

    start = time.perf_counter()
    machine = machine_record()
    timings = []
    if not args.skip_speed:
        # Speed first, before the long robustness loop heats anything up.
        print("speed on 30 s, 44.1 kHz stereo:", file=sys.stderr)
        timings = measure_speed(args.repeats)
    results = AudioResults()
    if not args.skip_robustness:
        print("robustness:", file=sys.stderr)
        results = measure_robustness(CLIPS)
    results.machine = machine
    results.timings = timings
    if args.false_clips and not args.skip_robustness:
        print(f"false alarms on {args.false_clips} unmarked clips:", file=sys.stderr)
        results.false_alarms = measure_false_alarms(args.false_clips)
    harness.list_written(write_audio_results(results, args.outdir), start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
