"""Shared set-up of the atheris harnesses: import path, seed corpus, the run itself.

Each harness is ``python fuzz/fuzz_<parser>.py [libFuzzer options]``; ``make fuzz`` passes
``-max_total_time=60``. The seeds (small valid files from ``tests/support/fuzz_seeds.py``, plus
every
input that once crashed the harness, kept in ``tests/data/fuzz-regressions/<harness>/`` and
replayed by ``tests/tags/test_fuzz_parsers.py``) go to a temporary corpus directory, which
libFuzzer also uses for the inputs it finds. A finding is any exception that escapes
``TestOneInput`` (the harnesses let through only the toolkit's documented errors) or a
failed assertion; pass ``-artifact_prefix=DIR/`` to choose where libFuzzer writes it.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import tempfile
import types
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
#: Inputs that crashed a harness once, by harness (``fuzz_xmp.py`` -> ``xmp/``).
REGRESSIONS = ROOT / "tests" / "data" / "fuzz-regressions"


def regressions(harness: str) -> list[Path]:
    """The saved crash inputs of ``harness`` (a name such as ``"av_tags"``)."""
    directory = REGRESSIONS / harness
    return sorted(path for path in directory.glob("*") if path.is_file())


def run(
    test_one_input: Callable[[bytes], None],
    seeds: Iterable[bytes],
    packages: Sequence[str] = ("marking",),
    *,
    dataflow: bool = True,
) -> None:
    """Fuzz ``test_one_input`` starting from ``seeds`` (options come from ``sys.argv``).

    Coverage feedback comes from every Python function of ``packages`` (the toolkit, plus
    pure-Python parsers a harness leans on, such as mutagen): module functions, methods,
    class and static methods and closures alike. The seeds run once first, so that modules
    the code imports on first use are loaded, and instrumented, too. ``dataflow=False``
    leaves out atheris's tracing of comparisons (branch coverage only): in atheris 3.0.0 an
    instrumented comparison whose result is not a bool (``array != 0``) leaks that result, about
    1 KB per ``decode_payload`` call, 1.8 GB in a 4-minute run.
    """
    import atheris

    harness = Path(sys.argv[0]).stem.removeprefix("fuzz_")
    seeds = [*seeds, *(path.read_bytes() for path in regressions(harness))]
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):  # no corpus or crash file given
        corpus = Path(tempfile.mkdtemp(prefix="aigc-fuzz-corpus-"))
        for index, seed in enumerate(seeds):
            (corpus / f"seed-{index}").write_bytes(seed)
        argv.append(str(corpus))
    for seed in seeds:
        with contextlib.suppress(Exception):
            test_one_input(seed)
    _instrument(packages, dataflow)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def _instrument(packages: Sequence[str], dataflow: bool = True) -> None:
    """Instrument every function object now alive whose module is in ``packages``."""
    import atheris

    objects = gc.get_objects()
    # Numba compiles a kernel from its Python function's bytecode, which must stay as written
    # (instrumented, it fails to type: "Unknown attribute '_trace_branch' of Module(atheris)").
    jitted = {
        id(value.py_func)
        for value in objects
        if str(getattr(type(value), "__module__", "")).startswith("numba.")
        and hasattr(value, "py_func")
    }
    patched: dict[types.CodeType, types.CodeType] = {}
    for value in objects:
        if not isinstance(value, types.FunctionType) or id(value) in jitted:
            continue
        module = getattr(value, "__module__", None) or ""
        if not any(module == name or module.startswith(name + ".") for name in packages):
            continue
        original = value.__code__
        if original in patched:  # another closure of the same code
            value.__code__ = patched[original]
            continue
        with contextlib.suppress(Exception):
            value.__code__ = atheris.patch_code(original, dataflow)
            patched[original] = value.__code__


def workdir() -> Path:
    """A scratch directory for harnesses that parse files."""
    return Path(tempfile.mkdtemp(prefix="aigc-fuzz-"))
