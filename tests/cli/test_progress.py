"""The one progress bar: tqdm on stderr, only on a terminal; a batch's workers report frames and
samples done within a file, so a long video moves the bar before it ends."""

from __future__ import annotations

import io
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from marking.cli import ProgressBar, progress_bar
from marking.cli.mark import BatchBar
from marking.pipeline.batch import run
from marking.pipeline.inputs import mark_jobs
from marking.pipeline.jobs import mark_one
from marking.pipeline.mark import WATERMARK, MarkConfig
from marking.pipeline.pool import ProgressSender, accepts_progress
from tests.support.audio_clips import clip
from tests.support.video_clips import clip_path

KEY = "progress-test-key"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _batch_inputs(folder: Path) -> Path:
    """A small clip and a short recording, each long enough for several progress steps."""
    folder.mkdir()
    video = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    shutil.copy(video, folder / "clip.mp4")
    sf.write(folder / "voice.wav", np.asarray(clip("speech", 4.0, 16000)), 16000)
    return folder


def _run_batch(tmp_path: Path, workers: int) -> tuple[list[dict], list[tuple[str, int, int]]]:
    source = _batch_inputs(tmp_path / "in")
    jobs = mark_jobs([str(source)], tmp_path / "out")
    config = MarkConfig(steps=frozenset({WATERMARK}))
    heard: list[tuple[str, int, int]] = []
    work = partial(mark_one, config=config, key=KEY)
    records = list(run(jobs, work, workers=workers, progress=lambda *step: heard.append(step)))
    return records, heard


def _check_steps(records: list[dict], heard: list[tuple[str, int, int]]) -> None:
    assert sorted(record["status"] for record in records) == ["marked", "marked"]
    for name in ("clip.mp4", "voice.wav"):
        steps = [(done, total) for input_, done, total in heard if input_.endswith(name)]
        assert steps, f"no progress heard for {name}"
        assert all(total and 0 < done <= total for done, total in steps)
        assert steps[-1][0] == steps[-1][1]  # the last step (the whole file) always goes
    video = [step for step in heard if step[0].endswith("clip.mp4")]
    assert video[0][2] == 20  # 2 s at 10 fps, counted in frames


def test_two_workers_send_progress_within_each_file(tmp_path: Path) -> None:
    records, heard = _run_batch(tmp_path, workers=2)
    _check_steps(records, heard)


def test_one_worker_reports_progress_in_process(tmp_path: Path) -> None:
    records, heard = _run_batch(tmp_path, workers=1)
    _check_steps(records, heard)


def test_progress_sender_sends_at_most_a_few_steps_a_second() -> None:
    sent: list[tuple[str, int, int | None]] = []
    sender = ProgressSender(sent.append, "clip.mp4")
    for done in range(1, 1001):
        sender(done, 1000)
    assert sent[0] == ("clip.mp4", 1, 1000)
    assert sent[-1] == ("clip.mp4", 1000, 1000)
    assert len(sent) < 20


def test_work_without_a_progress_parameter_is_run_as_before() -> None:
    assert accepts_progress(partial(mark_one, config=None, key=None))
    assert not accepts_progress(lambda job: {})


def test_no_bar_when_stderr_is_not_a_terminal() -> None:
    quiet = io.StringIO()
    assert progress_bar(100, stream=quiet) is None
    bar = ProgressBar("clip.mp4", delay=0.0, stream=quiet)
    bar(1, 2)
    bar.close()
    assert quiet.getvalue() == ""


class _Job:
    def __init__(self, name: str, size: int) -> None:
        self.input, self.size = name, size


def test_batch_bar_moves_with_a_file_and_never_counts_it_twice() -> None:
    screen = FakeTerminal()
    jobs = [_Job("long.mp4", 1000), _Job("short.jpg", 10)]
    bar = BatchBar(jobs, enabled=True, stream=screen)
    assert bar.bar is not None
    bar.within("long.mp4", 30, 100)  # 30 % of the video's frames: 300 bytes' worth
    assert bar.bar.n == 300
    bar.within("long.mp4", 20, 100)  # late or repeated news never moves it back
    assert bar.bar.n == 300
    bar.within("long.mp4", 5, None)  # unknown length: nothing to scale by
    assert bar.bar.n == 300
    bar.advance({"input": "long.mp4", "bytes": 1000})
    bar.within("long.mp4", 100, 100)  # its worker's last word, after the record came
    bar.advance({"input": "short.jpg", "bytes": 10})
    assert bar.bar.n == 1010 == bar.bar.total
    bar.close()
    assert "\n" not in screen.getvalue()
    assert BatchBar(jobs, enabled=False, stream=screen).bar is None


def test_single_file_bar_is_tqdm_with_the_time_left() -> None:
    screen = FakeTerminal()
    bar = ProgressBar("marking clip.mp4", delay=0.0, stream=screen)
    bar(5, 10)
    bar(10, 10)
    bar.close()
    text = screen.getvalue()
    assert "100%" in text
    assert "left" in text
    assert "frame/s" in text
    assert "marking clip.mp4" in text


def test_recording_embedding_reports_samples_block_by_block(tmp_path: Path) -> None:
    from marking.files.audio import embed_audio_file

    source = tmp_path / "voice.wav"
    sf.write(source, np.asarray(clip("speech", 4.0, 16000)), 16000)
    steps: list[tuple[int, int | None]] = []
    embed_audio_file(
        source,
        tmp_path / "marked.wav",
        key=KEY,
        blocksize=16000,
        progress=lambda *s: steps.append(s),
    )
    assert len(steps) >= 4
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert steps[-1] == (64000, 64000)
