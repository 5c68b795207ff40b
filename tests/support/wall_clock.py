"""Wall-clock bounds that hold on a busy machine.

A test that bounds how long something takes (a bad input must not hang a command, a long
file must stream) compares it with a baseline measured in the same run, on the same
machine under the same load, instead of a fixed number of seconds: on a 2-core machine at
load 5 to 7 everything takes several times as long, and fixed bounds failed there while
nothing was wrong. A bound is ``max(floor, ratio * baseline)``: never tighter than the fixed
bound a quiet machine passes with room to spare (the floor), and growing with the load.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def time_of(action: Callable[[], Any]) -> float:
    """How long ``action()`` takes, in seconds of wall-clock time."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def command_seconds(*args: str | Path) -> float:
    """How long ``python -m marking ARGS`` takes (interpreter, imports, cached kernels and the
    work): the baseline for bounds on other commands run the same way."""
    return time_of(
        lambda: subprocess.run(
            [sys.executable, "-m", "marking", *map(str, args)],
            capture_output=True,
            check=False,
            timeout=3600,  # a guard against a hang only
        )
    )


def bound(baseline: float, ratio: float, floor: float) -> float:
    """``ratio`` times ``baseline`` seconds, and at least ``floor`` seconds."""
    return max(floor, ratio * baseline)
