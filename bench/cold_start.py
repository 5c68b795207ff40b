"""Cold start of one CLI call: ``aigc-mark detect`` of a 1080p JPEG, ``embed`` of a 30 s WAV.

Each call of the command line pays for the interpreter, the imports and loading the cached
Numba kernels before any work. This script measures, for each code tree given (default: this
checkout), the cold wall time of the call as a subprocess (median of ``--repeats`` runs after
an untimed one, so Numba's cache is populated), the warm in-process time of the same work
(``files.detect_file`` / ``files.embed_audio_file`` after one warm-up call) and their
difference, the overhead. A driver process splits a cold call into its phases (CLI module,
the verb's imports, Numba's target start-up, loading kernels from the cache, the rest of the
first call), and ``python -X importtime`` names the top importers. audiowmark's CLI is timed on
the same WAV where it is installed. Writes ``bench/results/cold-start.md``.

    python bench/cold_start.py                       # this checkout
    python bench/cold_start.py --tree before=/tmp/base --tree after=.   # compare two trees

The machine's load average is reported with the figures: other jobs slow every cold start.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import KEY, PAYLOAD_HEX, ROOT, SAMPLES, log
from results_writer import grid, report_head

#: The photo resized to 1920x1080 for the detect case, and the recording looped to 30 s.
PHOTO = SAMPLES / "photo-dandelions.jpg"
WAV_SECONDS = 30.0
WAV_RATE = 44100
#: The packages a cold call should not load unless its verb needs them.
WATCHED = (
    "numba", "scipy", "scipy.linalg", "scipy.ndimage", "scipy.signal", "scipy.stats",
    "scipy.fft", "av", "soundfile", "PIL", "dask", "distributed", "tqdm", "mutagen", "c2pa",
    "cryptography", "matplotlib",
)  # fmt: skip

#: Runs in a fresh interpreter (the tree on PYTHONPATH): times the phases of a cold call of
#: the same work as the CLI's, then the warm calls. argv: verb, input, work dir, repeats.
DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
verb, src, workdir, repeats, key, payload, attribute = sys.argv[1:8]
phases = {}
def stamp(name, since):
    now = time.perf_counter(); phases[name] = now - since; return now
import marking.cli.main
t = stamp("CLI modules (marking.cli.main)", t0)
if verb == "detect":
    from marking.files.image import detect_file
    def work(i): return detect_file(src, key=key)
else:
    from marking.files.audio import embed_audio_file
    def work(i): return embed_audio_file(src, f"{workdir}/warm-{i}.wav", key=key, payload=payload)
t = stamp("the verb's imports (files module)", t)
loads = [0, 0.0]
if attribute == "1":  # the call loads Numba anyway: take its start-up apart first
    import numba
    t = stamp("import numba", t)
    from numba.core.registry import cpu_target
    cpu_target.typing_context.refresh(); cpu_target.target_context.refresh()
    t = stamp("Numba's target start-up (typing and target contexts)", t)
    from numba.core import caching
    original = caching.Cache.load_overload
    def counted(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            loads[0] += 1; loads[1] += time.perf_counter() - start
    caching.Cache.load_overload = counted
before = set(sys.modules)
work(0)
first = time.perf_counter() - t
new = sorted({name.split(".")[0] for name in set(sys.modules) - before}
             - set(sys.stdlib_module_names) - {"marking"})
new = [name for name in new if not name.startswith("_")]
warm, warm_cpu = [], []
for i in range(int(repeats)):
    start, cpu = time.perf_counter(), time.process_time(); work(i + 1)
    warm.append(time.perf_counter() - start); warm_cpu.append(time.process_time() - cpu)
print(json.dumps({"phases": phases, "first": first, "loads": loads, "warm": warm,
                  "warm_cpu": warm_cpu,
                  "imported_in_call": new, "numba": "numba" in sys.modules}))
"""


@dataclass
class Case:
    """One verb on one input: the CLI arguments (``{out}`` is a fresh output path)."""

    name: str
    verb: str
    source: Path
    arguments: list[str]


