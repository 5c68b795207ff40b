"""Load on the detection server (``aigc-mark serve``): latency, throughput and memory against
a real uvicorn process with 2 workers on 127.0.0.1, beside ``aigc-mark verify -j 2``.

Run: ``.venv/bin/python bench/serve_load.py [--pictures N] [--recordings N] [--clips N]
[--requests N] [--clients N] [--rounds R] [--big-upload-gb G] [--quick] [--tmpdir DIR]
[--output FILE] [--no-write]``.

1. **Media.** ``--pictures`` (default 24) distinct 1920x1080 JPEGs (``make_pictures`` of
   ``bench/batch_throughput.py``), ``--recordings`` (default 4) 30 s 44.1 kHz stereo WAVs
   (``tests.support.audio_clips.clip("music", ...)``, one seed each) and ``--clips`` (default
   2) 10 s 1080p30 H.264 clips with AAC sound (``tests.support.video_clips.clip_path("bbb",
   ...)``, one seed each). Half of each kind is marked with ``aigc-mark mark --producer
   bench-provider`` (the CLI, as a user runs it), half left unmarked.
2. **Server.** ``python -m marking serve --port 0 --workers 2 --max-upload-mb M`` (the
   test suite's ``ServerProcess``), waited for until it says it is serving (workers warm).
   A thread samples the server tree (the server process and every descendant: the
   verification workers) every 0.1 s from /proc: the sum of VmRSS, and the server alone.
3. **Single client, warm.** Three warm-up requests, then every file once, one after the
   other: the client's round trip and the record's ``seconds`` (the verification time inside
   the worker), per kind. The issue's target: a 1080p JPEG in at most 150 ms p50 server-side.
4. **Load and baseline, in paired rounds** (``--rounds``, default 3; the order rotates).
   The request list is every file, repeated in a fixed shuffled order up to ``--requests``
   (default 96). *Load*: ``--clients`` (default 8) threads, each with its own ``httpx2``
   client, take the next request from the list and upload it as ``multipart/form-data``; a
   429 is counted and retried after its ``Retry-After``; every status is counted (no 5xx
   allowed). *Baseline*: ``aigc-mark verify -j 2 --json`` over the same list (each repeat a
   hard link in its own folder, so the same files in the same numbers), wall time including
   its start, then the same command on one picture (what starting it costs). Throughput is
   files per second of each; the issue's target is the server at 80 % or more of the
   baseline (the report gives it against ``verify`` with and without its start).
5. **A 2 GB upload** (``--big-upload-gb``, 0 to skip): a raw body streamed by a generator (a
   JPEG start marker, then zeros, chunked), with the server's peak counter (VmHWM) reset
   through /proc/PID/clear_refs first; the report gives the server's VmHWM before and after,
   and the status. Memory must grow by a small buffer only, not by the upload.

Every verdict is checked too: the marked files must come back ``ai_marked``, the unmarked
ones not. Results are printed and written to ``--output`` (default
``bench/results/serve-load.md``) unless ``--no-write``. Exit status 0 when every request got
its expected verdict and there was no 5xx, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import queue
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from harness import log
from results_writer import Machine, grid, report_head

PRODUCER = "bench-provider"
WORKERS = 2
TARGET_JPEG_P50_MS = 150.0
TARGET_SHARE = 0.80
SAMPLE_INTERVAL = 0.1
CHUNK = 1024 * 1024
MIME = {"image": "image/jpeg", "audio": "audio/wav", "video": "video/mp4"}
KINDS = ("image", "audio", "video")


@dataclass(frozen=True)
class MediaFile:
    """One file uploaded: where it is, what it is, and whether it carries the mark."""

    path: Path
    kind: str
    marked: bool

    @property
    def label(self) -> str:
        return f"{self.kind}, {'marked' if self.marked else 'unmarked'}"


@dataclass
class Answer:
    """One request's outcome as the client saw it."""

    file: MediaFile
    status: int
    round_trip: float
    seconds: float | None = None
    ai_marked: bool | None = None
    retries: int = 0
    error: str = ""

    @property
    def expected(self) -> bool:
        return self.status == 200 and self.ai_marked == self.file.marked


