"""The detection server as tests use it: a real ``aigc-mark serve`` process on 127.0.0.1, and
the media uploaded to it (marked and unmarked, of every kind, and a corrupt file)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from tests.support.audio_clips import clip
from tests.support.commands import run_cli
from tests.support.video_clips import make_clip

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PRODUCER = "test-provider"
#: Seconds a server may take to start its workers (a busy 2-core machine, cold caches).
START_TIMEOUT = 180.0


def build_media(directory: Path) -> dict[str, Path]:
    """Small files to upload: ``marked_image``, ``image`` (unmarked), ``marked_audio``,
    ``audio``, ``marked_video``, ``corrupt`` (a JPEG cut short), ``text``."""
    directory.mkdir(parents=True, exist_ok=True)
    sources = directory / "sources"
    sources.mkdir(exist_ok=True)
    photo = SAMPLES / "photo-dandelions.jpg"
    sound = sources / "music.wav"
    soundfile.write(sound, np.asarray(clip("music", 6.0, 22050)), 22050)
    video = sources / "clip.mp4"
    make_clip(video, width=384, height=288, fps=10, seconds=2.0, audio=False)
    marked = directory / "marked"
    result = run_cli(
        "mark",
        photo,
        sound,
        video,
        "-o",
        marked,
        "--producer",
        PRODUCER,
        "--steps",
        "watermark,metadata",
    )
    assert result.returncode == 0, result.stderr
    corrupt = directory / "corrupt.jpg"
    corrupt.write_bytes(photo.read_bytes()[:4000])
    text = directory / "notes.txt"
    text.write_text("not media\n")
    return {
        "marked_image": marked / photo.name,
        "image": photo,
        "marked_audio": marked / sound.name,
        "audio": sound,
        "marked_video": marked / video.name,
        "corrupt": corrupt,
        "text": text,
    }


class ServerProcess:
    """``python -m marking serve --port 0 ...`` started and stopped; ``url`` is its origin."""

    def __init__(self, *args: str | Path, env: dict[str, str] | None = None) -> None:
        environment = {k: v for k, v in os.environ.items() if k != "AIGC_MARK_KEY"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "marking", "serve", "--port", "0", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment | (env or {}),
            start_new_session=True,
        )
        self.log: list[str] = []
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        assert self.process.stderr is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                if self.process.poll() is not None:
                    break
                continue
            line = self.process.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            self.log.append(line)
            found = re.search(r"serving on (http://\S+?)/?$", line.strip())
            if found:
                os.set_blocking(self.process.stderr.fileno(), False)
                return found.group(1)
        self.stop()
        raise AssertionError("the server did not start:\n" + "".join(self.log))

    def read_log(self) -> str:
        """What the server has written to stderr so far."""
        assert self.process.stderr is not None
        if self.process.stderr.closed:
            return "".join(self.log)
        with contextlib.suppress(BlockingIOError, TypeError):
            while chunk := self.process.stderr.read(65536):
                self.log.append(chunk.decode("utf-8", "replace"))
        return "".join(self.log)

    def children(self) -> list[int]:
        """The process ids of the server's children: its workers and the resource tracker."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def stop(self) -> int:
        """SIGTERM, and the exit status once it has stopped (killed after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.read_log()
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode


@contextlib.contextmanager
def running_server(*args: str | Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(*args, env=env)
    try:
        yield server
    finally:
        server.stop()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Files of a folder over HTTP, without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing."""


@contextlib.contextmanager
def hosting(directory: Path) -> Iterator[str]:
    """A plain web server on 127.0.0.1 handing out ``directory``: the remote a URL to verify
    points at. Yields its origin (``http://127.0.0.1:PORT``)."""
    handler = functools.partial(_QuietFiles, directory=str(directory))
    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{host.server_address[1]}"
    finally:
        host.shutdown()
        host.server_close()
        thread.join(timeout=10)
