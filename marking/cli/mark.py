"""``aigc-mark mark``: the whole marking of many files, in parallel, resumable, with a report.

Also home of :func:`run_records`, the batch loop ``aigc-mark verify`` shares: progress on
stderr, one JSON line per file in the report, a summary at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from marking.cli import (
    add_key_options,
    add_signing_options,
    json_line,
    print_error,
    progress_bar,
    redact,
    require_signing_pair,
    resolve_key,
    secrets_in,
    whole_number,
)
from marking.errors import ExitCode
from marking.media.atomic import display_path
from marking.media.encoding import PROFILES

#: Batches smaller than this run in the calling process unless --workers says otherwise.
SMALL_BATCH = 3
_STEPS = ("label", "watermark", "metadata", "c2pa")


def _steps(text: str) -> frozenset[str]:
    steps = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(steps - set(_STEPS))
    if not steps or unknown:
        raise argparse.ArgumentTypeError(f"give a comma-separated subset of {', '.join(_STEPS)}")
    return steps


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Parallelism and reporting, shared by ``mark`` and ``verify``."""
    group = parser.add_argument_group("batch")
    group.add_argument(
        "-j",
        "--workers",
        type=whole_number,
        metavar="N",
        help="worker processes (default: the number of cores, at most one per file)",
    )
    group.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask distributed scheduler (tcp://host:8786), or local:N for a local "
        "cluster of N workers; workers must see the input and output paths",
    )
    group.add_argument(
        "--report",
        metavar="FILE",
        help="write one JSON record per file to FILE ('-': standard output)",
    )
    group.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it is off when not a TTY)"
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mark",
        help="label, watermark and tag many files into an output directory",
        description="Apply the whole marking (visible label or audio cue, invisible watermark, "
        "GB 45438 metadata label with the IPTC source type, and with --c2pa-cert/--c2pa-key a "
        "signed C2PA manifest) to every INPUT, writing to OUTDIR. INPUT is a file, a directory "
        "(walked recursively; its tree is mirrored under OUTDIR), a glob pattern, or '-' for "
        "paths on standard input. The kind of media is read from each file's content. Inputs "
        "are never modified; outputs appear whole or not at all. A second run skips outputs "
        "that already exist and carry the mark, so an interrupted batch can be resumed. Exit "
        f"{ExitCode.OK} when every file was marked or skipped, {ExitCode.FAILED} when any "
        f"failed (the others are still done), {ExitCode.USAGE} on a usage error, "
        f"{ExitCode.INTERRUPTED} when interrupted by Ctrl-C (SIGINT), {ExitCode.TERMINATED} "
        "by SIGTERM.",
    )
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="files, directories, globs, -")
    parser.add_argument(
        "-o",
        "--outdir",
        metavar="OUTDIR",
        required=True,
        help="output directory (made if missing); unlike the one-file verbs' -o, not a file",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML settings (see --print-config)")
    parser.add_argument(
        "--print-config",
        action=_PrintConfig,
        help="print the default configuration file and exit",
    )
    parser.add_argument("--steps", type=_steps, help="comma-separated: " + ",".join(_STEPS))
    parser.add_argument("--producer", help="GB 45438 ContentProducer (provider name or code)")
    parser.add_argument(
        "--label-level",
        choices=("1", "2", "3"),
        help="GB 45438 Label: 1 AI-generated, 2 possibly, 3 suspected (default 1)",
    )
    parser.add_argument("--strength", type=float, help="watermark strength (default 1.0)")
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=None,
        help="video encoding profile: fast is x264 preset veryfast (1080p30 marked in real "
        "time on 2 cores); it replaces the config's [video.encoder] preset",
    )
    parser.add_argument(
        "--match-size",
        action="store_true",
        default=None,
        help="encode marked videos to within 5%% of the bytes a plain re-encode with the same "
        "settings takes ([video.encoder] match_size)",
    )
    add_signing_options(parser)
    parser.add_argument(
        "--system-name",
        help="name of the generative AI system, for the C2PA manifest ([c2pa] system_name)",
    )
    parser.add_argument("--system-version", help="its version ([c2pa] system_version)")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="mark every file again, even where a finished output exists",
    )
    add_batch_options(parser)
    add_key_options(parser)
    parser.set_defaults(run=run)
    return parser