# --- media -------------------------------------------------------------------------------------


def build_media(folder: Path, pictures: int, recordings: int, clips: int) -> list[MediaFile]:
    """The files to upload: half of each kind marked by ``aigc-mark mark``, half not."""
    import soundfile
    from batch_throughput import make_pictures

    from tests.support.audio_clips import clip
    from tests.support.video_clips import clip_path

    plain = folder / "plain"
    log(f"making {pictures} 1080p JPEGs, {recordings} 30 s recordings, {clips} 10 s clips ...")
    make_pictures(plain / "pictures", pictures, folders=1)
    sources: dict[str, list[Path]] = {"image": sorted((plain / "pictures").rglob("*.jpg"))}
    sources["audio"] = []
    for seed in range(recordings):
        path = plain / f"music-{seed}.wav"
        soundfile.write(path, clip("music", 30.0, 44100, seed=seed), 44100, subtype="PCM_16")
        sources["audio"].append(path)
    sources["video"] = []
    for seed in range(clips):
        cached = clip_path("bbb", width=1920, height=1080, fps=30, seconds=10.0, seed=seed)
        path = plain / f"bbb-{seed}.mp4"
        shutil.copyfile(cached, path)
        sources["video"].append(path)
    to_mark = [path for paths in sources.values() for path in paths[: len(paths) // 2]]
    marked_dir = folder / "marked"
    log(f"marking {len(to_mark)} of them with aigc-mark mark ...")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "marking",
            "mark",
            *map(str, to_mark),
            "-o",
            str(marked_dir),
            "--producer",
            PRODUCER,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"aigc-mark mark failed: {done.stderr.strip()}")
    files = []
    for kind, paths in sources.items():
        half = len(paths) // 2
        files += [MediaFile(marked_dir / path.name, kind, True) for path in paths[:half]]
        files += [MediaFile(path, kind, False) for path in paths[half:]]
    return files


def request_list(files: Sequence[MediaFile], requests: int, seed: int = 18) -> list[MediaFile]:
    """Every file, then again, up to ``requests`` in all (at least each file once), shuffled
    with a fixed seed so that the heavy files are spread over the run."""
    count = max(requests, len(files))
    chosen = [files[index % len(files)] for index in range(count)]
    random.Random(seed).shuffle(chosen)
    return chosen


def linked_copies(requested: Sequence[MediaFile], folder: Path) -> list[Path]:
    """The request list as distinct paths for ``verify``: each repeat of a file a hard link
    in its own folder (same bytes, same name)."""
    seen: Counter[Path] = Counter()
    paths = []
    for item in requested:
        repeat = seen[item.path]
        seen[item.path] += 1
        target = folder / f"r{repeat:02d}" / item.path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(item.path, target)
        paths.append(target)
    return paths


# --- the server's memory -------------------------------------------------------------------------


def _kib(pid: int, field: str) -> int:
    """:func:`harness.status_kib` of ``pid``, 0 once the process is gone."""
    return harness.status_kib(field, pid) or 0


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of any of its threads, recursively)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            pending += children
    return found


class TreeSampler:
    """Samples the server tree's resident memory every ``interval`` seconds in a thread: the
    highest sum of VmRSS over the server and its descendants, and of the server alone."""

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_tree_kib = 0
        self.peak_server_kib = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = [self.pid, *descendants(self.pid)]
            server = _kib(self.pid, "VmRSS")
            tree = server + sum(_kib(pid, "VmRSS") for pid in pids[1:])
            self.peak_tree_kib = max(self.peak_tree_kib, tree)
            self.peak_server_kib = max(self.peak_server_kib, server)
            self.peak_processes = max(self.peak_processes, len(pids))
            self._stop.wait(self.interval)

    def reset(self) -> None:
        self.peak_tree_kib = self.peak_server_kib = 0

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- requests ----------------------------------------------------------------------------------


