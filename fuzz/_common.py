"""Shared set-up of the atheris harnesses: import path, seed corpus, the run itself.

Each harness is ``python fuzz/fuzz_<parser>.py [libFuzzer options]``; ``make fuzz`` passes
``-max_total_time=60``. The seeds (small valid files from ``tests/fuzz_seeds.py``) go to a
temporary corpus directory, which libFuzzer also uses for the inputs it finds.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(test_one_input: Callable[[bytes], None], seeds: Iterable[bytes]) -> None:
    """Fuzz ``test_one_input`` starting from ``seeds`` (options come from ``sys.argv``)."""
    import atheris

    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):  # no corpus or crash file given
        corpus = Path(tempfile.mkdtemp(prefix="aigc-fuzz-corpus-"))
        for index, seed in enumerate(seeds):
            (corpus / f"seed-{index}").write_bytes(seed)
        argv.append(str(corpus))
    # Coverage feedback for the toolkit's own code (everything imported so far from marking).
    for name, module in list(sys.modules.items()):
        if name == "marking" or name.startswith("marking."):
            for value in vars(module).values():
                if callable(value) and getattr(value, "__module__", None) == name:
                    with contextlib.suppress(Exception):
                        atheris.instrument_func(value)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def workdir() -> Path:
    """A scratch directory for harnesses that parse files."""
    return Path(tempfile.mkdtemp(prefix="aigc-fuzz-"))
