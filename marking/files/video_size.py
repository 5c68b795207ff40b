"""Size-matched video marking: the marked video encoded to the bytes a plain re-encode takes.

The watermark lays a fine static pattern on every frame, and an encoder spends bits on it: at
the same CRF a marked video takes 1.5 to 2 times the bytes of a plain re-encode of its source
(animation about 1.5x, a camera pan 2x, grainy tripod footage about 1x). With ``match_size``
(:func:`marking.files.video.embed_video_file`), :func:`encode_matching_size`

1. re-encodes the source plainly with the same settings (codec, CRF, preset) into a hidden
   scratch file beside the output: its video bytes over its duration are the bit rate to
   match, and its luma PSNR against the source is reported;
2. encodes the marked video at that bit rate: with the encoder's two-pass mode for x264 and
   x265 (the first pass with x264's fast first-pass settings, the statistics in a private
   temporary directory), else (libvpx-vp9) in one pass at the bit rate;
3. checks the marked video's bytes: within :data:`TOLERANCE` of the plain re-encode's, that
   encode becomes the output; otherwise the bit rate is corrected in proportion to the miss
   and the marked video encoded again (the two-pass statistics are kept), at most
   :data:`MAX_TRIES` encodes in all, and the closest one becomes the output with a note
   saying the ratio achieved.

Every encode of the marked video marks its frames afresh and the same way (the marker is
deterministic: the same key, payload and strength give the same tile from the first frame).
Only the encode that becomes the output carries the sound (watermarked or copied, as without
``match_size``) and the other streams; it is renamed into place, so the output still appears
complete or not at all. Scratch files and statistics are removed whatever happens (an error,
an interrupt); a batch's clean-up finds the scratch files of a process killed outright.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from marking.media.atomic import publish, scratch_files
from marking.media.encoding import TWO_PASS_ENCODERS, EncoderSettings, two_pass_settings
from marking.media.temporaries import private_directory
from marking.media.video import ProcessAudio, ProcessFrame, TranscodeReport, transcode
from marking.media.video_compare import video_luma_psnr

#: How far the marked video's bytes may be from the plain re-encode's, as a fraction.
TOLERANCE = 0.05
#: Encodes of the marked video aimed at the plain bit rate, at most: one and 3 corrections.
MAX_TRIES = 4
#: The lowest bit rate asked of an encoder, bits per second.
LOWEST_BITRATE = 1000
#: What the record's ``match_size`` entry says of the way the bit rate was hit.
TWO_PASS, ONE_PASS = "two-pass", "one-pass"

#: ``progress(done, total)``: frames done so far and the expected number (None if unknown).
Progress = Callable[[int, int | None], None]
#: A fresh frame processor marking one encode of the video, given that encode's progress.
NewMarking = Callable[[Progress | None], ProcessFrame]


def video_bitrate(report: TranscodeReport) -> int | None:
    """The encoded video stream's bit rate (bits per second): its packets' bytes times 8 over
    its duration; None without a duration."""
    if report.duration_s <= 0:
        return None
    return round(report.video_bytes * 8 / report.duration_s)


@dataclass(frozen=True)
class _Encode:
    """One encode of the marked video aimed at a bit rate: its scratch file and report."""

    path: Path
    report: TranscodeReport
    bitrate: int

    def miss(self, goal: int) -> float:
        """How far its video bytes are from ``goal`` bytes, as a fraction of ``goal``."""
        return abs(self.report.video_bytes / goal - 1)


class _Stages:
    """One progress bar across the encodes: the n-th encode fills the n-th of ``planned``
    equal parts (more parts appear if more encodes are needed)."""

    def __init__(self, progress: Progress | None, frames: int | None, planned: int) -> None:
        self.progress, self.frames, self.planned = progress, frames, planned
        self.started = 0

    def next(self) -> Progress | None:
        stage = self.started
        self.started += 1
        self.planned = max(self.planned, self.started)
        progress, frames = self.progress, self.frames
        if progress is None:
            return None
        if not frames:
            return progress

        def report(done: int, _total: int | None) -> None:
            progress(stage * frames + min(done, frames), self.planned * frames)

        return report


def _unchanged(progress: Progress | None, frames: int | None) -> ProcessFrame:
    """The plain re-encode's frame processor: frames left as they are, progress counted."""

    def process(_planes: list[Any], info: Any) -> None:
        if progress is not None:
            progress(info.index + 1, frames)

    return process


