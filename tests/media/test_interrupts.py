"""SIGINT and SIGTERM to a single-file command, whenever they land: exit 130 or 143, nothing
on stderr (no traceback, no "unexpected ..." line), no output published, no temporary file.

The signals are sent at moments found by watching the command, not after fixed sleeps (the
suite must pass on a busy machine): once its handlers are installed (it is still importing
NumPy, Numba and the codecs, or loading its cached kernels), once its hidden temporary file
appears (it is decoding, marking and encoding, in native code that calls back into Python),
and for a picture, whose temporary appears only as it is encoded, halfway between the two as
an undisturbed run of the same command in this session measured it. Batches are covered in
test_batch_cli.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.video_clips import clip_path

#: Generous: a loaded 2-core machine starts a command (NumPy, Numba) in well under this.
PATIENCE = 300.0
_SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A picture, a FLAC recording and a video, each a few seconds of work to mark."""
    folder = tmp_path_factory.mktemp("interrupt-media")
    picture = folder / "picture.png"
    make_natural_image("RGB", (1024, 1024), 5).save(picture)
    recording = folder / "recording.flac"
    sf.write(recording, clip("noise", 90.0, 16000), 16000)
    video = clip_path("bbb", width=320, height=256, fps=10, seconds=6.0, preset="ultrafast")
    return {"picture": picture, "recording": recording, "video": video}


def _handlers_installed(pid: int) -> bool:
    """Whether process ``pid`` catches SIGTERM (the command has installed its handlers)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & _SIGTERM_BIT)


def _hidden(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def _wait_for(process: subprocess.Popen, ready: Callable[[], bool]) -> bool:
    """Wait until ``ready()``; False if the process ended first."""
    deadline = time.monotonic() + PATIENCE
    while not ready():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the command showed no progress"
        time.sleep(0.002)
    return True


def _embed(source: Path, target: Path) -> subprocess.Popen:
    """Start ``embed SOURCE -o TARGET``, its stderr to ``stderr.txt`` beside ``target``."""
    with (target.parent / "stderr.txt").open("w") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "marking", "embed", str(source), "-o", str(target)],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def undisturbed(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Seconds from the handlers being installed to the temporary file appearing, measured
    on an undisturbed run of each command in this session (the picture's only)."""
    folder = tmp_path_factory.mktemp("undisturbed")
    output = folder / "out.png"
    process = _embed(media["picture"], output)
    try:
        assert _wait_for(process, lambda: _handlers_installed(process.pid))
        started = time.monotonic()
        # The temporary lives a few milliseconds (the picture is encoded before it is
        # written), so a poll may miss it: its finished output marks the same moment.
        _wait_for(process, lambda: bool(_hidden(folder)) or output.exists())
        seconds = time.monotonic() - started
        assert process.wait(timeout=PATIENCE) == 0, (folder / "stderr.txt").read_text()
        assert output.exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return {"picture": seconds}


#: Where the signal lands: each kind of media at each moment (see the module), the moments
#: in native encoders' callbacks three times over (where interrupts used to be lost).
MOMENTS = [
    ("picture", "starting"),
    ("picture", "halfway"),
    *[(kind, "starting") for kind in ("recording", "video")],
    *[(kind, "writing") for kind in ("recording", "video") for _ in range(3)],
]


@pytest.mark.parametrize(
    ("kind", "moment"), MOMENTS, ids=[f"{kind}-{moment}" for kind, moment in MOMENTS]
)
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_interrupted_embed_exits_cleanly(
    media: dict[str, Path],
    undisturbed: dict[str, float],
    tmp_path: Path,
    kind: str,
    moment: str,
    sent: signal.Signals,
) -> None:
    source = media[kind]
    target = tmp_path / f"marked{source.suffix}"
    process = _embed(source, target)
    try:
        reached = _wait_for(process, lambda: _handlers_installed(process.pid))
        if moment == "halfway":
            started = time.monotonic()
            halfway = undisturbed[kind] / 2
            reached = reached and _wait_for(
                process, lambda: time.monotonic() - started >= halfway or bool(_hidden(tmp_path))
            )
        elif moment == "writing":
            reached = reached and _wait_for(
                process, lambda: any(name.endswith(".part") for name in _hidden(tmp_path))
            )
        assert reached, f"the command ended before the signal: {process.returncode}"
        process.send_signal(sent)  # a shell's Ctrl-C goes to the group: the same process here
        code = process.wait(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 128 + sent, stderr
    assert stderr == ""
    assert not target.exists()
    assert _hidden(tmp_path) == []
