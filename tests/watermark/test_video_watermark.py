"""The video watermark's frame API: marking planes and pictures, and detecting from averages.

Frames here are synthetic but photo-like (a sample photo panned across a 640x360 window), so
the tests are fast; tests/watermark/test_video_robustness.py covers encoded clips and attacks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from marking.errors import InputTooSmallError, UnsupportedInputError
from marking.scheme.payload import CHECK_BITS
from marking.scheme.results import VideoDetection
from marking.watermark.video import (
    REFINED_ATTEMPTS,
    VideoDetector,
    VideoMarker,
    VideoRefiner,
    mark_frames,
)
from tests.support.attacks import flip, rotate, stretch

KEY = "video-watermark-test-key"
PAYLOAD = "0123456789abcdef"
WIDTH, HEIGHT = 640, 360


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    with Image.open("samples/photo-dandelions.jpg") as image:
        return np.asarray(image.convert("RGB").resize((960, 540)))


def _pan(photo: np.ndarray, count: int, step: int = 3) -> list[np.ndarray]:
    """RGB frames: a window moving slowly across the photo (real texture, real motion)."""
    return [
        np.ascontiguousarray(photo[i : i + HEIGHT, 2 * i * step : 2 * i * step + WIDTH])
        for i in range(count)
    ]


def _luma(rgb: np.ndarray) -> np.ndarray:
    weights = np.array([0.2126, 0.7152, 0.0722], np.float32)
    return np.clip(np.round(rgb.astype(np.float32) @ weights), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def test_planes_are_marked_in_place_above_42_db(photo: np.ndarray) -> None:
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    for frame in _pan(photo, 5):
        plane = _luma(frame)
        original = plane.copy()
        marker.mark_plane(plane)
        assert plane.dtype == np.uint8
        assert not np.array_equal(plane, original)
        assert _psnr(plane, original, 255) >= 42.0
    assert marker.frames == 5


def test_ten_bit_planes_keep_their_range(photo: np.ndarray) -> None:
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    plane = (_luma(_pan(photo, 1)[0]).astype(np.uint16) * 4).clip(64, 940).astype(np.uint16)
    original = plane.copy()
    marker.mark_plane(plane, max_value=1023)
    assert plane.dtype == np.uint16
    assert plane.max() <= 1023
    assert _psnr(plane, original, 1023) >= 42.0
    # The same relative change as at 8 bits: about 1.9 8-bit units RMS, times 4.
    rms = float(np.sqrt(np.mean((plane.astype(np.float64) - original) ** 2)))
    assert 4 * 1.0 < rms < 4 * 3.0


def test_the_pattern_is_steady_over_frames(photo: np.ndarray) -> None:
    """On a still shot every frame gets exactly the same change: no flicker."""
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    still = _luma(_pan(photo, 1)[0])
    changes = []
    for _ in range(4):
        plane = still.copy()
        marker.mark_plane(plane)
        changes.append(plane.astype(np.int16) - still)
    for change in changes[1:]:
        assert np.array_equal(change, changes[0])


def test_pictures_change_luma_only(photo: np.ndarray) -> None:
    frames = _pan(photo, 3)
    marked = list(mark_frames(frames, payload=PAYLOAD, key=KEY))
    for before, after in zip(frames, marked, strict=True):
        assert after.shape == before.shape
        assert after.dtype == before.dtype
        delta = after.astype(np.int16) - before
        # R, G and B move together (up to rounding each, and clipping at 0 and 255).
        inside = (before > 30).all(axis=2) & (before < 225).all(axis=2)
        assert np.abs(delta[..., 0] - delta[..., 1])[inside].max() <= 1
        assert np.abs(delta[..., 1] - delta[..., 2])[inside].max() <= 1
        assert np.abs(delta).max() > 2


def test_detection_over_frames_finds_the_payload(photo: np.ndarray) -> None:
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    detector = VideoDetector(key=KEY)
    for frame in _pan(photo, 12):
        plane = _luma(frame)
        marker.mark_plane(plane)
        detector.push_plane(plane)
    found = detector.result()
    assert found.detected
    assert found.payload == PAYLOAD
    assert found.frames == 12
    assert found.false_alarm <= 1e-6
    assert found.to_dict()["frames_used"] == 12


def test_pictures_and_planes_are_detected_alike(photo: np.ndarray) -> None:
    marked = list(mark_frames(_pan(photo, 6), payload=PAYLOAD, key=KEY))
    detector = VideoDetector(key=KEY)
    for frame in marked:
        detector.push(frame)
    assert detector.result().payload == PAYLOAD


def test_averaging_beats_one_weak_frame(photo: np.ndarray) -> None:
    """At a fifth of the strength one frame is not enough; twenty of them are."""
    marker = VideoMarker(payload=PAYLOAD, key=KEY, strength=0.2)
    planes = []
    for frame in _pan(photo, 20, step=4):
        plane = _luma(frame)
        marker.mark_plane(plane)
        noisy = plane + np.random.default_rng(len(planes)).normal(0, 2, plane.shape)
        planes.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    single = VideoDetector(key=KEY)
    single.push_plane(planes[0])
    many = VideoDetector(key=KEY)
    for plane in planes:
        many.push_plane(plane)
    assert not single.result().detected
    assert many.result().payload == PAYLOAD
    assert many.result().score > single.result().score


def _diluted(photo: np.ndarray, count: int, noise: float) -> list[np.ndarray]:
    """Frames of a pan in which only the first keeps the mark, each with some noise: as heavy
    compression leaves a pan (the intra-coded frame keeps the mark, the predicted ones lose
    it), so the plain average dilutes the one frame that holds it."""
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    planes = []
    for index, frame in enumerate(_pan(photo, count)):
        plane = _luma(frame)
        if index == 0:
            marker.mark_plane(plane)
        noisy = plane + np.random.default_rng(index).normal(0, noise, plane.shape)
        planes.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    return planes


@pytest.mark.parametrize(("count", "noise"), [(20, 2.0), (20, 3.0), (30, 2.0)])
def test_a_second_look_weighs_the_frames_that_keep_the_mark(
    photo: np.ndarray, count: int, noise: float
) -> None:
    planes = _diluted(photo, count, noise)
    detector = VideoDetector(key=KEY)
    for plane in planes:
        detector.push_plane(plane)
    first = detector.result()
    assert not first.detected  # synchronised, but the average does not decode
    refiner = VideoRefiner.after(first, KEY)
    assert refiner is not None
    for plane in planes:
        refiner.push_plane(plane)
    found = refiner.result()
    assert found.detected
    assert found.payload == PAYLOAD
    assert found.frames == count
    assert found.score == first.score
    assert found.transform == first.transform
    # One decode attempt more than the search made, each passing the check by 2**-24.
    assert found.false_alarm == pytest.approx(
        first.false_alarm * REFINED_ATTEMPTS * 2.0**-CHECK_BITS
    )
    assert found.false_alarm <= 1e-6


def test_no_second_look_after_a_detection_or_without_a_sync(photo: np.ndarray) -> None:
    planes = [_luma(frame) for frame in _pan(photo, 8)]
    unmarked = VideoDetector(key=KEY)
    for plane in planes:
        unmarked.push_plane(plane)
    assert VideoRefiner.after(unmarked.result(), KEY) is None  # chance sync: not worth it
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    marked = VideoDetector(key=KEY)
    for plane in planes:
        marker.mark_plane(plane)
        marked.push_plane(plane)
    assert VideoRefiner.after(marked.result(), KEY) is None  # found already


@pytest.mark.parametrize(
    "pose",
    ["mirrored", "turned-4", "width-0.85"],
)
def test_frames_found_mirrored_turned_or_stretched(photo: np.ndarray, pose: str) -> None:
    """Video frames go through the picture search, lattice search included: a re-upload
    mirrored, slightly turned or squeezed to another aspect still gives the payload."""
    change = {
        "mirrored": lambda plane: flip(plane, True),
        "turned-4": lambda plane: rotate(plane, 4),
        "width-0.85": lambda plane: stretch(plane, 0.85, 1.0),
    }[pose]
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    detector = VideoDetector(key=KEY)
    for frame in _pan(photo, 6):
        plane = _luma(frame)
        marker.mark_plane(plane)
        detector.push_plane(change(plane))
    found = detector.result()
    assert found.detected
    assert found.payload == PAYLOAD
    assert "rotation_degrees" in found.transform


def test_no_second_look_at_a_turned_tile() -> None:
    """The second look folds upright: a sync found by the lattice search (a turned or mirrored
    tile) is left as it is."""
    transform = {"period_x": 120.0, "period_y": 120.0, "origin_x": 3.0, "origin_y": 4.0}
    upright = VideoDetection(False, None, 1e-5, 6.0, 8, transform)
    assert VideoRefiner.after(upright, KEY) is not None
    turned = VideoDetection(False, None, 1e-5, 6.0, 8, {**transform, "rotation_degrees": 90.0})
    assert VideoRefiner.after(turned, KEY) is None


def test_a_second_look_at_unmarked_frames_claims_nothing(photo: np.ndarray) -> None:
    """Forced past its gate onto unmarked frames, or with the wrong key, it finds nothing."""
    planes = _diluted(photo, 20, 3.0)
    detector = VideoDetector(key=KEY)
    for plane in planes[1:]:
        detector.push_plane(plane)
    for key in (KEY, "another key"):
        refiner = VideoRefiner(detector.result(), key)
        for plane in planes[1:]:
            refiner.push_plane(plane)
        assert not refiner.result().detected
    with pytest.raises(UnsupportedInputError, match="no frames"):
        VideoRefiner(detector.result(), KEY).result()
    flat = VideoRefiner(detector.result(), KEY)
    flat.push_plane(np.full((HEIGHT, WIDTH), 128, np.uint8))  # holds nothing: weight 0
    assert not flat.result().detected
    with pytest.raises(UnsupportedInputError, match="size changed"):
        flat.push_plane(np.full((HEIGHT, WIDTH + 2), 128, np.uint8))


@pytest.mark.parametrize("key", ["another key", KEY + " ", ""])
def test_wrong_key_or_unmarked_is_not_detected(photo: np.ndarray, key: str) -> None:
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    marked, unmarked = VideoDetector(key=key or None), VideoDetector(key=KEY)
    for frame in _pan(photo, 8):
        plane = _luma(frame)
        unmarked.push_plane(plane.copy())
        marker.mark_plane(plane)
        marked.push_plane(plane)
    assert not marked.result().detected
    assert not unmarked.result().detected


def test_frames_too_small_or_changing_size_are_refused(photo: np.ndarray) -> None:
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    with pytest.raises(InputTooSmallError):
        marker.mark_plane(np.zeros((200, 400), np.uint8))
    marker.mark_plane(_luma(_pan(photo, 1)[0]))
    with pytest.raises(UnsupportedInputError, match="size changed"):
        marker.mark_plane(np.zeros((400, 700), np.uint8))
    with pytest.raises(UnsupportedInputError):
        marker.mark_plane(np.zeros((360, 640), np.float32))
    with pytest.raises(UnsupportedInputError, match="no frames"):
        VideoDetector(key=KEY).result()
    with pytest.raises(ValueError, match="strength"):
        VideoMarker(payload=PAYLOAD, strength=0)


def test_a_strided_plane_is_marked_in_place(photo: np.ndarray) -> None:
    """Decoded planes often have padded rows: a view with a row stride above the width."""
    padded = np.zeros((HEIGHT, WIDTH + 64), np.uint8)
    padded[:, :WIDTH] = _luma(_pan(photo, 1)[0])
    view = padded[:, :WIDTH]
    assert not view.flags.c_contiguous
    expected = view.copy()
    VideoMarker(payload=PAYLOAD, key=KEY).mark_plane(expected)
    VideoMarker(payload=PAYLOAD, key=KEY).mark_plane(view)
    assert np.array_equal(view, expected)
    assert np.all(padded[:, WIDTH:] == 0)
