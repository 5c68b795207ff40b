"""Mark and detect a 3-hour 48 kHz stereo file: time and peak memory at the top of the range.

Run: ``.venv/bin/python bench/large_audio.py [--hours H] [--tmpdir DIR] [--outdir DIR]``.

The script writes a FLAC (16-bit, 48 kHz, stereo) programme to a temporary directory, block by
block: the tabla sample looped, the speech sample, pauses of digital silence and a faint noise
floor, with a random level per segment. It then

1. reads the file once without doing anything (the cost of decoding FLAC alone),
2. stream-embeds it into a second FLAC (read blocks, :class:`AudioEmbedder`, write blocks),
3. stream-detects the marked file (:class:`AudioDetector`),
4. detects a 20 s excerpt read from a non-aligned offset in the middle of the marked file,

timing each phase (wall and CPU) and measuring its peak resident memory, then deletes the
files and writes ``audio-large.md`` to ``--outdir`` (default ``bench/results/``). When
``marking.files.audio`` exists its file-level ``embed_audio_file`` and
``detect_audio_file`` are timed instead of the hand-written loops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness
import numpy as np
import soundfile as sf
from harness import KEY, PEAK_RSS_NOTE, SAMPLES, Phase, PhaseRunner
from results_writer import Machine, report_head

from marking.media.audio import AudioWriter, probe_audio, read_blocks
from marking.watermark.audio import AudioDetector, AudioEmbedder, detect_audio

RATE = 48000
CHANNELS = 2
PAYLOAD = harness.PAYLOAD_HEX
SEED = 3
#: Samples per generated / read block (about 1.4 s at 48 kHz).
BLOCK = 65536
#: Excerpt decoded on its own at the end: its length (s) and where it starts (fraction of the
#: file, plus a few samples so it is not aligned on anything).
EXCERPT_SECONDS = 20.0
EXCERPT_AT = 0.4613


# --- the long programme ----------------------------------------------------------------------


def _sample_at_rate(name: str) -> np.ndarray:
    """A sample file as float32 (n, 2) at :data:`RATE` (mono is panned slightly right)."""
    from scipy.signal import resample_poly

    samples, rate = sf.read(SAMPLES / name, dtype="float32", always_2d=True)
    if rate != RATE:
        divisor = np.gcd(rate, RATE)
        samples = resample_poly(samples, RATE // divisor, rate // divisor, axis=0)
    if samples.shape[1] == 1:
        samples = samples * np.array([[0.8, 1.0]])
    return np.ascontiguousarray(samples[:, :CHANNELS], dtype=np.float32)


def programme(seconds: float, seed: int = SEED) -> Iterator[np.ndarray]:
    """Yield ``seconds`` of a radio-like programme in blocks of at most :data:`BLOCK` frames.

    Segments follow each other at random: music (the tabla loop, 20-90 s, from a random point
    in the loop), speech (the Italian sample, once), or a pause of digital silence (0.3-3 s).
    Each music or speech segment gets a random level (-14 to 0 dB) and a noise floor 66 dB
    under full scale.
    """
    rng = np.random.default_rng(seed)
    music = _sample_at_rate("music-tabla-loop.flac")
    speech = _sample_at_rate("speech-italian-male.flac")
    total = round(seconds * RATE)
    done = 0
    while done < total:
        kind = rng.choice(["music", "speech", "silence"], p=[0.55, 0.3, 0.15])
        if kind == "silence":
            length = round(rng.uniform(0.3, 3.0) * RATE)
            source, start, gain = None, 0, 0.0
        elif kind == "music":
            length = round(rng.uniform(20.0, 90.0) * RATE)
            source, start = music, int(rng.integers(music.shape[0]))
            gain = 10 ** (rng.uniform(-14.0, 0.0) / 20)
        else:
            source, start, length = speech, 0, speech.shape[0]
            gain = 10 ** (rng.uniform(-14.0, 0.0) / 20)
        length = min(length, total - done)
        for offset in range(0, length, BLOCK):
            count = min(BLOCK, length - offset)
            if source is None:
                yield np.zeros((count, CHANNELS), dtype=np.float32)
                continue
            index = (start + offset + np.arange(count)) % source.shape[0]
            block = source[index] * np.float32(gain)
            block += rng.standard_normal((count, CHANNELS), dtype=np.float32) * np.float32(5e-4)
            yield block
        done += length


def write_programme(path: Path, seconds: float) -> None:
    with sf.SoundFile(path, "w", RATE, CHANNELS, "PCM_16", format="FLAC") as sound:
        for block in programme(seconds):
            sound.write(np.clip(block, -1.0, 1.0))


# --- embedding and detection -----------------------------------------------------------------


def _file_api() -> Any | None:
    """``marking.files.audio`` when it exists (it is written separately)."""
    return harness.optional_module("marking.files.audio")


def stream_embed(source: Path, target: Path) -> tuple[dict[str, Any], str]:
    """Mark ``source`` into ``target``; returns (the embed record or {}, how it was done)."""
    api = _file_api()
    if api is not None and hasattr(api, "embed_audio_file"):
        record = api.embed_audio_file(source, target, key=KEY, payload=PAYLOAD, blocksize=BLOCK)
        return dict(record), "`marking.files.audio.embed_audio_file`"
    info = probe_audio(source)
    embedder = AudioEmbedder(rate=info.samplerate, channels=info.channels, payload=PAYLOAD, key=KEY)
    with AudioWriter(target, info) as writer:
        for block in read_blocks(source, BLOCK, info=info):
            writer.write(embedder.push(block))
        writer.write(embedder.finish())
    return {}, "`read_blocks` -> `AudioEmbedder.push` -> `AudioWriter.write`"


def stream_detect(path: Path) -> tuple[dict[str, Any], str]:
    """Detect in ``path``; returns (the detection as a dict, how it was done)."""
    api = _file_api()
    if api is not None and hasattr(api, "detect_audio_file"):
        record = api.detect_audio_file(path, key=KEY, blocksize=BLOCK)
        return dict(record), "`marking.files.audio.detect_audio_file`"
    info = probe_audio(path)
    detector = AudioDetector(rate=info.samplerate, key=KEY)
    for block in read_blocks(path, BLOCK, info=info):
        detector.push(block)
    return detector.result().to_dict(), "`read_blocks` -> `AudioDetector.push` -> `result()`"


def read_only(path: Path) -> int:
    return sum(block.shape[0] for block in read_blocks(path, BLOCK))


# --- report ----------------------------------------------------------------------------------


def _machine() -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "scipy", "soundfile"),
        extra={"libsndfile": sf.__libsndfile_version__},
    )


def report(
    machine: Machine,
    hours: float,
    phases: list[Phase],
    facts: dict[str, str],
    notes: list[str],
) -> str:
    out = report_head(f"Audio watermark on a {hours:g}-hour 48 kHz stereo file", machine, facts)
    out += [
        "",
        "| phase | audio | wall s | CPU s | x real time | x real time per core "
        "| RSS before, MiB | peak RSS, MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in phases:
        audio = (
            f"{p.media_seconds / 3600:.2f} h"
            if p.media_seconds >= 600
            else (f"{p.media_seconds:.0f} s")
        )
        out.append(
            f"| {p.name} | {audio} | {p.wall:.2f} | {p.cpu:.2f} | {p.realtime:.0f} | "
            f"{p.realtime_per_core:.0f} | {p.rss_before_mib:.0f} | {p.peak_mib:.0f} |"
        )
    out += [
        "",
        "- *x real time* = audio duration / wall time; *per core* = audio duration / CPU time "
        "of the process (all threads), so it is the throughput one core gives.",
        "- Times include FLAC decoding (and, for embedding, FLAC encoding) through "
        "libsndfile; the *read only* row is the decoding alone.",
        f"- {PEAK_RSS_NOTE} It includes the interpreter, NumPy, SciPy and the loaded Numba "
        "kernels (the *RSS before* column).",
        *(f"- {note}" for note in notes),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, outdir=True, tmpdir=True, no_write="audio-large.md")
    parser.add_argument("--hours", type=float, default=3.0, help="length of the file")
    args = parser.parse_args(argv)
    if not 0 < args.hours <= 24:
        parser.error("--hours must be in (0, 24]")
    seconds = args.hours * 3600
    machine = _machine()  # load average before this script adds to it

    needed = 2.5 * seconds * RATE * CHANNELS * 2  # two FLACs, each at most the size of a WAV
    runner = PhaseRunner(realtime_digits=0)
    run = runner.run
    facts: dict[str, str] = {}
    notes: list[str] = []

    with harness.work_directory("aigc-large-audio-", args.tmpdir, needed, "--hours") as workdir:
        if workdir is None:
            return 1
        source, target = workdir / "programme.flac", workdir / "marked.flac"
        harness.warm_kernels()
        run("generate (write FLAC)", seconds, lambda: write_programme(source, seconds))
        info = probe_audio(source)
        facts["File"] = (
            f"{info.frames / info.samplerate / 3600:.2f} h, {info.samplerate} Hz, "
            f"{info.channels} ch, {info.format} {info.subtype}, "
            f"{source.stat().st_size / 1e6:.0f} MB (tabla loop, speech, digital-silence "
            "pauses, noise floor; random level per segment)"
        )
        run("read only (decode FLAC)", seconds, lambda: read_only(source))
        record, how = run(
            "embed (stream, FLAC to FLAC)", seconds, lambda: stream_embed(source, target)
        )
        notes.append(f"Embedding: {how}, blocks of {BLOCK} frames, key `{KEY}`.")
        marked_info = probe_audio(target)
        same = "same as" if marked_info.frames == info.frames else "**differs from**"
        facts["Marked file"] = (
            f"{marked_info.format} {marked_info.subtype}, {marked_info.frames} frames "
            f"({same} the source's {info.frames}), {target.stat().st_size / 1e6:.0f} MB"
            + (f", segmental SNR {record['snr_db']:.1f} dB" if record.get("snr_db") else "")
        )
        source.unlink()
        found, how = run("detect (stream, whole file)", seconds, lambda: stream_detect(target))
        notes.append(f"Detection: {how}.")
        facts["Detection, whole file"] = (
            f"detected={found['detected']}, payload {found['payload']} (embedded {PAYLOAD}), "
            f"false alarm {found['false_alarm']:.1e}, offset {found['offset']}, "
            f"speed {found['speed']}"
        )
        start = int(EXCERPT_AT * marked_info.frames) + 7
        excerpt, rate = sf.read(
            target, frames=round(EXCERPT_SECONDS * RATE), start=start, dtype="float32"
        )
        part = run(
            f"detect a {EXCERPT_SECONDS:g} s excerpt",
            EXCERPT_SECONDS,
            lambda: detect_audio(excerpt, rate, key=KEY),
        )
        facts["Detection, excerpt"] = (
            f"from {start / RATE:.3f} s: detected={part.detected}, payload {part.payload}, "
            f"offset {part.offset}"
        )

    text = report(machine, args.hours, runner.phases, facts, notes)
    print(text)
    if not args.no_write:
        harness.write_report(text, args.outdir / "audio-large.md")
    return 0 if found["detected"] and found["payload"] == PAYLOAD else 1


if __name__ == "__main__":
    raise SystemExit(main())
