"""marking.pipeline.batch in this process: collecting inputs, mirroring outputs, resume, clean-up.

The command line runs on top of these (tests/cli/test_batch_cli.py); here each rule is checked on
its own, on real small files.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from marking.errors import UsageError
from marking.pipeline.batch import run
from marking.pipeline.dask_run import dask_client
from marking.pipeline.inputs import (
    Job,
    collect,
    mark_jobs,
    output_path,
    refuse_unmatched,
    verify_jobs,
)
from marking.pipeline.jobs import (
    FAILED,
    MARKED,
    SKIPPED,
    mark_one,
    missing_mark_fields,
    verify_one,
)
from marking.pipeline.mark import MarkConfig
from marking.pipeline.outdir import remove_temporaries
from marking.pipeline.pool import WORKER_DIED
from tests.conftest import make_natural_image

PRODUCER = "ExampleAI"
KEY = "batch-test-key"
#: Every field of a ``mark`` record, whatever its status (the report's lines all match).
MARK_RECORD_FIELDS = {
    "input",
    "output",
    "kind",
    "modality",
    "status",
    "steps",
    "payload",
    "produce_id",
    "error",
    "bytes",
    "seconds",
    "timings",
    "notes",
}


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def photo(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_natural_image("RGB", (256, 256), seed).save(path, quality=90)
    return path


# --- collecting inputs -------------------------------------------------------------------------


def test_directories_are_walked_in_order_without_hidden_entries(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("b.png", "a.jpg", "sub/c.wav", "sub/deeper/d.mp4", ".hidden.png", ".git/e.png"):
        touch(root / name)
    found = collect([str(root)])
    assert [path.relative_to(root).as_posix() for path, _ in found] == [
        "a.jpg",
        "b.png",
        "sub/c.wav",
        "sub/deeper/d.mp4",
    ]
    assert {base for _, base in found} == {root}


def test_globs_mirror_below_their_fixed_part(tmp_path: Path) -> None:
    root = tmp_path / "renders"
    for name in ("x.png", "day1/a.png", "day1/b.jpg", "day2/c.png", "day2/.tmp.png"):
        touch(root / name)
    outdir = tmp_path / "out"
    jobs = mark_jobs([f"{root}/**/*.png"], outdir)
    assert [Path(job.output).relative_to(outdir).as_posix() for job in jobs] == [
        "day1/a.png",
        "day2/c.png",
        "x.png",
    ]
    assert all(job.problem is None for job in jobs)
    # A pattern matching nothing is kept, so the batch reports it.
    missing = mark_jobs([f"{root}/*.webp"], outdir)
    assert [Path(job.input).name for job in missing] == ["*.webp"]


def test_a_pattern_matching_nothing_says_so(tmp_path: Path) -> None:
    """Not "no such file" for a file named "*.webp": the job's problem says what happened, and
    inputs that are all such patterns are one usage error before any work."""
    touch(tmp_path / "a.png")
    pattern = f"{tmp_path}/*.webp"
    for jobs in (mark_jobs([pattern], tmp_path / "out"), verify_jobs([pattern])):
        assert [job.problem for job in jobs] == [f"no file matches {pattern}"]
        with pytest.raises(UsageError, match=r"^no file matches .*\*\.webp$"):
            refuse_unmatched(jobs)
    # With other inputs, the batch goes on and reports the pattern as a failed file.
    mixed = verify_jobs([pattern, str(tmp_path / "a.png"), str(tmp_path / "missing.png")])
    refuse_unmatched(mixed)
    assert [job.problem for job in mixed] == [f"no file matches {pattern}", None, None]
    record = verify_one(mixed[0], key=None)
    assert (record["status"], record["error"]) == (FAILED, f"no file matches {pattern}")


def test_stdin_list_and_duplicates(tmp_path: Path) -> None:
    first, second = touch(tmp_path / "a" / "one.png"), touch(tmp_path / "b" / "two.png")
    listing = io.StringIO(f"{first}\n\n{second}\r\n{first}\n")
    found = collect(["-", str(second)], stdin=listing)
    assert found == [(first, None), (second, None)]  # named files: no root, each once


def test_colliding_outputs_are_reported_on_the_second_file(tmp_path: Path) -> None:
    first, second = touch(tmp_path / "a" / "same.png"), touch(tmp_path / "b" / "same.png")
    outdir = tmp_path / "out"
    jobs = mark_jobs([str(first), str(second)], outdir)
    assert [job.output for job in jobs] == [str(outdir / "same.png")] * 2
    assert jobs[0].problem is None
    assert jobs[1].problem == f"output {outdir / 'same.png'} is also {first}'s output"


def test_outdir_inside_the_input_directory_is_not_an_input(tmp_path: Path) -> None:
    root = tmp_path / "in"
    touch(root / "a.png")
    touch(root / "out" / "a.png")  # an earlier run's output
    touch(root / "out" / "deep" / "b.png")
    jobs = mark_jobs([str(root)], root / "out")
    assert [(job.input, job.output) for job in jobs] == [
        (str(root / "a.png"), str(root / "out" / "a.png"))
    ]
    # The same through a glob.
    assert len(mark_jobs([f"{root}/**/*.png"], root / "out")) == 1


# --- outputs never leave OUTDIR ----------------------------------------------------------------


@pytest.mark.parametrize("below", ["escape/x.png", "escape/new/deeper/x.png"])
def test_symlink_in_outdir_cannot_carry_an_output_out(tmp_path: Path, below: str) -> None:
    """A symlinked directory in OUTDIR, whether the output's own directory or an ancestor of
    directories not made yet, would put the output elsewhere: the job is refused."""
    root, outdir, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    source = photo(root / below)
    elsewhere.mkdir()
    outdir.mkdir()
    (outdir / "escape").symlink_to(elsewhere, target_is_directory=True)

    jobs = mark_jobs([str(root)], outdir)

    assert len(jobs) == 1
    assert jobs[0].output is None
    assert jobs[0].problem == f"{source}: its output would fall outside {outdir}"
    record = mark_one(jobs[0], MarkConfig(producer=PRODUCER), KEY)
    assert record["status"] == FAILED
    assert "outside" in record["error"]
    assert list(elsewhere.iterdir()) == []


def test_output_path_refuses_dotdot_and_accepts_the_tree(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    assert output_path(tmp_path / "in" / "a" / "b.png", tmp_path / "in", outdir) == (
        outdir / "a" / "b.png"
    )
    assert output_path(tmp_path / "x" / "c.png", None, outdir) == outdir / "c.png"
    with pytest.raises(UsageError, match="outside"):
        output_path(tmp_path / "other" / "b.png", tmp_path / "in", outdir)


# --- one file: records and resume --------------------------------------------------------------


def test_records_have_one_shape_whatever_the_status(tmp_path: Path) -> None:
    config = MarkConfig(producer=PRODUCER)
    source = photo(tmp_path / "in" / "a.jpg")
    broken = touch(tmp_path / "in" / "broken.jpg", source.read_bytes()[:2000])
    out = tmp_path / "out"

    marked = mark_one(Job(str(source), str(out / "a.jpg"), source.stat().st_size), config, KEY)
    skipped = mark_one(Job(str(source), str(out / "a.jpg"), source.stat().st_size), config, KEY)
    failed = mark_one(Job(str(broken), str(out / "broken.jpg"), 2000), config, KEY)
    refused = mark_one(Job(str(source), str(out / "x.jpg"), 1, "collides"), config, KEY)

    assert [r["status"] for r in (marked, skipped, failed, refused)] == [
        MARKED,
        SKIPPED,
        FAILED,
        FAILED,
    ]
    for record in (marked, skipped, failed, refused):
        assert set(record) >= MARK_RECORD_FIELDS, record
    assert marked["error"] is None
    assert marked["steps"] == ["label", "watermark", "metadata"]
    assert failed["error"]
    assert failed["payload"] is None
    assert failed["steps"] == []
    assert refused["error"] == "collides"
    assert not (out / "broken.jpg").exists()


def test_resume_marks_again_when_the_input_changed(tmp_path: Path) -> None:
    """A finished output is skipped only while it belongs to the input's current bytes (the
    ProduceID in its label derives from them): a new render under the old name is marked."""
    config = MarkConfig(producer=PRODUCER)
    source = photo(tmp_path / "in" / "render.jpg", seed=1)
    job = Job(str(source), str(tmp_path / "out" / "render.jpg"))
    first = mark_one(job, config, KEY)
    assert mark_one(job, config, KEY)["status"] == SKIPPED

    photo(source, seed=2)  # the generator made a new picture with the same name
    again = mark_one(job, config, KEY)

    assert again["status"] == MARKED
    assert again["produce_id"] != first["produce_id"]
    # Another producer's output is not this batch's either.
    assert mark_one(job, MarkConfig(producer="Other"), KEY)["status"] == MARKED
    assert mark_one(job, config, KEY, resume=False)["status"] == MARKED


# --- clean-up after an interruption ------------------------------------------------------------


def test_remove_temporaries_takes_only_the_batch_leftovers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    leftovers = [
        out / ".clip.mp4.ab12cd_9.part",  # atomic_write of the output
        out / ".clip.aigc-k3j4h5g6.mp4",  # the pipeline's intermediate
        out / "..clip.aigc-k3j4h5g6.mp4.zpe1n8cj.part",  # ... being written
        out / ".tagged.q1w2e3r4.mp4",  # tag_file's, before C2PA signing
        out / "sub" / ".photo.jpg.a1b2c3d4.part",
    ]
    kept = [
        out / "clip.mp4",
        out / ".clip.mp4.notes",  # hidden, but no temporary of ours
        out / ".other.mp4.ab12cd_9.part",  # another program's, for a file not in the batch
        out / ".keep",
        out / "sub" / "photo.jpg",
    ]
    for path in leftovers + kept:
        touch(path)
    jobs = [
        Job("in/clip.mp4", str(out / "clip.mp4")),
        Job("in/sub/photo.jpg", str(out / "sub" / "photo.jpg")),
        Job("in/bad.png", None, 0, "no output"),
    ]

    removed = remove_temporaries(jobs)

    assert sorted(removed) == sorted(leftovers)
    assert all(path.exists() for path in kept)
    assert remove_temporaries(jobs) == []
    assert remove_temporaries([Job("x", str(tmp_path / "missing" / "x.png"))]) == []


def test_the_sweep_takes_every_temporary_name_the_writers_make(tmp_path: Path) -> None:
    """The names are made and recognised in one module (marking.media.temporaries): what
    atomic_write, the pipeline's intermediates and tag_file make, the sweep removes; the same
    names made for a file outside the batch are left alone."""
    from marking.media.temporaries import open_part, scratch_name, tagged_name

    out = tmp_path / "out"
    out.mkdir()

    def made(output: Path) -> list[Path]:
        scratch = touch(scratch_name(output, output.suffix))
        paths = [scratch, touch(tagged_name(output.parent, output.suffix))]
        for target in (output, scratch):  # the output, and the intermediate, being written
            descriptor, part = open_part(target)
            os.close(descriptor)
            paths.append(part)
        return paths

    other = made(out / "other.mp4")
    theirs = [path for path in other if ".tagged." not in path.name]
    # tag_file's copies are not named after an output: the sweep takes every one.
    ours = made(out / "clip.mp4") + made(out / "photo.jpg") + sorted(set(other) - set(theirs))
    jobs = [Job("clip.mp4", str(out / "clip.mp4")), Job("photo.jpg", str(out / "photo.jpg"))]

    removed = remove_temporaries(jobs)

    assert sorted(removed) == sorted(ours)
    assert all(path.exists() for path in theirs)
    assert all(path.name.startswith(".") for path in ours + theirs)


def test_a_scratch_file_of_an_intermediate_is_swept_with_its_output(tmp_path: Path) -> None:
    """Size-matched marking (match_size) makes its scratch files beside its output, which in
    a batch may be the pipeline's intermediate: they belong to the batch's output all the
    same, and only to it."""
    from marking.media.temporaries import open_part, scratch_name

    out = tmp_path / "out"
    out.mkdir()
    intermediate = scratch_name(out / "clip.mp4", ".mp4")
    nested = touch(scratch_name(intermediate, ".mp4"))
    descriptor, part = open_part(nested)
    os.close(descriptor)
    other = touch(scratch_name(scratch_name(out / "clip2.mp4", ".mp4"), ".mp4"))

    removed = remove_temporaries([Job("clip.mp4", str(out / "clip.mp4"))])

    assert nested.name.startswith(".clip.aigc-")
    assert sorted(removed) == sorted([nested, part])
    assert other.exists()


def test_temporary_names_are_made_in_one_module_only() -> None:
    """A new kind of temporary file made elsewhere would escape the sweep: every name beside
    an output is made by marking.media.temporaries."""
    import marking

    package = Path(marking.__file__).parent
    makers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "mkstemp(" in path.read_text(encoding="utf-8")
    ]
    assert makers == ["media/temporaries.py"]


# --- a worker that dies ------------------------------------------------------------------------


def die_on_doomed(job: Job) -> dict[str, Any]:
    """A work function for the pool: the process handling a "doomed" file dies outright, as
    one killed for its memory or crashed in a codec would (no exception, no record)."""
    if "doomed" in job.input:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return {"input": job.input, "status": MARKED}


def test_a_worker_that_dies_fails_only_its_file() -> None:
    names = [f"file{index}" for index in range(6)]
    names.insert(3, "doomed")
    jobs = [Job(name) for name in names]

    records = list(run(jobs, die_on_doomed, workers=2))

    assert sorted(record["input"] for record in records) == sorted(names)  # one record each
    statuses = {record["input"]: record["status"] for record in records}
    assert statuses == {name: FAILED if name == "doomed" else MARKED for name in names}
    (lost,) = [record for record in records if record["status"] == FAILED]
    assert lost["error"] == WORKER_DIED
    assert missing_mark_fields(lost).keys() >= MARK_RECORD_FIELDS


def _malloc_trim_setting() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_dask_workers_keep_glibc_adaptive_malloc() -> None:
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 by default, which made marking a
    picture 1.8x slower on its workers; the local cluster starts them without it."""
    with dask_client("local:1") as client:
        assert client.submit(_malloc_trim_setting, pure=False).result() is None
