"""The benchmark result writers turn a small hand-made run into the published tables and charts.

``make bench`` measures for a long time and then calls three writers, which format records only:
``bench/results_writer.write_results`` (images), ``bench/compare_audio.write_audio_results`` and
``bench/compare_video.write_video_results``. Each is fed here a few records built by hand (two
systems where the writer compares peers, two images or clips, three attacks, timings, unmarked
inputs), and the Markdown must hold the rows computed from them and the PNG charts must be real
images with the bars drawn, so a change to a record type or a writer cannot leave
``bench/results/`` to rot until the next hour-long benchmark run.
"""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:  # the bench scripts import each other by bare name
    sys.path.insert(0, str(BENCH_DIR))

import compare_audio as ca  # noqa: E402
import compare_video as cv  # noqa: E402
import results_writer as rw  # noqa: E402

#: Colours of matplotlib's default cycle used by the charts' bars.
C0 = (0x1F, 0x77, 0xB4)
C7 = (0x7F, 0x7F, 0x7F)

MACHINE = rw.Machine(
    platform="Test-OS-1.0",
    python="3.11.7",
    cpu_count=2,
    numba_threads=2,
    versions={"numpy": "2.0.0", "numba": "0.60.0"},
    load_average=(0.5, 0.25, 0.125),
    date="2026-01-02 03:04 UTC",
    notes=("A note from the measuring script.",),
)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _png(path: Path, min_size: tuple[int, int] = (500, 300)) -> np.ndarray:
    """The chart as RGB pixels, after checking that it is a complete PNG of a sensible size."""
    with Image.open(path) as image:
        image.verify()  # a truncated or corrupt file raises
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert min_size[0] <= width <= 3000
        assert min_size[1] <= height <= 3000
        return np.asarray(image.convert("RGB"))


def _pixels(rgb: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(rgb == np.array(colour, dtype=np.uint8), axis=-1).sum())


# --- images -------------------------------------------------------------------------------------


def _image_records() -> list[rw.Record]:
    R, Q, S = rw.RobustnessRecord, rw.QualityRecord, rw.SpeedRecord
    peer = "blind-watermark"
    records: list[rw.Record] = [MACHINE]
    # The peer's records come first: the tables must still put ours first (SYSTEM_ORDER).
    records += [
        Q(peer, "alpha", 512, 384, 50.0, 38.0),
        Q(peer, "beta", 640, 480, 52.0, 40.0),
        R(peer, "alpha", "none", True, 1.0, True),
        R(peer, "beta", "none", True, 1.0, True),
        R(peer, "alpha", "jpeg-50", True, 60 / 64, False),
        R(peer, "beta", "jpeg-50", True, 52 / 64, False),
        R(peer, "alpha", "crop-50", True, 0.5, False, bits_source=rw.BITS_CHANCE),
        R(peer, "beta", "crop-50", True, 0.5, False, bits_source=rw.BITS_CHANCE),
        R(peer, "alpha", "none", False, 0.5, False),
        R(peer, "beta", "none", False, 36 / 64, False),
    ]
    ok = {"detected": True, "bits_source": rw.BITS_FROM_PAYLOAD}
    records += [
        Q("ours", "alpha", 512, 384, 45.04, 47.96),
        Q("ours", "beta", 640, 480, 44.96, 48.04),
        R("ours", "alpha", "none", True, 1.0, True, **ok),
        R("ours", "beta", "none", True, 1.0, True, **ok),
        R("ours", "alpha", "jpeg-50", True, 1.0, True, **ok),
        R("ours", "beta", "jpeg-50", True, 1.0, True, **ok),
        R("ours", "alpha", "crop-50", True, 1.0, True, **ok),
        R("ours", "beta", "crop-50", True, 0.75, False, False, rw.BITS_FROM_DECODER),
        R("ours", "alpha", "none", False, 0.5, False, False, rw.BITS_CHANCE),
        # A false alarm: detected on an unmarked input.
        R("ours", "beta", "none", False, 28 / 64, False, True, rw.BITS_FROM_PAYLOAD),
    ]
    megapixels = 1920 * 1080 / 1e6
    records += [
        S("ours", "embed", (10.0, 12.0, 14.0), megapixels, "numba 2"),
        S("ours", "detect (marked)", (40.0, 44.0, 48.0), megapixels, "numba 2"),
        S("ours", "detect (unmarked)", (80.0, 90.0, 100.0), megapixels, "numba 2"),
        S(peer, "embed", (300.0, 360.0, 420.0), megapixels),
        S(peer, "decode", (200.0, 220.0, 240.0), megapixels),
    ]
    return records