@dataclass
class Result:
    """The figures of one case on one tree."""

    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    cold_cpu: list[float] = field(default_factory=list)
    warm_cpu: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    first_call: float = 0.0
    kernel_loads: tuple[int, float] = (0, 0.0)
    imported_in_call: list[str] = field(default_factory=list)
    top_importers: list[tuple[str, float]] = field(default_factory=list)
    watched: dict[str, str] = field(default_factory=dict)

    @property
    def overhead(self) -> float:
        return statistics.median(self.cold) - statistics.median(self.warm)

    @property
    def overhead_cpu(self) -> float:
        return statistics.median(self.cold_cpu) - statistics.median(self.warm_cpu)


def make_inputs(workdir: Path) -> tuple[Path, Path]:
    """A marked 1920x1080 JPEG and an unmarked 30 s 44.1 kHz stereo 16-bit WAV."""
    import soundfile as sf
    from PIL import Image

    from marking.files.image import embed_file
    from tests.support.audio_clips import speech_sample, with_channels

    photo = workdir / "photo-1080p.jpg"
    with Image.open(PHOTO) as image:
        image.convert("RGB").resize((1920, 1080), Image.Resampling.LANCZOS).save(photo, quality=92)
    marked = workdir / "marked-1080p.jpg"
    embed_file(photo, marked, key=KEY, payload=PAYLOAD_HEX)
    wav = workdir / "speech-30s.wav"
    samples = with_channels(speech_sample(WAV_SECONDS, WAV_RATE), 2)
    sf.write(wav, samples, WAV_RATE, subtype="PCM_16")
    return marked, wav


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def run_in(tree: Path, command: list[str], **options: object) -> subprocess.CompletedProcess:
    """``command`` with ``tree`` on PYTHONPATH, run from the system's temporary directory:
    ``-m`` and ``-c`` put the working directory first on the module search path, so run from a
    checkout they would import its ``marking`` whatever the tree."""
    return subprocess.run(command, env=environment(tree), cwd=tempfile.gettempdir(), **options)


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_call(
    python: str, tree: Path, case: Case, out: Path, cpu: list[float] | None = None
) -> float:
    """Wall seconds of one ``python -m marking VERB ...`` (exit 0 required); its CPU
    seconds are appended to ``cpu`` (less swayed by the other jobs on a shared machine)."""
    arguments = [a.replace("{out}", str(out)) for a in case.arguments]
    out.unlink(missing_ok=True)
    start, used = time.perf_counter(), children_cpu()
    done = run_in(tree, [python, "-m", "marking", *arguments], capture_output=True)
    wall = time.perf_counter() - start
    if cpu is not None:
        cpu.append(children_cpu() - used)
    if done.returncode != 0:
        raise SystemExit(f"{case.name}: exit {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall


def importtime(python: str, tree: Path, case: Case, out: Path) -> list[tuple[int, str, float]]:
    """``-X importtime`` of one cold call: (depth, module, cumulative ms), in import order."""
    arguments = [a.replace("{out}", str(out)) for a in case.arguments]
    out.unlink(missing_ok=True)
    done = run_in(
        tree,
        [python, "-X", "importtime", "-m", "marking", *arguments],
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, _, cumulative, name = line.split("|", 1)[0], None, *line.split("|")[1:]
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, name.strip(), int(cumulative) / 1000))
    return rows


def who_imported(rows: list[tuple[int, str, float]], module: str) -> str | None:
    """``module`` and its chain of importers up to the top level, or None if never imported.

    A package that SciPy loads lazily (``from scipy import signal``) has no line of its own:
    its costliest submodule stands for it."""
    exact = [i for i, row in enumerate(rows) if row[1] == module]
    inside = [i for i, row in enumerate(rows) if row[1].startswith(module + ".")]
    if not exact and not inside:
        return None
    index = exact[0] if exact else max(inside, key=lambda i: rows[i][2])
    depth, name, ms = rows[index]
    chain, level = [f"{name} {ms:.0f} ms"], depth
    for parent_depth, parent, _ in rows[index + 1 :]:
        if level == 0:
            break
        if parent_depth < level:
            chain.append(parent)
            level = parent_depth
    return " <- ".join(chain)


