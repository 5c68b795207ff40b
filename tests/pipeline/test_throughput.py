"""``aigc-mark bench``: it runs on the installed toolkit and reports every operation sanely.

Only correctness is checked here (the right rows, finite positive rates, marks found on the
synthetic media); how fast is for the reader of its output, never a pass/fail condition.
"""

from __future__ import annotations

import json
import math

import numpy as np

from marking.pipeline.throughput import (
    AUDIO_RATE,
    KEY,
    PAYLOAD,
    synthetic_picture,
    synthetic_sound,
    table,
)
from marking.watermark.audio import detect_audio, embed_audio
from marking.watermark.image import detect_image, embed_image
from tests.support.commands import run_cli


def test_synthetic_media_carry_the_mark_and_look_natural() -> None:
    picture = synthetic_picture()
    assert picture.shape == (1080, 1920, 3)
    assert picture.dtype == np.uint8
    assert 20 < picture.std() < 90  # texture, not a flat or saturated frame
    assert detect_image(embed_image(picture, key=KEY, payload=PAYLOAD), key=KEY).payload == PAYLOAD
    sound = synthetic_sound()
    assert sound.shape == (30 * AUDIO_RATE, 2)
    assert np.abs(sound).max() < 1
    found = detect_audio(embed_audio(sound, AUDIO_RATE, PAYLOAD, key=KEY), AUDIO_RATE, key=KEY)
    assert found.payload == PAYLOAD


def test_bench_command_reports_every_operation() -> None:
    result = run_cli("bench", "--repeats", "1", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    operations = [(row["media"], row["operation"]) for row in rows]
    assert operations == [
        ("picture 1920x1080", "embed"),
        ("picture 1920x1080", "detect, marked"),
        ("picture 1920x1080", "detect, unmarked"),
        ("sound 44.1 kHz stereo", "embed"),
        ("sound 44.1 kHz stereo", "detect, marked"),
        ("sound 44.1 kHz stereo", "detect, unmarked"),
        ("video frame 1080p", "mark (per frame)"),
        ("video frame 1080p", "detect (per frame)"),
        ("video 1080p30 H.264", "embed (CRF 18 medium)"),
        ("video 1080p30 H.264", "detect"),
    ]
    for row in rows:
        assert math.isfinite(row["rate"]), row
        assert row["rate"] > 0, row
        assert row["median_s"] > 0, row
        assert row["threads"] >= 1, row
        assert row["unit"] in ("MP/s", "frames/s", "x real time"), row


def test_bench_table_lines_up() -> None:
    from marking.pipeline.throughput import Measurement

    text = table(
        [
            Measurement("picture 1920x1080", "embed", 0.0136, 152.5, "MP/s", 2),
            Measurement(
                "sound 44.1 kHz stereo", "detect, unmarked", 0.224, 134.0, "x real time", 2
            ),
        ]
    )
    lines = text.splitlines()
    assert len(lines) == 4
    assert len({len(line.rstrip()) for line in lines}) == 1
    assert "13.6 ms" in lines[2]
    assert "152.5 MP/s" in lines[2]
    assert "134.0 x real time" in lines[3]