def test_image_results(tmp_path: Path) -> None:
    written = rw.write_results(_image_records(), tmp_path)
    assert [p.name for p in written] == [
        "image-robustness.md",
        "image-robustness.png",
        "image-speed.md",
        "image-speed.png",
    ]

    robustness = _lines(tmp_path / "image-robustness.md")
    for line in (
        "- Machine: `Test-OS-1.0`, Python 3.11.7, `os.cpu_count()` = 2, numba threads = 2",
        "- Versions: numpy 2.0.0, numba 0.60.0",
        "- Load average when the run started (1, 5, 15 min): 0.50, 0.25, 0.12",
        "- A note from the measuring script.",
        # Quality: per image and the mean, ours first although the peer's records came first.
        "| image | size | ours luma / RGB | blind-watermark luma / RGB |",
        "| alpha | 512x384 | 45.0 / 48.0 | 50.0 / 38.0 |",
        "| beta | 640x480 | 45.0 / 48.0 | 52.0 / 40.0 |",
        "| **mean** | | 45.0 / 48.0 | 51.0 / 39.0 |",
        # Mean bit accuracy / exact payloads per attack, over the two images.
        "| attack | ours | blind-watermark |",
        "| none | 100.0 % / 2/2 | 100.0 % / 2/2 |",
        "| jpeg-50 | 100.0 % / 2/2 | 87.5 % / 0/2 |",
        "| crop-50 | 87.5 % / 1/2 | 50.0 % / 0/2 |",
        "| **all attacks** | 95.8 % / 5/6 | 79.2 % / 2/6 |",
        # Unmarked inputs: our false alarm counted, the peer has no detection decision.
        "| ours | 2 | 1 | 46.9 % |",
        "| blind-watermark | 2 | n/a | 53.1 % |",
        "Wrong payloads reported as detected on marked inputs (ours): 0.",
        # Per image and attack.
        "| alpha | none | 100.0 % ✓ | 100.0 % ✓ |",
        "| beta | jpeg-50 | 100.0 % ✓ | 81.2 % |",
        "| beta | crop-50 | 75.0 % | 50.0 % |",
    ):
        assert line in robustness, line
    text = "\n".join(robustness)
    # Where our bits came from, and the peer cells where its decoder refused the input.
    assert "reported payload (5 cells)" in text
    assert "during the call (1 cells)" in text
    assert "0.5 is counted (0 cells)" in text
    assert "0.5 is counted (2 cells)" in text

    speed = _lines(tmp_path / "image-speed.md")
    for line in (
        "Image: 2.07 megapixels. Median of 3 runs after one warm-up run (numba compilation "
        "and cache loading excluded).",
        "| ours | embed | numba 2 | 12.0 | 10.0 | 172.80 |",
        "| ours | detect (unmarked) | numba 2 | 90.0 | 80.0 | 23.04 |",
        "| blind-watermark | embed | its own (OpenCV, NumPy) | 360.0 | 300.0 | 5.76 |",
        "| embed, numba 2 | blind-watermark embed | 30.0x |",
        "| detect (marked), numba 2 | blind-watermark decode | 5.0x |",
        "| detect (unmarked), numba 2 | blind-watermark decode | 2.4x |",
    ):
        assert line in speed, line

    chart = _png(tmp_path / "image-robustness.png")
    assert _pixels(chart, C0) > 500  # ours' bars
    assert _pixels(chart, (0xFF, 0x7F, 0x0E)) > 500  # the peer's (C1)
    chart = _png(tmp_path / "image-speed.png", min_size=(500, 200))
    assert _pixels(chart, C0) > 500