def upload(client: Any, url: str, item: MediaFile) -> Answer:
    """POST one file as a form upload; a 429 is retried after its Retry-After."""
    retries = 0
    while True:
        began = time.perf_counter()
        try:
            with item.path.open("rb") as body:
                files = {"file": (item.path.name, body, MIME[item.kind])}
                response = client.post(f"{url}/api/v1/verify", files=files)
        except Exception as error:  # a refused or broken connection counts as a failure
            elapsed = time.perf_counter() - began
            return Answer(item, 0, elapsed, retries=retries, error=type(error).__name__)
        elapsed = time.perf_counter() - began
        if response.status_code == 429:
            retries += 1
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        answer = Answer(item, response.status_code, elapsed, retries=retries)
        data = response.json()
        if response.status_code == 200:
            answer.seconds, answer.ai_marked = data.get("seconds"), data.get("ai_marked")
        else:
            answer.error = str(data.get("error", ""))[:200]
        return answer


def single_client(url: str, files: Sequence[MediaFile], warmups: int = 3) -> list[Answer]:
    """Each file once, one after the other, after ``warmups`` untimed requests."""
    import httpx2 as httpx

    with httpx.Client(timeout=600) as client:
        for item in files[:warmups]:
            upload(client, url, item)
        return [upload(client, url, item) for item in files]


@dataclass
class LoadRun:
    """One load phase: every answer, its wall time, and the server tree's peak memory."""

    answers: list[Answer]
    wall: float
    peak_tree_kib: int = 0
    peak_server_kib: int = 0
    #: CPU seconds of the server process (HTTP, forms, spooling) and of its workers.
    server_cpu: float = 0.0
    workers_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.answers) / self.wall


def load_phase(url: str, requested: Sequence[MediaFile], clients: int) -> LoadRun:
    """``clients`` threads uploading the request list, each taking the next request."""
    import httpx2 as httpx

    pending: queue.SimpleQueue[MediaFile] = queue.SimpleQueue()
    for item in requested:
        pending.put(item)
    answers: list[Answer] = []
    lock = threading.Lock()

    def client_thread() -> None:
        with httpx.Client(timeout=600) as client:
            while True:
                try:
                    item = pending.get_nowait()
                except queue.Empty:
                    return
                answer = upload(client, url, item)
                with lock:
                    answers.append(answer)

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadRun(answers, time.perf_counter() - began)