def encode_matching_size(
    source: Path,
    target: Path,
    settings: EncoderSettings,
    new_marking: NewMarking,
    process_audio: ProcessAudio | None,
    progress: Progress | None = None,
    frames: int | None = None,
) -> tuple[TranscodeReport, dict[str, Any]]:
    """Write the marked video ``source`` to ``target`` at the video bytes a plain re-encode
    with ``settings`` takes (see the module); ``new_marking(progress)`` makes each encode's
    frame processor, ``process_audio`` is :func:`~marking.media.video.transcode`'s (used in
    the encode that becomes the output only), ``frames`` the expected frame count.

    Returns the output encode's report (its ``notes`` say so when the bytes missed) and the
    record's ``match_size`` entry: ``plain_bytes`` and ``plain_bitrate`` (the plain
    re-encode's video stream), ``marked_bytes``, ``ratio`` (marked over plain), ``bitrate``
    (the output's target), ``method`` ("two-pass" or "one-pass"), ``plain_psnr`` and
    ``marked_psnr`` (mean luma PSNR, dB, of the plain re-encode and of the output against
    the source) and ``encodes`` (all the encodes it took, the plain one included).
    """
    started = time.perf_counter()
    stages = _Stages(progress, frames, planned=3)
    with scratch_files(target) as scratch:
        plain_path = scratch(target.suffix)
        plain = transcode(source, plain_path, _unchanged(stages.next(), frames), settings)
        plain_psnr = video_luma_psnr(source, plain_path)
        plain_path.unlink()
        goal = max(plain.video_bytes, 1)
        plain_bitrate = video_bitrate(plain) or LOWEST_BITRATE
        aim = _Aim(source, scratch, target.suffix, goal, new_marking, stages)
        if plain.encoder in TWO_PASS_ENCODERS:
            with private_directory("aigc-mark-passes-") as directory:
                stats = directory / "passes.log"
                first_pass = two_pass_settings(settings, plain.encoder, 1, stats, plain_bitrate)
                aim.encode(first_pass, None).path.unlink()

                def second_pass(rate: int) -> EncoderSettings:
                    return two_pass_settings(settings, plain.encoder, 2, stats, rate)

                best = aim.closest(plain_bitrate, second_pass, process_audio)
            method = TWO_PASS
        else:
            best = aim.closest(plain_bitrate, _one_pass(settings), process_audio)
            method = ONE_PASS
        marked_psnr = video_luma_psnr(source, best.path)
        publish(best.path, target)
    report = best.report
    report.seconds = round(time.perf_counter() - started, 3)  # all the encodes
    ratio = report.video_bytes / goal
    if abs(ratio - 1) > TOLERANCE:
        report.notes.append(
            f"match-size: the marked video is {ratio:.3f}x the plain re-encode's "
            f"{plain.video_bytes} bytes after {aim.count} encodes at a bit rate (aimed within "
            f"{TOLERANCE:.0%})"
        )
    entry = {
        "plain_bytes": plain.video_bytes,
        "plain_bitrate": plain_bitrate,
        "marked_bytes": report.video_bytes,
        "ratio": round(ratio, 4),
        "bitrate": best.bitrate,
        "method": method,
        "plain_psnr": plain_psnr,
        "marked_psnr": marked_psnr,
        "encodes": 1 + aim.count,
    }
    return report, entry


def _one_pass(settings: EncoderSettings) -> Callable[[int], EncoderSettings]:
    def at(rate: int) -> EncoderSettings:
        return replace(settings, bitrate=rate, match_size=False)

    return at


class _Aim:
    """The encodes of the marked video aimed at ``goal`` video bytes, each into a scratch
    file; ``count`` says how many were made."""

    def __init__(
        self,
        source: Path,
        scratch: Callable[[str], Path],
        suffix: str,
        goal: int,
        new_marking: NewMarking,
        stages: _Stages,
    ) -> None:
        self.source, self.scratch, self.suffix, self.goal = source, scratch, suffix, goal
        self.new_marking, self.stages = new_marking, stages
        self.count = 0

    def encode(self, settings: EncoderSettings, process_audio: ProcessAudio | None) -> _Encode:
        """One encode of the marked video with ``settings``, into a new scratch file."""
        path = self.scratch(self.suffix)
        process = self.new_marking(self.stages.next())
        report = transcode(self.source, path, process, settings, process_audio)
        self.count += 1
        return _Encode(path, report, settings.bitrate or 0)

    def closest(
        self,
        bitrate: int,
        settings_at: Callable[[int], EncoderSettings],
        process_audio: ProcessAudio | None,
    ) -> _Encode:
        """Encode at ``bitrate``, then at corrected rates while the bytes miss by more than
        :data:`TOLERANCE` (:data:`MAX_TRIES` encodes at most); the closest encode (the
        others' files removed as soon as they lose)."""
        best: _Encode | None = None
        for _ in range(MAX_TRIES):
            done = self.encode(settings_at(bitrate), process_audio)
            if best is None or done.miss(self.goal) < best.miss(self.goal):
                if best is not None:
                    best.path.unlink()
                best = done
            else:
                done.path.unlink()
            if best.miss(self.goal) <= TOLERANCE or not done.report.video_bytes:
                break
            bitrate = max(LOWEST_BITRATE, round(bitrate * self.goal / done.report.video_bytes))
        assert best is not None  # MAX_TRIES >= 1
        return best


__all__ = [
    "MAX_TRIES",
    "TOLERANCE",
    "NewMarking",
    "Progress",
    "encode_matching_size",
    "video_bitrate",
]