def test_image_results_without_speed_write_no_speed_files(tmp_path: Path) -> None:
    records = [r for r in _image_records() if not isinstance(r, rw.SpeedRecord)]
    written = rw.write_results(records, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert [p.name for p in written] == ["image-robustness.md", "image-robustness.png"]


# --- audio --------------------------------------------------------------------------------------


def _audio_results() -> ca.AudioResults:
    speech, tabla = "speech 44.1k", "tabla 44.1k stereo"

    def clip(name: str, kind: str, channels: int, snr: float, **silence: float) -> ca.ClipRecord:
        return ca.ClipRecord(
            clip=name,
            kind=kind,
            rate=44100,
            channels=channels,
            seconds=30.0,
            payload="0123456789abcdef",
            snr_db=snr,
            silence_seconds=silence.get("seconds", 0.0),
            silence_broken=0,
            edge_nonzero=int(silence.get("edge", 0)),
            edge_peak_dbfs=silence.get("peak", -np.inf),
            wrong_key_detected=False,
            wrong_key_score=silence.get("wrong_key_z", 1.5),
        )

    clips = [
        clip(speech, "speech", 1, 31.3),
        clip(tabla, "music", 2, 28.6, seconds=2.5, edge=12, peak=-72.0, wrong_key_z=0.8),
    ]
    A = ca.AttackRecord
    attacks = [
        A(speech, "none", True, True, 12.3, 1e-12, 1.0, 30.0, 150.0),
        A(tabla, "none", True, True, 14.0, 1e-12, 1.0, 30.0, 160.0),
        A(speech, "mp3-64k", True, True, 8.0, 1e-9, 1.0, 30.0, 170.0),
        # Detected with a wrong payload: not exact, and counted as a false alarm.
        A(tabla, "mp3-64k", True, False, 7.5, 1e-9, 1.0, 30.0, 180.0),
        A(speech, "speed-1.03", True, True, 9.8, 1e-8, 1.03, 29.1, 900.0),
        A(tabla, "speed-1.03", False, False, 3.2, 0.2, 1.0, 29.1, 1400.0),
    ]
    F = ca.FalseAlarmRecord
    false_alarms = [
        F("speech", 16000, 1, False, None, 2.5, 0.3),
        F("music", 48000, 2, False, None, 3.75, 0.01),
        F("speech", 22050, 3, False, None, 1.0, 0.9),
    ]
    T = ca.TimingRecord
    speed_clip = "tabla looped to 30 s, 44.1 kHz stereo"
    timings = [
        T("embed", speed_clip, 30.0, (50.0, 60.0, 70.0), (55.0, 60.0, 65.0)),
        T("detect (marked)", speed_clip, 30.0, (200.0, 250.0, 300.0), (240.0, 250.0, 260.0)),
        T(
            "detect (unmarked, speed search)",
            speed_clip,
            30.0,
            (1000.0, 1200.0, 1500.0),
            (1200.0,) * 3,
        ),
        T("detect (unmarked, no speed search)", speed_clip, 30.0, (300.0,) * 3, (300.0,) * 3),
    ]
    return ca.AudioResults(MACHINE, clips, attacks, false_alarms, timings)


def test_audio_results(tmp_path: Path) -> None:
    written = ca.write_audio_results(_audio_results(), tmp_path)
    assert [p.name for p in written] == [
        "audio-robustness.md",
        "audio-robustness.png",
        "audio-speed.md",
        "audio-speed.png",
    ]

    robustness = _lines(tmp_path / "audio-robustness.md")
    for line in (
        "- Machine: `Test-OS-1.0`, Python 3.11.7, `os.cpu_count()` = 2, numba threads = 2",
        "| speech 44.1k | speech | 44100 Hz | 1 | 30 s | 31.3 dB | none in the clip "
        "| not detected (z 1.5) |",
        "| tabla 44.1k stereo | music | 44100 Hz | 2 | 30 s | 28.6 dB | yes (2.5 s); 12 samples "
        "next to sound, peak -72 dBFS | not detected (z 0.8) |",
        "| attack | speech 44.1k | tabla 44.1k stereo | all clips "
        "| audiowmark (reference, not run) |",
        "| none | yes | yes | 2/2 | yes |",
        "| mp3-64k | yes | **no** | 1/2 | yes (MP3 32-128k) |",
        "| speed-1.03 | yes | **no** | 1/2 | fails without a slow extra speed search |",
        "| **all attacks** | 3/3 | 1/3 | 4/6 | |",
        # Details: score, exact mark, the playback speed found, detection time.
        "| speed-1.03 | 9.8 ✓, speed 1.03, 900 ms | 3.2, 1400 ms |",
        # False alarms: three unmarked clips, none detected, the highest score named.
        "| 3 x 30 s | speech, music | 16k, 22.05k, 48k | 0 | 3.75 (music, 48000 Hz, seed 2) "
        "| 0.01 | prints 24 random payloads |",
        "- speech: 2, 0, 2.50",
        "- music: 1, 0, 3.75",
    ):
        assert line in robustness, line
    text = "\n".join(robustness)
    assert "Segmental SNR: 28.6-31.3 dB" in text
    assert "A wrong payload reported as detected would be a false alarm: 1 in this run." in text

    speed = _lines(tmp_path / "audio-speed.md")
    for line in (
        "Clip: tabla looped to 30 s, 44.1 kHz stereo. Median of 3 runs after one warm-up run "
        "(Numba cache loading excluded), Numba limited to one thread and SciPy's FFT to one "
        "worker.",
        "| embed | 60.0 | 50.0 | 60.0 | 500 | 500 | 500x per core |",
        "| detect (marked) | 250.0 | 200.0 | 250.0 | 120 | 120 | 100x |",
        "| detect (unmarked, speed search) | 1200.0 | 1000.0 | 1200.0 | 25 | 25 | 100x |",
        "| detect (unmarked, no speed search) | 300.0 | 300.0 | 300.0 | 100 | 100 | (component) |",
        "| embed | 600-800x real time | 500x |",
        "| detect 30 s | about 20x real time (310 MB) | 120x (marked), "
        "25x (unmarked, with speed search) |",
    ):
        assert line in speed, line

    chart = _png(tmp_path / "audio-robustness.png", min_size=(300, 200))
    assert _pixels(chart, (0x9F, 0xD4, 0x9F)) > 500  # exact-payload cells (green)
    assert _pixels(chart, (0xE8, 0xA0, 0xA0)) > 500  # the failed cells (red)
    chart = _png(tmp_path / "audio-speed.png")
    assert _pixels(chart, C0) > 500  # our four bars


# --- video --------------------------------------------------------------------------------------


def _video_results() -> cv.VideoResults:
    bbb, pan, peer = "bbb 1080p30", "pan 720p25", cv.PEER

    def marked(
        system: str, clip: str, frames: int, psnr: tuple[float, ...], flicker: tuple[float, ...]
    ) -> cv.QualityRecord:
        """psnr: luma min, mean (and RGB min, mean for the peer); flicker: mean, p95, max,
        change in code values (and before rounding mean, max for ours)."""
        ours = system == "ours"
        return cv.QualityRecord(
            system=system,
            clip=clip,
            frames=frames,
            seconds=frames / (30 if "1080p30" in clip else 25),
            psnr_min=psnr[0],
            psnr_mean=psnr[1],
            rgb_psnr_min=None if ours else psnr[2],
            rgb_psnr_mean=None if ours else psnr[3],
            flicker_mean=flicker[0],
            flicker_p95=flicker[1],
            flicker_max=flicker[2],
            change_rms=flicker[3],
            pattern_flicker_mean=flicker[4] if ours else None,
            pattern_flicker_max=flicker[5] if ours else None,
            plane="Y" if ours else "U",
            embed_seconds=10.2 if ours else 54.4,
        )

    quality = [
        marked("ours", bbb, 180, (42.58, 42.6), (0.088, 0.172, 0.43, 0.167, 0.06, 0.388)),
        marked(peer, bbb, 90, (56.65, 56.75, 41.06, 41.18), (0.61, 0.848, 0.861, 1.133)),
        marked("ours", pan, 150, (41.9, 42.3), (0.119, 0.164, 0.168, 0.225, 0.055, 0.102)),
    ]

    def ours(clip: str, attack: str, applied: str, exact: bool, score: float) -> cv.AttackRecord:
        return cv.AttackRecord(
            "ours",
            clip,
            attack,
            applied,
            exact=exact,
            bit_accuracy=1.0 if exact else 52 / 64,
            bits_source=rw.BITS_FROM_PAYLOAD if exact else rw.BITS_FROM_DECODER,
            detected=exact,
            score=score,
            false_alarm=1e-12 if exact else 0.3,
            frames_used=90,
            attack_seconds=4.0,
            detect_seconds=1.3,
        )

    def dwt(attack: str, accuracy: float, frames_exact: int) -> cv.AttackRecord:
        return cv.AttackRecord(
            peer,
            bbb,
            attack,
            "",
            exact=frames_exact > 4,
            bit_accuracy=accuracy,
            bits_source=rw.BITS_PEER,
            frames_used=8,
            frames_exact=frames_exact,
        )

    attacks = [
        ours(bbb, "none", "the marked file", True, 40.0),
        ours(bbb, "h264-crf30", "x264 CRF 30", True, 20.0),
        ours(bbb, "scale-1280x720", "x264 CRF 18, scale to 1280x720", True, 15.0),
        ours(pan, "none", "the marked file", True, 38.0),
        ours(pan, "h264-crf30", "x264 CRF 30", True, 18.0),
        ours(pan, "scale-1280x720", "x264 CRF 18, scale to 1280x720 (= source)", False, 3.5),
        dwt("none", 1.0, 8),
        dwt("h264-crf30", 0.838, 0),
        dwt("scale-1280x720", 0.543, 0),
    ]
    F = cv.FalseAlarmRecord
    false_alarms = [
        F(bbb, False, cv.KEY, False, 3.1, 0.2),
        F(pan, False, "random-1", False, 4.25, 0.05),
        F(bbb, True, cv.WRONG_KEY, False, 2.0, 0.5),
    ]
    T = cv.TimingRecord
    plain = (8.0, 8.2, 8.1)
    timings = [
        T("plain transcode (decode, re-encode; sound copied)", 6.0, plain, (15.0, 15.4, 15.2)),
        T("mark: embed_video_file, copy_audio=True", 6.0, (9.0, 9.3, 9.2), (17.0,) * 3, plain),
        T("mark: embed_video_file (default)", 6.0, (9.6, 9.4, 9.5), (18.0,) * 3, plain),
        T("decode only (frames(), nothing else)", 6.0, (0.6,) * 3, (1.0,) * 3),
        T("VideoDetector, every frame", 6.0, (1.5, 1.5, 2.0), (1.5,) * 3),
        T("detect_video_file(audio=False) on the unmarked clip", 6.0, (2.5, 2.4, 2.6), (2.5,) * 3),
    ]
    return cv.VideoResults(
        MACHINE, quality, attacks, false_alarms, timings, {"Time for the robustness part": "123 s"}
    )


def test_video_results(tmp_path: Path) -> None:
    written = cv.write_video_results(
        _video_results(), tmp_path, "`detect_video_file(path, key=...)`", {"Clip": "bbb, 6 s"}
    )
    assert [p.name for p in written] == [
        "video-robustness.md",
        "video-robustness.png",
        "video-speed.md",
        "video-speed.png",
    ]

    robustness = _lines(tmp_path / "video-robustness.md")
    for line in (
        "- Machine: `Test-OS-1.0`, Python 3.11.7, `os.cpu_count()` = 2, numba threads = 2",
        "- Detection (ours): `detect_video_file(path, key=...)`.",
        "| bbb 1080p30 | ours | 180 (6.0 s) | 42.58 / 42.60 | - (luma only) "
        "| 0.088 / 0.172 / 0.430 (Y) | 0.167 | 0.060 / 0.388 | 10.2 |",
        "| bbb 1080p30 | dwtDctSvd | 90 (3.0 s) | 56.65 / 56.75 | 41.06 / 41.18 "
        "| 0.610 / 0.848 / 0.861 (U) | 1.133 | - | 54.4 |",
        # Below the 42 dB: flagged.
        "| pan 720p25 | ours | 150 (6.0 s) | 41.90 **< 42** / 42.30 | - (luma only) "
        "| 0.119 / 0.164 / 0.168 (Y) | 0.225 | 0.055 / 0.102 | 10.2 |",
        "| attack | bbb 1080p30 | pan 720p25 | ours, all clips | dwtDctSvd on bbb 1080p30 |",
        "| none | yes | yes | 2/2 | 100.0 %, 8/8 frames, vote yes |",
        "| h264-crf30 | yes | yes | 2/2 | 83.8 %, 0/8 frames, vote no |",
        "| scale-1280x720 | yes | **no** | 1/2 | 54.3 %, 0/8 frames, vote no |",
        # "all attacks" leaves out "none".
        "| **all attacks** | 2/2 | 1/2 | 3/4 | |",
        "| scale-1280x720 | 15.0 ✓, 100 %, 90 fr, 4+1.3 s | 3.5, 81 %, 90 fr, 4+1.3 s |",
        "| 2 unmarked clips x 5 keys (the bench key and random ones), every frame | 0 of 2 "
        "| 4.25 (pan 720p25) | 0.05 |",
        "| 1 marked clips, wrong key | 0 of 1 | 2.00 (bbb 1080p30) | 0.5 |",
        "- Time for the robustness part: 123 s",
    ):
        assert line in robustness, line
    text = "\n".join(robustness)
    assert "Wrong payloads reported as detected: 0." in text
    assert (
        "- On pan 720p25 (and the other 720p25 clips): `scale-1280x720`: x264 CRF 18, scale "
        "to 1280x720 (= source)." in text
    )
    assert "the reported payload (5 cells)" in text
    assert "best decode attempt (1 cells)" in text
    assert "It runs on the first 3 s of bbb 1080p30 only" in text

    speed = _lines(tmp_path / "video-speed.md")
    for line in (
        "- Clip: bbb, 6 s",
        "Rounds interleaved (3 of each, order rotated every round); Numba kernels loaded "
        "before timing.",
        "| plain transcode (decode, re-encode; sound copied) | 8.10 | 8.00 | 15.20 | 0.74 "
        "| - | - |  |",
        # Paired: median of 9.0/8.0, 9.3/8.2, 9.2/8.1; medians: 9.2/8.1.
        "| mark: embed_video_file, copy_audio=True | 9.20 | 9.00 | 17.00 | 0.65 | 1.134 "
        "| 1.136 | <= 1.25 |",
        "| mark: embed_video_file (default) | 9.50 | 9.40 | 18.00 | 0.63 | 1.173 | 1.173 "
        "| <= 1.25 |",
        "| decode only (frames(), nothing else) | 0.60 | 0.60 | 1.00 | 10.0 |  |",
        "| VideoDetector, every frame | 1.50 | 1.50 | 1.50 | 4.0 | >= 3x |",
        "| detect_video_file(audio=False) on the unmarked clip | 2.50 | 2.40 | 2.50 | 2.4 "
        "| >= 3x |",
    ):
        assert line in speed, line

    chart = _png(tmp_path / "video-robustness.png")
    assert _pixels(chart, C0) > 500  # ours on the first clip
    assert _pixels(chart, (0, 0, 0)) > 500  # the peer's bars are black
    chart = _png(tmp_path / "video-speed.png")
    assert _pixels(chart, C0) > 500  # marking and detection bars
    assert _pixels(chart, C7) > 500  # the plain transcode and decoding alone, for reference
    red, green, blue = (chart[..., k].astype(int) for k in range(3))
    # The targets: embed <= 1.25x a plain transcode (C3, red), detect >= 3x real time (C2, green).
    assert np.sum((red > 150) & (green < 110) & (blue < 110)) > 50
    assert np.sum((green > 120) & (red < 110) & (blue < 110)) > 50


def test_video_speed_chart_is_written_without_robustness(tmp_path: Path) -> None:
    """``compare_video.py --skip-robustness`` rewrites the speed files only."""
    results = _video_results()
    results.quality, results.attacks, results.false_alarms = [], [], []
    written = cv.write_video_results(results, tmp_path, "", {})
    assert [p.name for p in written] == ["video-speed.md", "video-speed.png"]
    _png(tmp_path / "video-speed.png")


def test_every_bench_script_describes_this_machine() -> None:
    """Each script's machine facts (versions, notes) come through one helper; they run only in
    real benchmarks, so call each here once to keep them from rotting."""
    import importlib

    import numpy as np

    for name in ("compare_audio", "compare_video", "large_video", "batch_throughput"):
        machine = importlib.import_module(name)
        describe = getattr(machine, "machine_record", None) or machine._machine
        facts = describe()
        assert facts.cpu_count >= 1, name
        assert facts.versions["numpy"] == np.__version__, name
        assert facts.date.endswith("UTC"), name
        assert any("Code:" in note for note in facts.notes), name
    image_facts = importlib.import_module("compare_image").machine_record({})
    assert image_facts.versions["numpy"] == np.__version__


# --- the shared harness -------------------------------------------------------------------------

#: Bench modules that are libraries of the others rather than scripts: they need no path set-up.
BENCH_LIBRARIES = {"harness.py", "results_writer.py", "peers.py"}


def test_only_the_harness_sets_up_paths_and_every_script_uses_it() -> None:
    """The path set-up, timing loops, machine description and phase runner are written once, in
    ``bench/harness.py``; a script that copies them again (or skips the harness) fails here."""
    copies = ("sys.path", "def _timed", "def core_revision", "def measured", "def _warm_up")
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name == "harness.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not [copy for copy in copies if copy in text], path.name
        if path.name not in BENCH_LIBRARIES and not path.name.startswith("bench_"):
            assert "import harness" in text or "from harness import" in text, path.name


def test_paired_rounds_rotate_the_order_and_time_every_case_each_round() -> None:
    import harness

    order: list[str] = []
    cases = {name: (lambda name=name: order.append(name)) for name in "abc"}
    rounds = harness.paired_rounds(cases, 3, report=False)
    assert "".join(order) == "abcbcacab"
    assert list(rounds) == ["a", "b", "c"]
    assert all(len(t.wall) == len(t.cpu) == 3 for t in rounds.values())
    assert all(w >= 0 for t in rounds.values() for w in t.wall_ms)


def test_timed_runs_time_the_repeats_after_one_untimed_call() -> None:
    import harness

    calls: list[int] = []
    timings = harness.timed_runs(lambda: calls.append(1), 4)
    assert len(calls) == 5
    assert len(timings.wall) == len(timings.cpu) == 4
    assert timings.wall_ms == tuple(1000 * s for s in timings.wall)


def test_a_phase_records_its_time_and_peak_memory() -> None:
    import harness

    runner = harness.PhaseRunner(realtime_digits=1)
    size = 64 * 2**20

    def allocate() -> int:
        # Fresh anonymous pages, each written: np.ones may reuse memory the worker's earlier
        # tests freed but the allocator kept resident, and then the resident set never grows.
        with mmap.mmap(-1, size) as pages:
            view = np.frombuffer(pages, np.uint8)
            view[:] = 1
            total = int(view.sum())
            del view
        return total

    value = runner.run("allocate", 10.0, allocate)
    assert value == size
    [phase] = runner.phases
    assert phase.name == "allocate"
    assert phase.wall > 0
    assert phase.realtime == pytest.approx(10.0 / phase.wall)
    assert phase.peak_mib - phase.rss_before_mib >= 48  # the 64 MiB array was counted


def test_the_work_directory_is_removed_kept_or_refused_for_space(tmp_path: Path) -> None:
    import harness

    with harness.work_directory("w-", tmp_path) as workdir:
        assert workdir is not None
        assert workdir.parent == tmp_path
        (workdir / "file").write_bytes(b"x")
    assert not workdir.exists()
    with harness.work_directory("k-", tmp_path, keep=True) as kept:
        assert kept is not None
    assert kept.is_dir()
    with harness.work_directory("n-", tmp_path, needed=1e18, hint="--smaller") as refused:
        assert refused is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]


