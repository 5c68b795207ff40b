"""Turn measured benchmark records into Markdown tables and PNG charts.

Pure with respect to measuring: :func:`write_results` only formats the records it is given
(no timing, no watermarking, no clock or platform queries), so a test can feed it a handful
of fake records; :func:`this_machine` is where the bench scripts ask the platform. Charts are
drawn on :class:`matplotlib.figure.Figure` objects, which render
PNG through the Agg canvas without touching pyplot's global backend.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Display order of the systems; unknown systems follow in first-seen order.
SYSTEM_ORDER = ("ours", "dwtDct", "dwtDctSvd", "blind-watermark")
#: Where a bit accuracy came from (see the legend in the robustness table).
BITS_FROM_PAYLOAD = "payload"  # ours: detection succeeded, bits of the reported payload
BITS_FROM_DECODER = "decoder"  # ours: detection failed, bits of the best decode attempt
BITS_CHANCE = "chance"  # ours: no decode was attempted; peers: decoder refused the input
BITS_PEER = "peer"  # peers: the bits their decoder returned


def distribution_version(distribution: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Machine:
    """Where and when the numbers were measured (filled in by the measuring script)."""

    platform: str
    python: str
    cpu_count: int | None
    numba_threads: int
    versions: dict[str, str] = field(default_factory=dict)
    load_average: tuple[float, float, float] | None = None
    date: str = ""
    notes: tuple[str, ...] = ()


def this_machine(versions: dict[str, str], notes: Sequence[str] = ()) -> Machine:
    """This machine now: platform, Python, cores, Numba threads, load average and date."""
    import os
    import platform
    import time

    import numba

    return Machine(
        platform=platform.platform(),
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
        numba_threads=numba.get_num_threads(),
        versions=dict(versions),
        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class RobustnessRecord:
    """One decode of one (image, attack) by one system."""

    system: str
    image: str
    attack: str
    marked: bool  # False: the input was never marked (false-detection check)
    bit_accuracy: float  # fraction of the 64 payload bits read correctly
    exact: bool  # all 64 bits right (ours: detected with the right payload)
    detected: bool | None = None  # ours only; peers have no detection decision
    bits_source: str = BITS_PEER


@dataclass(frozen=True)
class QualityRecord:
    """Distortion of one marked image."""

    system: str
    image: str
    width: int
    height: int
    luma_psnr: float
    rgb_psnr: float


@dataclass(frozen=True)
class SpeedRecord:
    """Repeated timings of one operation at one size."""

    system: str
    operation: str  # ours: "embed", "detect (marked)", "detect (unmarked)"; peers: "decode"
    times_ms: tuple[float, ...]
    megapixels: float
    threads: str = ""  # e.g. "numba 2", "numba 1"; empty for single-threaded peers

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def mp_per_s(self) -> float:
        return self.megapixels / (self.median_ms / 1000.0)


Record = Machine | RobustnessRecord | QualityRecord | SpeedRecord


def _systems(names: Iterable[str]) -> list[str]:
    seen = ordered(names)
    return [s for s in SYSTEM_ORDER if s in seen] + [s for s in seen if s not in SYSTEM_ORDER]


def ordered(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order (the rows and columns of a table)."""
    return list(dict.fromkeys(values))


def yes(value: bool) -> str:
    """A table cell for a check: "yes", or a bold "no" that stands out."""
    return "yes" if value else "**no**"