def run_driver(
    python: str, tree: Path, case: Case, repeats: int, workdir: Path, attribute: bool
) -> dict:
    """The :data:`DRIVER`'s figures for ``case`` in a fresh interpreter."""
    arguments = [case.verb, str(case.source), str(workdir), str(repeats), KEY, PAYLOAD_HEX]
    command = [python, "-c", DRIVER, *arguments, "1" if attribute else "0"]
    done = run_in(tree, command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_calls(
    python: str, trees: dict[str, Path], case: Case, repeats: int, workdir: Path
) -> dict[str, tuple[list[float], list[float]]]:
    """Cold wall seconds of ``case`` on every tree: one untimed call each (Numba's cache,
    the file cache), then paired rounds whose order rotates, so a busy spell of the shared
    machine falls on every tree alike."""
    out = workdir / f"cli-out{case.source.suffix}"
    for tree in trees.values():
        cold_call(python, tree, case, out)
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    calls = {
        name: functools.partial(cold_call, python, tree, case, out, cpu[name])
        for name, tree in trees.items()
    }
    timings = harness.paired_rounds(calls, repeats, report=False)
    return {name: (list(timing.wall), cpu[name]) for name, timing in timings.items()}


def measure(python: str, tree: Path, case: Case, repeats: int, workdir: Path) -> Result:
    """The phases, warm calls and importers of ``case`` on one tree (cold calls apart)."""
    result = Result()
    out = workdir / f"cli-out{case.source.suffix}"
    driver = run_driver(python, tree, case, repeats, workdir, attribute=False)
    result.imported_in_call = driver["imported_in_call"]
    if driver["numba"]:  # again, with Numba's start-up and cache loading timed apart
        driver = run_driver(python, tree, case, repeats, workdir, attribute=True)
    result.warm = driver["warm"]
    result.warm_cpu = driver["warm_cpu"]
    result.phases = driver["phases"]
    result.first_call = driver["first"]
    result.kernel_loads = (driver["loads"][0], driver["loads"][1])
    rows = importtime(python, tree, case, out)
    tops = sorted(((n, ms) for d, n, ms in rows if d == 0), key=lambda r: -r[1])
    result.top_importers = tops[:10]
    for module in WATCHED:
        chain = who_imported(rows, module)
        if chain is not None:
            result.watched[module] = chain
    for stale in workdir.glob("warm-*.wav"):
        stale.unlink()
    return result


def interpreter_floor(python: str, repeats: int) -> dict[str, float]:
    """Median cold wall time of bare start-ups, the floor under every call."""
    snippets = {
        "python -c pass": "pass",
        "+ import numpy": "import numpy",
        "+ import numpy, PIL.Image": "import numpy, PIL.Image",
        "+ import numba": "import numba",
        "+ Numba's target start-up": "import numba\nfrom numba.core.registry import cpu_target\n"
        "cpu_target.typing_context.refresh(); cpu_target.target_context.refresh()",
    }
    floor = {}
    for label, code in snippets.items():
        runs = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            subprocess.run([python, "-c", code], cwd=tempfile.gettempdir(), check=True)
            runs.append(time.perf_counter() - start)
        floor[label] = statistics.median(runs[1:])
    return floor


def audiowmark(wav: Path, workdir: Path, repeats: int) -> float | None:
    """Median wall time of ``audiowmark add`` on the WAV, or None when it is not installed."""
    program = shutil.which("audiowmark")
    if program is None:
        return None
    runs = []
    for index in range(repeats + 1):
        out = workdir / f"audiowmark-{index}.wav"
        start = time.perf_counter()
        subprocess.run([program, "add", str(wav), str(out), "0123456789abcdef0123456789abcdef"],
                       check=True, capture_output=True)  # fmt: skip
        runs.append(time.perf_counter() - start)
        out.unlink(missing_ok=True)
    return statistics.median(runs[1:])


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f}"