def test_the_shared_options_and_report_writing(tmp_path: Path) -> None:
    import harness

    parser = harness.arguments("Title line.\n\nMore.", outdir=True, repeats=3, no_write="x.md")
    args = parser.parse_args([])
    assert parser.description == "Title line."
    assert (args.outdir, args.repeats, args.no_write) == (harness.RESULTS, 3, False)
    assert not hasattr(args, "tmpdir")
    args = harness.arguments(None, tmpdir=True, output="y.md").parse_args(["--tmpdir", "t"])
    assert (args.tmpdir, args.output) == (Path("t"), harness.RESULTS / "y.md")
    written = harness.write_report("# title\n", tmp_path / "deeper" / "r.md")
    assert written.read_text(encoding="utf-8") == "# title\n"


def test_the_batch_bench_accepts_what_verify_says_of_a_good_unsigned_mark() -> None:
    """Without a trusted signer, verify calls a label that names the watermark's payload
    "consistent" ("agree" needs a signed manifest): that is a well-marked file, not a problem.
    Another payload anywhere, a missing watermark or producer is one."""
    import batch_throughput as bt

    payload = "00112233445566ff"
    good = {
        "input": "/out/a.jpg",
        "ai_marked": True,
        "watermark": {"detected": True, "payload": payload},
        "aigc": {"ContentProducer": bt.PRODUCER},
    }
    for agreement in ("consistent", "agree", None):
        assert bt.verify_problems(good | {"agreement": agreement}, payload) == []
    assert bt.verify_problems(good | {"agreement": "mismatch"}, payload) == [
        "a.jpg: agreement mismatch"
    ]
    assert bt.verify_problems(good, "ffeeddccbbaa9988") == [
        f"a.jpg: watermark {payload} (detected=True), marked with ffeeddccbbaa9988"
    ]
    unlabelled = good | {"ai_marked": False, "verdict": "not marked", "aigc": {}}
    assert bt.verify_problems(unlabelled, payload) == [
        "a.jpg: not AI-marked (not marked)",
        "a.jpg: metadata label producer None",
    ]


