"""How close two videos' pictures are: luma PSNR, frame by frame.

:class:`LumaPsnr` adds up the PSNR of luma planes (a marked plane against the plane before
marking, say); :func:`video_luma_psnr` decodes two video files side by side (a re-encode
against its source) and feeds it their frames in display order, one pair at a time, so memory
stays constant whatever the length.
"""

from __future__ import annotations

import math

import numpy as np

from marking.media.atomic import StrPath
from marking.media.video_frames import frames


class LumaPsnr:
    """Per-frame luma PSNR of planes against reference planes: the lowest and the mean.

    A frame identical to its reference (infinite PSNR: a flat black frame, say) is left out
    of both, so one still frame does not make the mean infinite.
    """

    def __init__(self) -> None:
        self.lowest = math.inf
        self.total = 0.0
        self.finite = 0

    def add(self, before: np.ndarray, after: np.ndarray, max_value: int) -> None:
        """One frame: ``after`` against ``before`` (same shape), samples up to ``max_value``."""
        difference = np.subtract(after, before, dtype=np.float32).ravel()
        self.add_squared(float(np.dot(difference, difference)), difference.size, max_value)

    def add_squared(self, squared_sum: float, samples: int, max_value: int) -> None:
        """One frame given by the sum of its squared differences over ``samples`` values (as
        the in-place marking kernel returns it: no copy of the plane before marking)."""
        squared = squared_sum / samples
        if squared <= 0:
            return
        psnr = 10 * math.log10(max_value * max_value / squared)
        self.lowest = min(self.lowest, psnr)
        self.total += psnr
        self.finite += 1

    def result(self) -> tuple[float | None, float | None]:
        """(lowest, mean) over the frames that differ; None when none did."""
        if not self.finite:
            return None, None
        return round(self.lowest, 3), round(self.total / self.finite, 3)


def video_luma_psnr(reference: StrPath, other: StrPath) -> float | None:
    """The mean luma PSNR (dB) of ``other``'s frames against ``reference``'s, paired in display
    order (None when every pair is identical).

    Frames beyond the shorter video's end are not compared. A luma plane of another bit depth
    is compared on the reference's scale.
    """
    psnr = LumaPsnr()
    first, second = frames(reference), frames(other)
    try:
        for (planes, info), (other_planes, other_info) in zip(first, second, strict=False):
            luma = other_planes[0]
            if other_info.max_value != info.max_value:
                luma = luma.astype(np.float32) * (info.max_value / other_info.max_value)
            if luma.shape != planes[0].shape:
                break  # a size change mid-stream: nothing comparable follows
            psnr.add(planes[0], luma, info.max_value)
    finally:
        first.close()
        second.close()
    return psnr.result()[1]


__all__ = ["LumaPsnr", "video_luma_psnr"]