def duration(seconds: float) -> str:
    """A length of media or time: minutes from two minutes on, else seconds."""
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def grid(
    corner: str, rows: Iterable[str], columns: Sequence[str], cell: Callable[[str, str], str | None]
) -> list[str]:
    """A Markdown table with a line per row and a column per column: ``cell(row, column)``
    in each place, "-" where it gives None (nothing was measured there)."""
    out = [f"| {corner} | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for row in rows:
        cells = [cell(row, column) for column in columns]
        out.append(f"| {row} | " + " | ".join("-" if c is None else c for c in cells) + " |")
    return out


def report_head(title: str, machine: Machine | None, facts: dict[str, str]) -> list[str]:
    """The top of a long-run report: its title, the machine lines, then ``- name: value`` for
    every fact."""
    return [f"# {title}", "", *machine_lines(machine), *(f"- {k}: {v}" for k, v in facts.items())]


def machine_lines(machine: Machine | None) -> list[str]:
    """The header lines of every report: where, with what and when it was measured."""
    if machine is None:
        return ["Machine: not recorded.", ""]
    versions = ", ".join(f"{name} {version}" for name, version in machine.versions.items())
    lines = [
        f"- Machine: `{machine.platform}`, Python {machine.python}, "
        f"`os.cpu_count()` = {machine.cpu_count}, numba threads = {machine.numba_threads}",
        f"- Versions: {versions}" if versions else "- Versions: not recorded",
    ]
    if machine.load_average is not None:
        load = ", ".join(f"{x:.2f}" for x in machine.load_average)
        lines.append(f"- Load average when the run started (1, 5, 15 min): {load}")
    if machine.date:
        lines.append(f"- Date: {machine.date}")
    lines.extend(f"- {note}" for note in machine.notes)
    return [*lines, ""]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _robustness_markdown(
    machine: Machine | None,
    robustness: Sequence[RobustnessRecord],
    quality: Sequence[QualityRecord],
) -> str:
    systems = _systems(r.system for r in [*robustness, *quality])
    marked = [r for r in robustness if r.marked]
    attacks = list(dict.fromkeys(r.attack for r in marked))
    images = list(dict.fromkeys(r.image for r in [*quality, *robustness]))
    out = ["# Image watermark robustness: ours vs invisible-watermark and blind-watermark", ""]
    out += machine_lines(machine)

    out += ["## Quality (PSNR of the marked image, dB)", ""]
    out.append("| image | size | " + " | ".join(f"{s} luma / RGB" for s in systems) + " |")
    out.append("| --- | --- |" + " --- |" * len(systems))
    by_quality = {(q.system, q.image): q for q in quality}
    for image in images:
        cells, size = [], ""
        for system in systems:
            q = by_quality.get((system, image))
            if q is None:
                cells.append("-")
                continue
            size = f"{q.width}x{q.height}"
            cells.append(f"{q.luma_psnr:.1f} / {q.rgb_psnr:.1f}")
        out.append(f"| {image} | {size} | " + " | ".join(cells) + " |")
    means = []
    for system in systems:
        values = [q for q in quality if q.system == system]
        means.append(
            f"{statistics.fmean(q.luma_psnr for q in values):.1f} / "
            f"{statistics.fmean(q.rgb_psnr for q in values):.1f}"
            if values
            else "-"
        )
    out.append("| **mean** | |" + "".join(f" {m} |" for m in means))
    out += [
        "",
        "Luma PSNR compares BT.601 luma (`marking.watermark.image.luma_psnr`); RGB PSNR "
        "compares all three channels. Ours changes luma only; the invisible-watermark methods "
        "embed in the U chroma plane, so their luma PSNR flatters them and RGB PSNR is the "
        "fairer figure for them. blind-watermark embeds in Y, U and V alike.",
        "",
    ]

    out += ["## Bit accuracy / exact-payload rate per attack (mean over images)", ""]
    out.append("| attack | " + " | ".join(systems) + " |")
    out.append("| --- |" + " --- |" * len(systems))
    for attack in attacks:
        cells = []
        for system in systems:
            rows = [r for r in marked if r.system == system and r.attack == attack]
            if not rows:
                cells.append("-")
                continue
            accuracy = statistics.fmean(r.bit_accuracy for r in rows)
            exact = sum(r.exact for r in rows)
            cells.append(f"{_pct(accuracy)} / {exact}/{len(rows)}")
        out.append(f"| {attack} | " + " | ".join(cells) + " |")
    totals = []
    for system in systems:
        rows = [r for r in marked if r.system == system]
        totals.append(
            f"{_pct(statistics.fmean(r.bit_accuracy for r in rows))} / "
            f"{sum(r.exact for r in rows)}/{len(rows)}"
            if rows
            else "-"
        )
    out.append("| **all attacks** |" + "".join(f" {t} |" for t in totals))
    sources = {
        s: sum(r.bits_source == s for r in marked if r.system == "ours")
        for s in (BITS_FROM_PAYLOAD, BITS_FROM_DECODER, BITS_CHANCE)
    }
    refused = sum(r.bits_source == BITS_CHANCE for r in marked if r.system != "ours")
    out += [
        "",
        "Each cell: mean bit accuracy over the images (64 payload bits; 50 % is chance) / "
        "number of images whose full 64-bit payload came back exactly.",
        "",
        "- **ours**: *exact* means `detect_image` reported `detected=True` with the embedded "
        "payload. When detection succeeded the bits are those of the reported payload "
        f"({sources[BITS_FROM_PAYLOAD]} cells). When it failed, the bits are the 64 payload "
        "bits the Viterbi decoder produced at the detector's own best attempt (highest "
        "coded-bit agreement, chosen without knowing the payload), read by wrapping "
        f"`decode_payload` during the call ({sources[BITS_FROM_DECODER]} cells). When the "
        "detector made no decode attempt (sync score below its gate), 0.5 is counted "
        f"({sources[BITS_CHANCE]} cells).",
        "- **dwtDct / dwtDctSvd / blind-watermark**: the 64 bits their decoder returns, "
        "compared with the "
        "embedded ones; *exact* = all 64 equal. They always return bits, whether or not a "
        "mark is present"
        + (
            f"; where the decoder refused the input (fewer than 256x256 px) 0.5 is counted "
            f"({refused} cells)."
            if refused
            else "."
        ),
        "",
    ]

    unmarked = [r for r in robustness if not r.marked]
    if unmarked:
        out += ["## Unmarked inputs (false detections)", ""]
        out.append("| system | inputs | detections | mean bit agreement with a payload |")
        out.append("| --- | --- | --- | --- |")
        for system in systems:
            rows = [r for r in unmarked if r.system == system]
            if not rows:
                continue
            decided = [r for r in rows if r.detected is not None]
            detections = f"{sum(bool(r.detected) for r in decided)}" if decided else "n/a"
            agreement = _pct(statistics.fmean(r.bit_accuracy for r in rows))
            out.append(f"| {system} | {len(rows)} | {detections} | {agreement} |")
        out += [
            "",
            "Ours reports `detected` only when the false-alarm probability is at most 1e-6; "
            "a detection on an unmarked input is a false alarm. The peers "
            "have no detection statistic (they return 64 bits for any input), so they "
            "cannot say whether a mark is present: *n/a*. Their bit agreement on unmarked "
            "inputs is shown for reference.",
            "",
        ]
        wrong = [r for r in marked if r.detected and not r.exact]
        out += [f"Wrong payloads reported as detected on marked inputs (ours): {len(wrong)}.", ""]

    if marked:
        out += ["## Per image", "", "<details><summary>bit accuracy per image and attack</summary>"]
        out += ["", "| image | attack | " + " | ".join(systems) + " |"]
        out.append("| --- | --- |" + " --- |" * len(systems))
        cell = {(r.system, r.image, r.attack): r for r in marked}
        for image in images:
            for attack in attacks:
                row = []
                for system in systems:
                    r = cell.get((system, image, attack))
                    row.append(
                        "-" if r is None else f"{_pct(r.bit_accuracy)}{' ✓' if r.exact else ''}"
                    )
                out.append(f"| {image} | {attack} | " + " | ".join(row) + " |")
        out += ["", "✓ = exact payload.", "", "</details>", ""]
    return "\n".join(out)


def _speed_markdown(machine: Machine | None, speed: Sequence[SpeedRecord]) -> str:
    out = ["# Image watermark speed: ours vs invisible-watermark and blind-watermark", ""]
    out += machine_lines(machine)
    if not speed:
        return "\n".join([*out, "No timings recorded.", ""])
    sizes = sorted({f"{s.megapixels:.2f}" for s in speed})
    out += [
        f"Image: {', '.join(sizes)} megapixels. Median of {len(speed[0].times_ms)} runs after "
        "one warm-up run (numba compilation and cache loading excluded).",
        "",
        "| system | operation | threads | median ms | min ms | MP/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in speed:
        out.append(
            f"| {s.system} | {s.operation} | {s.threads or 'its own (OpenCV, NumPy)'} | "
            f"{s.median_ms:.1f} | {min(s.times_ms):.1f} | {s.mp_per_s:.2f} |"
        )
    out += ["", "## Ratios (peer median / our median; > 1 means ours is faster)", ""]
    out += ["| ours | peer | ratio |", "| --- | --- | --- |"]
    ours = [s for s in speed if s.system == "ours"]
    peers = [s for s in speed if s.system != "ours"]
    for mine in ours:
        peer_operation = "embed" if mine.operation == "embed" else "decode"
        for peer in peers:
            if peer.operation != peer_operation:
                continue
            ratio = peer.median_ms / mine.median_ms
            out.append(
                f"| {mine.operation}, {mine.threads or 'default'} | {peer.system} "
                f"{peer.operation} | {ratio:.1f}x |"
            )
    out += [
        "",
        "The peers decode without deciding whether a mark is present, so their decode time is "
        "compared with both of ours: on a marked image (our detector stops at the first "
        "search that finds the mark) and on an unmarked one (the full period search runs).",
        "",
    ]
    return "\n".join(out)


def _robustness_chart(path: Path, robustness: Sequence[RobustnessRecord]) -> None:
    from matplotlib.figure import Figure

    marked = [r for r in robustness if r.marked]
    systems = _systems(r.system for r in marked)
    attacks = list(dict.fromkeys(r.attack for r in marked))
    fig = Figure(figsize=(max(8.0, 0.75 * len(attacks) + 2), 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(systems))
    for k, system in enumerate(systems):
        accuracy, exact = [], []
        for attack in attacks:
            rows = [r for r in marked if r.system == system and r.attack == attack]
            accuracy.append(statistics.fmean(r.bit_accuracy for r in rows) if rows else math.nan)
            exact.append(sum(r.exact for r in rows) / len(rows) if rows else math.nan)
        xs = [i + (k - (len(systems) - 1) / 2) * width for i in range(len(attacks))]
        top.bar(xs, accuracy, width, label=system)
        bottom.bar(xs, exact, width, label=system)
    top.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    top.set_ylim(0.0, 1.02)
    top.set_ylabel("mean bit accuracy")
    top.set_title("Bit accuracy (dashed: chance)")
    top.legend(loc="lower left")
    bottom.set_ylim(0.0, 1.02)
    bottom.set_ylabel("exact-payload rate")
    bottom.set_title("Images whose 64-bit payload came back exactly")
    bottom.set_xticks(range(len(attacks)), attacks, rotation=40, ha="right")
    fig.savefig(path, dpi=110)


def _speed_chart(path: Path, speed: Sequence[SpeedRecord]) -> None:
    from matplotlib.figure import Figure

    labels = [f"{s.system} {s.operation}" + (f" [{s.threads}]" if s.threads else "") for s in speed]
    fig = Figure(figsize=(9.0, 0.45 * len(speed) + 1.5), layout="constrained")
    ax = fig.subplots()
    colours = {name: f"C{i}" for i, name in enumerate(_systems(s.system for s in speed))}
    ys = range(len(speed))[::-1]
    values = [s.median_ms for s in speed]
    ax.barh(list(ys), values, color=[colours[s.system] for s in speed])
    for y, value in zip(ys, values, strict=True):
        ax.text(value * 1.05, y, f"{value:.0f} ms", va="center", fontsize=8)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 3)
    megapixels = ", ".join(sorted({f"{s.megapixels:.2f}" for s in speed}))
    ax.set_xlabel("median time, ms (log scale; shorter is faster)")
    ax.set_title(f"Embed and decode time, {megapixels} MP image")
    fig.savefig(path, dpi=110)


def write_results(records: Iterable[Record], outdir: Path | str) -> list[Path]:
    """Write the Markdown tables and PNG charts for ``records`` into ``outdir``.

    Returns the paths written: ``image-robustness.md`` and ``image-robustness.png`` when there
    are robustness or quality records, ``image-speed.md`` and ``image-speed.png`` when there
    are speed records.
    """
    records = list(records)
    machines = [r for r in records if isinstance(r, Machine)]
    machine = machines[0] if machines else None
    robustness = [r for r in records if isinstance(r, RobustnessRecord)]
    quality = [r for r in records if isinstance(r, QualityRecord)]
    speed = [r for r in records if isinstance(r, SpeedRecord)]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if robustness or quality:
        path = outdir / "image-robustness.md"
        path.write_text(_robustness_markdown(machine, robustness, quality), encoding="utf-8")
        written.append(path)
        if any(r.marked for r in robustness):
            chart = outdir / "image-robustness.png"
            _robustness_chart(chart, robustness)
            written.append(chart)
    if speed:
        path = outdir / "image-speed.md"
        path.write_text(_speed_markdown(machine, speed), encoding="utf-8")
        chart = outdir / "image-speed.png"
        _speed_chart(chart, speed)
        written += [path, chart]
    return written