def test_cold_start_report_parses_importtime_and_shows_the_overhead() -> None:
    """``cold_start.py`` runs only as a benchmark: its parsing and report are checked here."""
    import cold_start as cs

    rows = [(3, "scipy.linalg", 40.0), (2, "numba.np.arraymath", 45.0), (0, "marking.x", 60.0)]
    chain = "scipy.linalg 40 ms <- numba.np.arraymath <- marking.x"  # importers come after
    assert cs.who_imported(rows, "scipy.linalg") == chain
    assert cs.who_imported(rows, "av") is None
    case = cs.Case("detect 1080p JPEG", "detect", Path("x.jpg"), ["detect", "x.jpg"])
    result = cs.Result(cold=[1.0, 0.9, 1.2], warm=[0.1], cold_cpu=[1.1], warm_cpu=[0.2])
    result.phases = {"import numba": 0.3}
    text = cs.report(
        {(case.name, "after"): result}, {"after": BENCH_DIR}, [case], {"pass": 0.02}, None,
        ("1.00", "2.00"), 3,
    )  # fmt: skip
    assert "| detect 1080p JPEG, after | 1000 | 100 | 900 | 1100 | 200 | 900 | <= 500 |" in text
    assert "- import numba: 300" in text
    assert "audiowmark is not installed" in text