class _PrintConfig(argparse.Action):
    def __init__(self, option_strings: Any, dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        from marking.pipeline.config import default_config_text

        sys.stdout.write(default_config_text())
        parser.exit()


def _config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from marking.errors import UsageError
    from marking.pipeline.config import load_config
    from marking.pipeline.mark import C2PA

    signing = None
    require_signing_pair(args)
    if args.c2pa_cert:
        from marking.tags.tagging import Signing

        signing = Signing(args.c2pa_cert, args.c2pa_key)
    steps = args.steps
    if signing is not None and steps is not None and C2PA not in steps:
        raise UsageError("--c2pa-cert and --c2pa-key sign a manifest: add c2pa to --steps")
    config = load_config(
        args.config,
        steps=steps,
        producer=args.producer,
        label_level=args.label_level,
        strength=args.strength,
        signing=signing,
    )
    if args.profile is not None:
        config = replace(config, encoder=_with_profile(config.encoder, args.profile))
    if args.match_size:
        config = replace(config, encoder=_matching_size(config.encoder))
    if signing is not None:  # the credentials switch signing on, over the file's steps too
        config = replace(config, steps=config.steps | {C2PA})
    given = [
        (option, field, value)
        for option, field, value in (
            ("--c2pa-thumbnail", "thumbnail", args.c2pa_thumbnail or None),
            ("--system-name", "system_name", args.system_name),
            ("--system-version", "system_version", args.system_version),
        )
        if value is not None
    ]
    if given and config.signing is None:
        raise UsageError(f"{given[0][0]} needs --c2pa-cert and --c2pa-key (or [c2pa])")
    if given:
        named = {field: value for _, field, value in given}
        config = replace(config, signing=replace(config.signing, **named))
    return config


def _with_profile(encoder: Any, name: str) -> Any:
    """The config's video encoder settings with the preset of profile ``name``."""
    from dataclasses import replace

    from marking.media.encoding import EncoderSettings

    return replace(encoder or EncoderSettings(), preset=PROFILES[name].preset)


def _matching_size(encoder: Any) -> Any:
    """The config's video encoder settings with ``match_size`` on (``--match-size``)."""
    from dataclasses import replace

    from marking.errors import UsageError
    from marking.media.encoding import EncoderSettings

    encoder = encoder or EncoderSettings()
    if encoder.bitrate is not None:
        raise UsageError(
            "--match-size picks the video bit rate itself; the config's [video.encoder] "
            "bitrate asks for another"
        )
    return replace(encoder, match_size=True)


class BatchBar:
    """Files and bytes done, rate and time left, on stderr (:func:`progress_bar`: off when not
    a TTY). Bytes move as the workers report frames or samples done within a file (a file's
    size times the fraction done), not only when a file ends: a long video moves the bar."""

    def __init__(self, jobs: list[Any], enabled: bool, stream: Any = None) -> None:
        self.files = len(jobs)
        self.done = 0
        self.sizes = {job.input: job.size for job in jobs}
        self.credited: dict[str, int] = {}  # bytes shown so far, per file still running
        self.finished: set[str] = set()  # a worker's last word may come after its record
        self.bar = None
        if enabled:
            self.bar = progress_bar(
                sum(self.sizes.values()),
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                delay=0.0,
                stream=stream,
            )
        if self.bar is not None:
            self.bar.set_postfix_str(f"0/{self.files} files")

    def within(self, name: str, done: int, total: int | None) -> None:
        """A worker's word: ``done`` of ``total`` frames or samples of file ``name``."""
        if not total or name not in self.sizes or name in self.finished:
            return
        share = int(self.sizes[name] * min(1.0, done / total))
        step = share - self.credited.get(name, 0)
        if step > 0:
            self.credited[name] = share
            if self.bar is not None:
                self.bar.update(step)

    def advance(self, record: dict[str, Any]) -> None:
        """A file finished: the rest of its bytes."""
        self.done += 1
        self.finished.add(record.get("input", ""))
        credited = self.credited.pop(record.get("input"), 0)
        if self.bar is not None:
            self.bar.update(max(0, record.get("bytes", 0) - credited))
            self.bar.set_postfix_str(f"{self.done}/{self.files} files", refresh=False)

    def write(self, text: str, stream: Any) -> None:
        if self.bar is not None:
            self.bar.write(text, file=stream)
        else:
            print(text, file=stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_records(
    args: argparse.Namespace,
    jobs: list[Any],
    work: Callable[[Any], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
    *,
    summary: bool = True,
    complete: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    public: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ordered: bool = False,
) -> tuple[dict[str, int], int | None]:
    """Run the batch: report records, show progress, print a line per file and a summary.

    Returns the count per status (and of records with ``ai_marked``, as "ai-marked") and the
    exit code of an interruption (130 for SIGINT, 143 for SIGTERM), or None. ``complete``
    fills in the fields a record lacks (a record the scheduler made for a lost file);
    ``public`` makes the record written to the report (default: the record itself);
    ``ordered`` reports the files in the order of ``jobs`` rather than as they finish.
    """
    from marking.pipeline.batch import Interrupted, default_workers, run

    secrets = secrets_in(args)
    # Starting a worker process costs about a second (imports): few files run in-process.
    workers = args.workers or (1 if len(jobs) < SMALL_BATCH else min(default_workers(), len(jobs)))
    to_stdout = args.report == "-"
    progress = BatchBar(jobs, not args.no_progress)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    interrupted: int | None = None
    with _open_report(args.report) as report:
        within = progress.within if progress.bar is not None else None
        records = run(jobs, work, workers=workers, dask=args.dask, progress=within)
        try:
            for record in _in_order(records, jobs) if ordered else records:
                if complete is not None:
                    record = complete(record)
                if record.get("error"):
                    record["error"] = redact(record["error"], secrets)
                counts[record["status"]] = counts.get(record["status"], 0) + 1
                if record.get("ai_marked"):
                    counts["ai-marked"] = counts.get("ai-marked", 0) + 1
                progress.advance(record)
                if report is not None:
                    report.write(json_line(public(record) if public else record) + "\n")
                    report.flush()
                shown = display_path(record["input"])
                # Names (and labels read from files) with control characters are escaped:
                # a newline in a file name must not forge a result line of its own.
                if record["status"] == "failed":
                    progress.write(f"{shown}: error: {display_path(record['error'])}", sys.stderr)
                elif not to_stdout:
                    progress.write(f"{shown}: {display_path(describe(record))}", sys.stdout)
        except Interrupted as stop:
            interrupted = stop.exit_code
        finally:
            # Stop the workers now (not whenever the generator is collected), before the summary.
            records.close()
            progress.close()
    if summary or interrupted:
        _print_summary(
            len(jobs),
            sum(job.size for job in jobs),
            counts,
            started,
            interrupted is not None,
            workers,
            args.dask,
        )
    return counts, interrupted


def _in_order(records: Iterator[dict[str, Any]], jobs: list[Any]) -> Iterator[dict[str, Any]]:
    """``records`` in the order of their ``jobs`` (by ``input``), each as soon as those before
    it are done: a parallel batch prints what a sequential one would."""
    position = {job.input: index for index, job in enumerate(jobs)}
    waiting: dict[int, dict[str, Any]] = {}
    next_index = 0
    for record in records:
        waiting[position.get(record["input"], len(jobs) + len(waiting))] = record
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1
    yield from (waiting[index] for index in sorted(waiting))


def _print_summary(
    files: int,
    size: int,
    counts: dict[str, int],
    started: float,
    interrupted: bool,
    workers: int,
    dask: str | None,
) -> None:
    elapsed = time.perf_counter() - started
    megabytes = size / 1e6
    done = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    state = "interrupted after" if interrupted else "done in"
    # With Dask the cluster has the workers it has (-j does not apply): name it instead.
    where = f"Dask {dask}" if dask else f"{workers} local worker{'s' if workers != 1 else ''}"
    print(
        f"{files} files: {done or 'nothing done'}; {state} {elapsed:.1f} s "
        f"({megabytes / elapsed if elapsed > 0 else 0:.1f} MB/s, {where})",
        file=sys.stderr,
    )


def batch_jobs(jobs: list[Any], report: str | None, outdir: Any = None) -> list[Any]:
    """A batch verb's jobs, checked before any work: less an earlier report (see
    :func:`without_report`), a glob that matched nothing or no input at all a usage error."""
    from marking.errors import UsageError
    from marking.pipeline.inputs import refuse_unmatched

    jobs = without_report(jobs, report, outdir)
    refuse_unmatched(jobs)
    if not jobs:
        raise UsageError("no input files found")
    return jobs


def without_report(jobs: list[Any], target: str | None, outdir: Any = None) -> list[Any]:
    """The jobs, less an earlier report found by walking a directory (a re-run must not take
    it for an input); a report path that would destroy something is a usage error.

    Refused before any work: a report that is one of the inputs named (``--report *.jpg``
    expands to ``--report a.jpg b.jpg``), an existing media file (by its name or content), a
    file under OUTDIR, or anything but a regular file (a device node, a FIFO, a directory).
    """
    if target is None or target == "-":
        return jobs
    import os
    from pathlib import Path

    from marking.errors import MarkingError, UsageError
    from marking.media.atomic import check_output_path, display_path
    from marking.media.sniffing import MEDIA_SUFFIXES, media_kind
    from marking.pipeline.inputs import is_inside

    report = Path(target)
    shown = f"--report {display_path(report)}"
    if outdir is not None and is_inside(report, Path(outdir)):
        raise UsageError(f"{shown} is inside the output directory; put the report elsewhere")
    try:
        check_output_path(report)
    except MarkingError as error:
        raise UsageError(f"--report {error}") from None
    identity = os.path.realpath(report)
    same = [job for job in jobs if os.path.realpath(job.input) == identity]
    if any(not job.found for job in same):
        raise UsageError(f"{shown} is one of the inputs; name a new file for the report")
    if report.is_file():
        media = report.suffix.lower() in MEDIA_SUFFIXES
        if not media:
            try:
                media_kind(report)
                media = True
            except MarkingError:
                pass
        if media:
            raise UsageError(f"{shown} is an existing media file; name a new file for the report")
    return [job for job in jobs if job not in same]


@contextlib.contextmanager
def _open_report(target: str | None) -> Iterator[TextIO | None]:
    """The report stream: standard output for ``-``; for a file, a temporary one that replaces
    the file (atomically) when the batch ends, finished or interrupted: a report is whole, and
    an earlier one survives a batch that breaks down."""
    if target is None:
        yield None
        return
    if target == "-":
        yield sys.stdout
        return
    import io

    from marking.errors import MarkingError, UsageError
    from marking.media.atomic import atomic_write

    try:
        with atomic_write(target, interruptible=False) as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
            try:
                yield text
            finally:
                text.flush()
                text.detach()  # atomic_write closes the file itself
    except MarkingError as error:
        raise UsageError(f"--report {error}") from None


def _describe(record: dict[str, Any]) -> str:
    if record["status"] == "skipped":
        return f"skipped ({record['reason']})"
    steps = "+".join(record.get("steps") or [])
    output = display_path(record["output"])
    line = f"{record['kind']} {steps} -> {output} (payload {record['payload']})"
    return "; ".join([line, *(f"note: {display_path(note)}" for note in record.get("notes") or [])])


def run(args: argparse.Namespace) -> int:
    """Mark every input into OUTDIR; exit 0, 3 if any file failed, 130/143 if interrupted."""
    from functools import partial
    from pathlib import Path

    from marking.errors import UsageError
    from marking.pipeline.inputs import mark_jobs
    from marking.pipeline.jobs import mark_one, missing_mark_fields
    from marking.pipeline.outdir import output_lock, remove_temporaries

    config = _config(args)
    key = resolve_key(args)
    if args.json and args.report is None:
        args.report = "-"
    outdir = Path(args.outdir)
    if outdir.exists() and not outdir.is_dir():
        from marking.media.atomic import file_type

        kind = file_type(outdir.stat().st_mode)
        raise UsageError(f"output directory {display_path(outdir)} is {kind}, not a directory")
    jobs = batch_jobs(mark_jobs(args.inputs, outdir), args.report, outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"output directory {display_path(outdir)}: {error.strerror or error}"
        ) from None
    work = partial(mark_one, config=config, key=key, resume=not args.no_resume)
    with output_lock(outdir):
        counts, interrupted = run_records(args, jobs, work, _describe, complete=missing_mark_fields)
        # Workers remove their own temporary files, even when stopped; not one that was
        # killed (a Dask task past its shutdown timeout, a worker killed for memory). Every
        # worker is gone, and the lock keeps any other batch out of OUTDIR meanwhile.
        remove_temporaries(jobs)
    if interrupted is not None:
        print_error("interrupted; run the same command again to finish the batch")
        return interrupted
    return ExitCode.FAILED if counts.get("failed") else ExitCode.OK