def report(
    results: dict[tuple[str, str], Result],
    trees: dict[str, Path],
    cases: list[Case],
    floor: dict[str, float],
    peer: float | None,
    loads: tuple[str, str],
    repeats: int,
) -> str:
    machine = harness.describe_machine(["numba", "numpy", "scipy", "pillow", "soundfile"])
    lines = report_head(
        "Cold start of one CLI call",
        machine,
        {
            "Runs": f"median of {repeats} cold calls (`python -m marking ...`) after an untimed "
            "one, in rounds that rotate the trees' order; warm = median of "
            f"{repeats} in-process calls after one warm-up",
            "Load average (1, 5, 15 min) at start / end": f"{loads[0]} / {loads[1]}",
            "Trees": ", ".join(f"{name} = `{harness.shown(path)}`" for name, path in trees.items()),
        },
    )
    lines += [
        "",
        "## Overhead = cold CLI call - warm in-process work (ms)",
        "",
        "Wall time is what a user waits; CPU time (user + system of the call's process, and of "
        "the warm calls) is less swayed by the other jobs of a shared machine. The target is "
        "on wall time, on a quiet machine.",
        "",
    ]
    columns = ["cold", "warm", "overhead", "CPU: cold", "CPU: warm", "CPU: overhead", "target"]
    rows = [f"{case.name}, {tree}" for case in cases for tree in trees]

    def cell(row: str, column: str) -> str:
        case_name, tree = row.split(", ")
        result = results[(case_name, tree)]
        return {
            "cold": ms(statistics.median(result.cold)),
            "warm": ms(statistics.median(result.warm)),
            "overhead": ms(result.overhead),
            "CPU: cold": ms(statistics.median(result.cold_cpu)),
            "CPU: warm": ms(statistics.median(result.warm_cpu)),
            "CPU: overhead": ms(result.overhead_cpu),
            "target": "<= 500",
        }[column]

    lines += grid("case, tree", rows, columns, cell)
    if peer is not None:
        lines += ["", f"audiowmark `add` on the same WAV: {ms(peer)} ms."]
    else:
        lines += ["", "audiowmark is not installed here: no peer figure."]
    lines += ["", "## Where a cold call's time goes (one driver process, ms)", ""]
    for case in cases:
        for tree in trees:
            result = results[(case.name, tree)]
            count, seconds = result.kernel_loads
            lines += [f"**{case.name}, {tree}**", ""]
            lines += [f"- {name}: {ms(value)}" for name, value in result.phases.items()]
            lines.append(
                f"- first call: {ms(result.first_call)}, of which loading {count} kernel "
                f"signatures from Numba's cache {ms(seconds)}; warm call "
                f"{ms(statistics.median(result.warm))}"
            )
            lines.append(
                "- packages first imported inside the call: "
                + (", ".join(result.imported_in_call) or "none")
            )
            lines.append(
                "- top importers (`-X importtime`, cumulative): "
                + ", ".join(f"{name} {value:.0f}" for name, value in result.top_importers)
            )
            lines.append("- heavy packages loaded, with who imported them:")
            lines += [f"  - {chain}" for chain in result.watched.values()]
            lines.append("")
    lines += ["## The floor: bare interpreter start-ups (median, ms)", ""]
    lines += [f"- {label}: {ms(value)}" for label, value in floor.items()]
    lines += [
        "",
        "Overhead is what a single call pays beyond the work itself: the interpreter, imports, "
        "Numba's start-up and loading the kernels from its cache, and the first call's type "
        "dispatch. `-X importtime` figures are inflated by its own bookkeeping; the phase "
        "figures are wall times in one process.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = harness.arguments(__doc__, tmpdir=True, repeats=7, output="cold-start.md",
                               no_write="the report")  # fmt: skip
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a code tree to measure (its marking/ on PYTHONPATH); repeatable",
    )
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree) if args.tree else {"this": str(ROOT)}
    trees_paths = {name: Path(path).resolve() for name, path in trees.items()}
    started = time.perf_counter()
    load_start = harness.load_average_text()
    with harness.work_directory("cold-start-", args.tmpdir) as workdir:
        assert workdir is not None
        marked, wav = make_inputs(workdir)
        cases = [
            Case("detect 1080p JPEG", "detect", marked, ["detect", str(marked), "--key", KEY]),
            Case("embed 30 s WAV", "embed", wav,
                 ["embed", str(wav), "-o", "{out}", "--key", KEY, "--payload", PAYLOAD_HEX]),
        ]  # fmt: skip
        results = {}
        for case in cases:
            log(f"{case.name}: cold calls ...")
            cold = cold_calls(args.python, trees_paths, case, args.repeats, workdir)
            for name, tree in trees_paths.items():
                log(f"{case.name}, {name}: phases, warm calls, importers ...")
                results[(case.name, name)] = measure(args.python, tree, case, args.repeats, workdir)
                results[(case.name, name)].cold, results[(case.name, name)].cold_cpu = cold[name]
        floor = interpreter_floor(args.python, args.repeats)
        peer = audiowmark(wav, workdir, args.repeats)
    text = report(results, trees_paths, cases, floor, peer,
                  (load_start, harness.load_average_text()), args.repeats)  # fmt: skip
    print(text)
    if not args.no_write:
        harness.write_report(text, args.output)
    log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