@dataclass
class BaselineRun:
    """One ``aigc-mark verify -j 2 --json`` run over the request list, and the same command's
    wall time on one picture (what starting it costs: imports, kernel loading, workers)."""

    files: int
    wall: float
    start_wall: float = 0.0
    wrong: int = 0
    returncode: int = 0
    #: CPU seconds of the verify run (the CLI and its worker processes).
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.files / self.wall

    @property
    def rate_started(self) -> float:
        """Files per second once started (the one-picture run's wall taken off)."""
        return self.files / max(1e-9, self.wall - self.start_wall)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _verify(paths: Sequence[Path]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds (the CLI and its workers) of ``verify -j 2`` over ``paths``."""
    command = [sys.executable, "-m", "marking", "verify", "-j", str(WORKERS), "--json"]
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [*command, "--no-progress", *map(str, paths)], capture_output=True, text=True
    )
    return time.perf_counter() - began, _children_cpu() - cpu, done


def verify_baseline(paths: Sequence[Path], marked: set[str], one: Path) -> BaselineRun:
    """``aigc-mark verify -j 2 --json --no-progress`` over ``paths`` as a user runs it, then
    over the picture ``one`` alone; counts the records without the expected verdict."""
    wall, cpu, done = _verify(paths)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    wrong = len(paths) - len(records)
    wrong += sum(
        1
        for r in records
        if r.get("status") != "verified" or r.get("ai_marked") != (r.get("input") in marked)
    )
    start_wall, _, _ = _verify([one])
    return BaselineRun(len(paths), wall, start_wall, wrong, done.returncode, cpu)


def zeros_after_jpeg_marker(total: int) -> Iterator[bytes]:
    """``total`` bytes: a JPEG start marker, then zeros, a MiB at a time."""
    head = b"\xff\xd8\xff\xe0"
    yield head
    sent, zeros = len(head), bytes(CHUNK)
    while sent < total:
        piece = zeros[: min(CHUNK, total - sent)]
        sent += len(piece)
        yield piece


def big_upload(url: str, pid: int, size: int) -> dict[str, Any]:
    """Stream ``size`` bytes as a raw body; the server's VmHWM before and after, the status,
    and the peak of the workers too (they read the file, the server only spools it)."""
    import httpx2 as httpx

    workers = descendants(pid)
    facts: dict[str, Any] = {"size": size, "reset": harness.reset_peak(pid)}
    facts["hwm_before_kib"] = _kib(pid, "VmHWM")
    facts["rss_before_kib"] = _kib(pid, "VmRSS")
    for worker in workers:
        harness.reset_peak(worker)
    facts["workers_hwm_before_kib"] = max((_kib(w, "VmHWM") for w in workers), default=0)
    began = time.perf_counter()
    with httpx.Client(timeout=900) as client:
        response = client.post(
            f"{url}/api/v1/verify?name=zeros.jpg",
            content=zeros_after_jpeg_marker(size),
            headers={"content-type": "application/octet-stream"},
        )
    facts["wall"] = time.perf_counter() - began
    facts["status"] = response.status_code
    facts["answer"] = response.text.strip()[:200]
    facts["hwm_after_kib"] = _kib(pid, "VmHWM")
    facts["workers_hwm_after_kib"] = max((_kib(w, "VmHWM") for w in workers), default=0)
    return facts


# --- the report ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation), NaN for no values."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def _ms(value: float) -> str:
    return "-" if value != value else f"{1000 * value:.0f}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def latency_table(answers: Sequence[Answer], rows: Sequence[str]) -> list[str]:
    """p50/p95 of the round trip and of the server-side seconds, per row (a kind, or a kind
    and whether it is marked)."""

    def chosen(row: str) -> list[Answer]:
        return [a for a in answers if a.status == 200 and row in (a.file.kind, a.file.label)]

    def cell(row: str, column: str) -> str | None:
        picked = chosen(row)
        if column == "requests":
            return str(len(picked))
        values = [a.round_trip if column.startswith("round") else a.seconds for a in picked]
        q = 50 if column.endswith("p50 (ms)") else 95
        return _ms(percentile([v for v in values if v is not None], q))

    columns = ["requests", "round trip p50 (ms)", "round trip p95 (ms)"]
    columns += ["server p50 (ms)", "server p95 (ms)"]
    return grid("kind", [r for r in rows if chosen(r)], columns, cell)


def statuses_text(answers: Sequence[Answer]) -> str:
    counts = Counter(a.status for a in answers)
    return ", ".join(
        f"{count} x {status or 'no answer'}" for status, count in sorted(counts.items())
    )


def rounds_table(loads: Sequence[LoadRun], baselines: Sequence[BaselineRun]) -> list[str]:
    """One line per paired round: the server under load beside ``verify -j 2``."""
    out = [
        "| round | server: requests, wall | server req/s | 429 answers (retried) | statuses | "
        "peak RSS, server tree | peak RSS, server alone | CPU: server process, workers | "
        "verify -j 2: files, wall, CPU | "
        "verify files/s | server / verify | verify, one picture | verify files/s once "
        "started | server / verify once started |",
        "| --- |" + " --- |" * 13,
    ]
    for index, (load, base) in enumerate(zip(loads, baselines, strict=True), 1):
        retried = sum(a.retries for a in load.answers)
        out.append(
            f"| {index} | {len(load.answers)}, {load.wall:.1f} s | {load.rate:.2f} | {retried} | "
            f"{statuses_text(load.answers)} | {_mib(load.peak_tree_kib)} | "
            f"{_mib(load.peak_server_kib)} | {load.server_cpu:.1f} s, {load.workers_cpu:.1f} s | "
            f"{base.files}, {base.wall:.1f} s, {base.cpu:.1f} s | {base.rate:.2f} | "
            f"{100 * load.rate / base.rate:.0f} % | {base.start_wall:.1f} s | "
            f"{base.rate_started:.2f} | {100 * load.rate / base.rate_started:.0f} % |"
        )
    return out


def big_upload_lines(facts: dict[str, Any] | None) -> list[str]:
    if facts is None:
        return ["Skipped (`--big-upload-gb 0`)."]
    growth = facts["hwm_after_kib"] - facts["hwm_before_kib"]
    reset = "reset through clear_refs" if facts["reset"] else "could NOT be reset"
    return [
        f"- Body: {facts['size'] / 1e9:.2f} GB, raw (`application/octet-stream`, chunked), a "
        f"JPEG start marker then zeros, sent in {facts['wall']:.1f} s.",
        f"- Answer: {facts['status']} `{facts['answer']}`",
        f"- Server process VmHWM ({reset} just before): {_mib(facts['hwm_before_kib'])} before, "
        f"{_mib(facts['hwm_after_kib'])} after: **{growth / 1024:+.1f} MiB** "
        f"(VmRSS before: {_mib(facts['rss_before_kib'])}).",
        f"- Largest worker VmHWM (reset too): {_mib(facts['workers_hwm_before_kib'])} before, "
        f"{_mib(facts['workers_hwm_after_kib'])} after (the worker reads the spooled file).",
    ]


def report(
    machine: Machine,
    facts: dict[str, str],
    single: list[Answer],
    loads: list[LoadRun],
    baselines: list[BaselineRun],
    big: dict[str, Any] | None,
    command: str,
) -> str:
    jpeg_p50 = percentile([a.seconds for a in single if a.file.kind == "image" and a.seconds], 50)
    load_rate = statistics.median(r.rate for r in loads)
    base_rate = statistics.median(r.rate for r in baselines)
    pairs = list(zip(loads, baselines, strict=True))
    share = statistics.median(load.rate / base.rate for load, base in pairs)
    share_started = statistics.median(load.rate / base.rate_started for load, base in pairs)
    every = [a for run in loads for a in run.answers]
    fives = sum(1 for a in every if a.status >= 500 or a.status == 0)
    wrong = [a for a in [*single, *every] if not a.expected]
    labels = [f"{kind}, {state}" for kind in KINDS for state in ("marked", "unmarked")]
    out = report_head("Detection server under load (`aigc-mark serve`)", machine, facts)
    out += ["", "## Summary", ""]
    out += [
        f"- 1080p JPEG, single client, warm: **{1000 * jpeg_p50:.0f} ms** p50 server-side "
        f"(target <= {TARGET_JPEG_P50_MS:.0f} ms: "
        f"{'met' if jpeg_p50 * 1000 <= TARGET_JPEG_P50_MS else 'NOT met'}).",
        f"- Under load: **{load_rate:.2f} req/s** (median of the rounds) against "
        f"{base_rate:.2f} files/s for `aigc-mark verify -j {WORKERS}` on the same files: "
        f"**{100 * share:.0f} %** (median of the paired rounds' ratios, {len(pairs)} round(s); "
        f"target >= {100 * TARGET_SHARE:.0f} %: {'met' if share >= TARGET_SHARE else 'NOT met'});"
        f" against `verify` once started (its start, measured on one picture, taken off): "
        f"**{100 * share_started:.0f} %**.",
        f"- Statuses under load: {statuses_text(every)}; 5xx or no answer: **{fives}**; 429 "
        f"answers retried: {sum(a.retries for a in every)}.",
        f"- Peak RSS of the server tree under load: **{_mib(max(r.peak_tree_kib for r in loads))}"
        f"** (server process alone {_mib(max(r.peak_server_kib for r in loads))}).",
        f"- Verdicts: {len(wrong)} of {len(single) + len(every)} requests not answered 200 with "
        "the expected verdict (marked files `ai_marked`, unmarked ones not); `verify -j 2`: "
        f"{sum(b.wrong for b in baselines)} of {sum(b.files for b in baselines)}.",
    ]
    if big is not None:
        growth = (big["hwm_after_kib"] - big["hwm_before_kib"]) / 1024
        out.append(
            f"- {big['size'] / 1e9:g} GB upload: status {big['status']}, server VmHWM "
            f"{growth:+.1f} MiB."
        )
    out += ["", "## Single client, warm (each file once, after 3 warm-up requests)", ""]
    out += latency_table(single, [*labels[:2], "image", *labels[2:]])
    out += ["", f"## Load: {len(loads[0].answers)} requests from the clients, per round", ""]
    out += rounds_table(loads, baselines)
    out += ["", "Latency under load, every round together:", ""]
    out += latency_table(every, [*KINDS, *labels])
    out += ["", "## A 2 GB upload: the server's memory", ""]
    out += big_upload_lines(big)
    if wrong:
        out += ["", "## Requests without the expected answer", ""]
        out += [f"- {a.file.path.name} ({a.file.label}): {a.status} {a.error}" for a in wrong[:20]]
    out += ["", "## Method", "", *METHOD, "", "Command:", "", "```sh", command, "```", ""]
    return "\n".join(out)


METHOD = [
    "- The server is a real `python -m marking serve --port 0 --workers 2` (uvicorn, one event "
    "loop, two warm spawned verification workers) on 127.0.0.1, started once; the clients are "
    "threads of this script, each with its own `httpx2.Client` (keep-alive), uploading "
    "`multipart/form-data` with the file in the field `file`.",
    "- *Round trip* is the client's time from sending the request to the parsed answer; "
    "*server* is the record's `seconds`, the verification inside the worker (reading, "
    "metadata, C2PA, watermark), without the upload, spooling, queueing and the answer.",
    "- Under load the request list is every file, repeated and shuffled with a fixed seed; "
    "a 429 is retried after its `Retry-After` and counted, and its waiting is in the "
    "round trip of the request it retries; req/s is requests answered over the phase's wall.",
    "- `verify -j 2` gets the same list (repeats are hard links in their own folders) in one "
    "run; its wall time includes the CLI's start (imports, kernel cache loading, worker "
    "start), which the warm server has already paid; the same command on one picture, run "
    "right after, gives that start's cost, and *once started* takes it off. Rounds alternate "
    "which goes first.",
    "- CPU: user and system time of the server process (HTTP, forms, spooling, answers) and "
    "of its workers (verification) over the load phase, from /proc/PID/stat; of `verify` (the "
    "CLI and its workers), from getrusage(RUSAGE_CHILDREN).",
    "- Peak RSS: a thread reads /proc/PID/status (VmRSS) of the server and of every "
    "descendant every 0.1 s during the load phase; *tree* is the highest sum seen.",
]


# --- the run -------------------------------------------------------------------------------------


def _machine() -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "av", "uvicorn", "starlette", "httpx2"),
        extra={"FFmpeg (libavcodec)": harness.ffmpeg_version()},
    )


def _options(argv: list[str] | None) -> Any:
    parser = harness.arguments(__doc__, tmpdir=True, output="serve-load.md", no_write="the report")
    parser.add_argument("--pictures", type=int, default=24, help="1080p JPEGs (24)")
    parser.add_argument("--recordings", type=int, default=4, help="30 s WAVs (4)")
    parser.add_argument("--clips", type=int, default=2, help="10 s 1080p30 clips (2)")
    parser.add_argument("--requests", type=int, default=96, help="requests under load (96)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (3)")
    parser.add_argument("--big-upload-gb", type=float, default=2.0, help="0: skip (2)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 6 pictures, 2 recordings, 2 clips, 24 requests, one round, a 0.2 GB "
        "upload; writes nothing unless --output is given",
    )
    options = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    options.given_output = any(arg.startswith("--output") for arg in given)
    if options.quick:
        options.pictures, options.recordings, options.clips = 6, 2, 2
        options.requests, options.big_upload_gb = 24, min(options.big_upload_gb, 0.2)
        options.rounds = 1
        if not options.given_output:
            options.no_write = True
    return options


def run_rounds(
    server: Any, sampler: TreeSampler, requested: list[MediaFile], paths: list[Path], options: Any
) -> tuple[list[LoadRun], list[BaselineRun]]:
    """The load phase and the ``verify -j 2`` baseline in paired rounds."""
    loads: list[LoadRun] = []
    baselines: list[BaselineRun] = []

    def serve() -> None:
        sampler.reset()
        pid, workers = server.process.pid, descendants(server.process.pid)
        server_cpu, workers_cpu = cpu_seconds(pid), sum(map(cpu_seconds, workers))
        run = load_phase(server.url, requested, options.clients)
        run.server_cpu = cpu_seconds(pid) - server_cpu
        run.workers_cpu = sum(map(cpu_seconds, workers)) - workers_cpu
        run.peak_tree_kib, run.peak_server_kib = sampler.peak_tree_kib, sampler.peak_server_kib
        server.read_log()
        loads.append(run)
        log(f"    {run.rate:.2f} req/s, {statuses_text(run.answers)}")

    marked = {str(path) for path, item in zip(paths, requested, strict=True) if item.marked}
    one = next(path for path, item in zip(paths, requested, strict=True) if item.kind == "image")

    def baseline() -> None:
        run = verify_baseline(paths, marked, one)
        baselines.append(run)
        log(f"    {run.rate:.2f} files/s (exit {run.returncode}, {run.wrong} wrong verdicts)")

    cases: dict[str, Callable[[], object]] = {"server": serve, f"verify -j {WORKERS}": baseline}
    harness.paired_rounds(cases, options.rounds)
    return loads, baselines


def main(argv: list[str] | None = None) -> int:
    from tests.support.server import running_server

    options = _options(argv)
    started = time.perf_counter()
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python bench/serve_load.py", *given])
    big_size = int(options.big_upload_gb * 1e9)
    max_mb = max(2100, int(big_size / 2**20) + 64)
    with harness.work_directory("serve-load-", options.tmpdir, needed=big_size + 3e9) as work:
        if work is None:
            return 1
        files = build_media(work, options.pictures, options.recordings, options.clips)
        requested = request_list(files, options.requests)
        paths = linked_copies(requested, work / "requested")
        log(f"load average {harness.load_average_text()}; starting the server ...")
        machine = _machine()
        args = ["--workers", str(WORKERS), "--max-upload-mb", str(max_mb)]
        with running_server(*args) as server, TreeSampler(server.process.pid) as sampler:
            log("single client ...")
            jpegs = [f for f in files if f.kind == "image"]
            single = single_client(server.url, [*jpegs, *(f for f in files if f.kind != "image")])
            log(f"load ({options.clients} clients, {len(requested)} requests) and verify -j 2:")
            loads, baselines = run_rounds(server, sampler, requested, paths, options)
            log(f"load average after the rounds: {harness.load_average_text()}")
            big = None
            if big_size:
                log(f"a {big_size / 1e9:g} GB upload ...")
                big = big_upload(server.url, server.process.pid, big_size)
            server.read_log()
        facts = {
            "Media": media_text(files),
            "Server": f"`aigc-mark serve --workers {WORKERS} --max-upload-mb {max_mb}` "
            f"(queue: the default, 4 per worker), {options.clients} clients",
            "Load average after the load rounds (1, 5, 15 min)": harness.load_average_text(),
        }
    text = report(machine, facts, single, loads, baselines, big, command)
    print(text)
    if not options.no_write:
        harness.write_report(text, options.output)
    log(f"done in {time.perf_counter() - started:.0f} s")
    every = [*single, *(a for run in loads for a in run.answers)]
    return 0 if all(a.expected for a in every) else 1


def media_text(files: Sequence[MediaFile]) -> str:
    parts = []
    for kind, what in zip(
        KINDS,
        ("1920x1080 JPEG", "30 s 44.1 kHz stereo WAV", "10 s 1080p30 H.264 + AAC MP4 (bbb)"),
        strict=True,
    ):
        chosen = [f for f in files if f.kind == kind]
        if chosen:
            size = statistics.mean(f.path.stat().st_size for f in chosen) / 1e6
            marked = sum(f.marked for f in chosen)
            parts.append(f"{len(chosen)} x {what} ({marked} marked, {size:.1f} MB each on average)")
    return "; ".join(parts) + f"; marked with `aigc-mark mark --producer {PRODUCER}`"


if __name__ == "__main__":
    sys.exit(main())
