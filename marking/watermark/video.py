"""Invisible video watermark: the image watermark's tile on every frame's luma, steady in time.

Every frame carries the same tile (the image watermark's key-driven pattern, period a third of
the short side), shaped per frame by that frame's perceptual mask. The tile is made once, from
the first frame (informed embedding: it leans against that frame's own projection onto each
bit), so the pattern does not flicker; only its local strength follows the moving texture.

The detector averages frames and runs the image search (periods for scaling, positions for
cropping) on the average: the mark adds up across frames
while moving content and codec noise do not, so heavy compression that defeats one frame does
not defeat a few seconds of them. Because the pattern does not depend on time, dropped frames,
frame-rate changes and trims do not desynchronise anything. When the average synchronises but
does not decode (a codec that kept the mark in a few frames only), :class:`VideoRefiner` reads
the frames again, each weighted by how much of the mark it holds.

Frames come in as luma planes (:meth:`VideoMarker.mark_plane`, in place, for decoded Y planes of
any bit depth) or as pictures (:meth:`VideoMarker.mark`: arrays or PIL images, luma only).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from marking.errors import InputTooSmallError, UnsupportedInputError
from marking.kernels.luma import luma
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import FALSE_ALARM_LIMIT, MIN_DETECT_SIDE, MIN_SIDE
from marking.scheme.payload import CHECK_BITS, parse_payload, random_payload
from marking.scheme.results import ImageDetection, VideoDetection
from marking.scheme.tile_pattern import (
    TILE,
    carrier_layout,
    decode_tile,
    reference_strength,
    whitened_coefficients,
)
from marking.watermark.image_detect import (
    DECODE_ATTEMPTS,
    SEARCHES,
    aligned_fold,
    detect_working_plane,
    working_plane,
)
from marking.watermark.image_embed import add_tile, add_tile_in_place, informed_tile
from marking.watermark.pixels import as_pixels

#: The tile period as a share of the frame's short side. Pictures use a quarter; video uses a
#: third: lower spatial frequencies survive video codecs and downscaling better (measured on a
#: 1080p clip scaled to 720p, darkened 20 % and encoded at CRF 30: a quarter fails, a third
#: decodes), and a 71 % centre crop still leaves the period inside the detector's range.
PERIOD_FRACTION = 1 / 3


def video_period(height: int, width: int) -> int:
    """Tile period in pixels for frames of this size (at least the tile's own size)."""
    return max(TILE, round(min(height, width) * PERIOD_FRACTION))


def _plane_in_8bit(plane: np.ndarray, max_value: int) -> tuple[np.ndarray, float]:
    """A Y plane as float32 in 8-bit units, and the factor that got it there."""
    if plane.ndim != 2:
        raise UnsupportedInputError(f"a luma plane is 2-D, got shape {plane.shape}")
    if plane.dtype not in (np.uint8, np.uint16):
        raise UnsupportedInputError(f"a luma plane is uint8 or uint16, got {plane.dtype}")
    to_8bit = 255.0 / max_value
    return plane.astype(np.float32) * np.float32(to_8bit), to_8bit


class VideoMarker:
    """Marks frames of one video: frames in, frames out, the same tile on every one.

    ``strength`` scales the amplitude as for pictures (1.0: about 42.6 dB luma PSNR per frame).
    The tile is derived from the first frame marked; all frames must have its size.
    """

    def __init__(
        self,
        *,
        payload: bytes | str | int | None = None,
        key: Key | str | bytes | None = None,
        strength: float = 1.0,
    ) -> None:
        if not (isinstance(strength, (int, float, np.floating)) and 0 < strength <= 4):
            raise ValueError(f"strength must be in (0, 4], got {strength!r}")
        self.key = as_key(key)
        self.payload = random_payload() if payload is None else parse_payload(payload)
        self.strength = float(strength)
        self._tile: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None
        self.frames = 0

    def _tile_for(self, plane8: np.ndarray) -> np.ndarray:
        if self._tile is None:
            height, width = plane8.shape
            if min(height, width) < MIN_SIDE:
                raise InputTooSmallError(
                    f"frames are {width}x{height}; the watermark needs at least {MIN_SIDE} px "
                    "on each side"
                )
            self._shape = plane8.shape
            period = video_period(height, width)
            self._tile = informed_tile(self.key, self.payload, plane8, period)
        elif plane8.shape != self._shape:
            raise UnsupportedInputError(
                f"frame size changed from {self._shape[1]}x{self._shape[0]} to "
                f"{plane8.shape[1]}x{plane8.shape[0]}"
            )
        return self._tile

    def mark_plane(self, plane: np.ndarray, *, max_value: int = 255) -> float:
        """Mark a decoded luma (Y) plane in place: uint8, or uint16 holding ``max_value``.

        Returns the sum of the squared changes (in the plane's units), for its PSNR.
        """
        if self._tile is None or plane.shape != self._shape:
            # The first frame makes the tile; a later one of another size is refused.
            tile = self._tile_for(_plane_in_8bit(plane, max_value)[0])
        elif plane.dtype not in (np.uint8, np.uint16):
            raise UnsupportedInputError(f"a luma plane is uint8 or uint16, got {plane.dtype}")
        else:
            tile = self._tile
        to_8bit = 255.0 / max_value
        squared = add_tile_in_place(plane, tile, self.strength / to_8bit, to_8bit, max_value)
        self.frames += 1
        return squared

    def mark(self, frame: Any) -> Any:
        """A marked copy of one frame given as a picture (array or PIL image): luma only."""
        pixels = as_pixels(frame)
        plane8 = luma(pixels.array, pixels.to_8bit)
        tile = self._tile_for(plane8)
        scale = self.strength / pixels.to_8bit
        marked = add_tile(pixels.array, plane8, tile, scale, pixels.value_max, pixels.round_values)
        self.frames += 1
        return pixels.rebuild(marked)


class VideoDetector:
    """Averages frames, then searches the average once.

    Frames are summed at full size (resizing is linear, so resizing the average once gives
    the same working plane as averaging resized frames, at a fraction of the cost).
    """

    def __init__(self, *, key: Key | str | bytes | None = None) -> None:
        self.key = as_key(key)
        self._sum: np.ndarray | None = None
        self._scale = 1.0  # 8-bit units per sample value
        self.frames = 0

    def push_plane(self, plane: np.ndarray, *, max_value: int = 255) -> None:
        """Add a decoded luma (Y) plane (uint8, or uint16 holding ``max_value``)."""
        if plane.ndim != 2 or plane.dtype not in (np.uint8, np.uint16):
            raise UnsupportedInputError(
                f"a luma plane is a 2-D uint8 or uint16 array, got {plane.dtype} {plane.shape}"
            )
        self._add(plane, 255.0 / max_value)

    def push(self, frame: Any) -> None:
        """Add a frame given as a picture (array or PIL image)."""
        pixels = as_pixels(frame)
        self._add(luma(pixels.array, pixels.to_8bit), 1.0)

    def _add(self, plane: np.ndarray, scale: float) -> None:
        if min(plane.shape) < MIN_DETECT_SIDE:
            raise InputTooSmallError(
                f"frames are {plane.shape[1]}x{plane.shape[0]}; detection needs at least "
                f"{MIN_DETECT_SIDE} px a side"
            )
        if self._sum is None:
            self._sum = np.zeros(plane.shape, dtype=np.float64)
            self._scale = scale
        elif plane.shape != self._sum.shape or scale != self._scale:
            raise UnsupportedInputError("frame size or bit depth changed within the video")
        self._sum += plane
        self.frames += 1

    def result(self, key: Key | str | bytes | None = None) -> VideoDetection:
        """Search the average of the frames pushed so far, with ``key`` if given (the
        average needs no key: one detector serves several keys), else the detector's."""
        if self._sum is None:
            raise UnsupportedInputError("no frames to look at")
        the_key = self.key if key is None else as_key(key)
        average = (self._sum * (self._scale / self.frames)).astype(np.float32)
        work, factor = working_plane(average)
        found: ImageDetection = detect_working_plane(
            work, factor, the_key, period_fraction=PERIOD_FRACTION
        )
        return VideoDetection(
            found.detected,
            found.payload,
            found.false_alarm,
            found.score,
            self.frames,
            dict(found.transform),
        )


#: A second look (:class:`VideoRefiner`) is worth decoding the frames again only when the
#: average's sync is at most this likely to be chance: the payload then failed for lack of
#: signal, not for lack of a mark. Unmarked video stays far above it (its noise peaks, z 4.5
#: to 5.5, give about 1), so it costs them nothing.
REFINE_GATE = 1e-3
#: Decode attempts a refined detection accounts for: the search's, and its own.
REFINED_ATTEMPTS = SEARCHES * DECODE_ATTEMPTS + 1


class VideoRefiner:
    """A second look at the frames of a video whose average synchronised but did not decode.

    Heavy compression keeps the mark in a few frames and wipes most of it from the others (at
    H.264 CRF 40 on a pan, the intra-coded first frame alone decodes; the predicted frames
    keep a tenth of its signal each), so the plain average is diluted by frames that carry
    little of it while their picture noise does not average out. Knowing the tile's geometry
    from the first look, each frame is folded onto one aligned tile and weighted by the square
    of its reference correlation (payload-independent, so the weights favour no payload); the
    weighted tile is decoded once more. The false-alarm figure counts that attempt too.

    Make one with :meth:`after`; push the same frames again (:meth:`push_plane` or
    :meth:`push`), then call :meth:`result`.
    """

    def __init__(self, found: VideoDetection, key: Key | str | bytes | None = None) -> None:
        self.key = as_key(key)
        self.found = found
        self._layout = carrier_layout(self.key)
        self._transform = dict(found.transform)
        self._sum = np.zeros((TILE, TILE), np.float64)
        self._weights = 0.0
        self._shape: tuple[int, ...] | None = None
        self.frames = 0

    @classmethod
    def after(
        cls, found: VideoDetection, key: Key | str | bytes | None = None
    ) -> VideoRefiner | None:
        """A refiner for a first look's result, or None when a second look cannot help (the
        mark was found, or the sync is too likely to be chance: see :data:`REFINE_GATE`) or
        does not apply (a tile found turned or mirrored: the second look folds upright)."""
        if found.detected or not found.transform or found.false_alarm > REFINE_GATE:
            return None
        if "rotation_degrees" in found.transform:
            return None
        return cls(found, key)

    def push_plane(self, plane: np.ndarray, *, max_value: int = 255) -> None:
        """Add a decoded luma (Y) plane (uint8, or uint16 holding ``max_value``)."""
        plane8, _ = _plane_in_8bit(plane, max_value)
        self._add(plane8)

    def push(self, frame: Any) -> None:
        """Add a frame given as a picture (array or PIL image)."""
        pixels = as_pixels(frame)
        self._add(luma(pixels.array, pixels.to_8bit))

    def _add(self, plane8: np.ndarray) -> None:
        if self._shape is None:
            self._shape = plane8.shape
        elif plane8.shape != self._shape:
            raise UnsupportedInputError("frame size changed within the video")
        tile = aligned_fold(plane8, self._transform)
        weight = max(reference_strength(self._layout, whitened_coefficients(tile)), 0.0) ** 2
        self._sum += weight * tile
        self._weights += weight
        self.frames += 1

    def result(self) -> VideoDetection:
        """The first look's result, or a detection when the weighted tile decodes."""
        if self.frames == 0:
            raise UnsupportedInputError("no frames to look at")
        if self._weights == 0.0:  # no frame holds any of the reference
            return replace(self.found, frames=self.frames)
        decoded = decode_tile(self._layout, self._sum)
        if decoded.payload is None:
            return replace(self.found, frames=self.frames)
        # The first look's false alarm is the sync's (nothing decoded): one more attempt.
        false_alarm = self.found.false_alarm * REFINED_ATTEMPTS * 2.0**-CHECK_BITS
        if false_alarm > FALSE_ALARM_LIMIT:
            return replace(self.found, frames=self.frames)
        return replace(
            self.found,
            detected=True,
            payload=decoded.payload.hex(),
            false_alarm=false_alarm,
            frames=self.frames,
        )


def mark_frames(frames: Any, **options: Any) -> Any:
    """Mark an iterable of pictures with one :class:`VideoMarker` (a generator)."""
    marker = VideoMarker(**options)
    for frame in frames:
        yield marker.mark(frame)
