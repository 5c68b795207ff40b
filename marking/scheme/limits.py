"""The limits every kind of media shares, each written once: how strong a mark may be, how
unlikely a false alarm must be before a detection is reported, and how small a picture may be.
"""

from __future__ import annotations

import math

from marking.errors import UsageError

#: Largest ``strength`` accepted, for pictures, sound and video alike (1.0 is the default).
MAX_STRENGTH = 4.0
#: A detection is reported when its false-alarm probability is at most this.
FALSE_ALARM_LIMIT = 1e-6
#: Pictures (and video frames) smaller than this on their short side are refused for
#: embedding: fewer than two tile periods fit, and nothing survives a resize.
MIN_SIDE = 256
#: The detector still looks at pictures down to this size (a 256 px picture halved).
MIN_DETECT_SIDE = 96


def check_strength(strength: object) -> float:
    """``strength`` as a float, or a :class:`UsageError` naming the accepted range."""
    try:
        value = float(strength)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"strength must be a number, got {strength!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_STRENGTH):
        raise UsageError(f"strength must be > 0 and <= {MAX_STRENGTH:g}, got {strength}")
    return value
