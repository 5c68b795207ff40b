"""AOT-compiled kernels (marking/kernels/aot.py): defined without Numba, looked up by the exact
Numba type of each argument, used only when built from these sources, same results as JIT."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from marking.kernels import aot

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter whose Numba cache (and so AOT directory) is ``cache``."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_kernels_and_single_threaded_do_not_load_numba(tmp_path: Path) -> None:
    done = _python(
        """
        import sys
        from marking.kernels import blur, block_dct, luma, masking, spectral, tiling, viterbi
        from marking.kernels.config import single_threaded
        with single_threaded():
            pass
        print("numba" in sys.modules)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


_VALUES = {
    "C float32": np.zeros((4, 6), np.float32),
    "F float64": np.asfortranarray(np.zeros((4, 6))),
    "strided uint8": np.zeros((4, 6, 3), np.uint8)[:, ::2],
    "readonly uint16": np.zeros((4, 6), np.uint16),
    "complex64 3-D slice": np.zeros((2, 3, 8), np.complex64)[:, :, :5],
    "bool": np.zeros((2, 3), np.bool_),
    "1-D int64": np.zeros(5, np.int64),
    "python int": 3,
    "python float": 0.5,
    "python bool": True,
    "numpy float32": np.float32(1.5),
    "numpy int32": np.int32(2),
}
_VALUES["readonly uint16"].setflags(write=False)


@pytest.mark.parametrize("name", list(_VALUES))
def test_argument_key_is_numbas_type(name: str) -> None:
    """A call may run an export only if Numba would have typed its arguments the same way: a
    strided array run as a contiguous one would read the wrong elements."""
    value = _VALUES[name]
    assert aot.argument_key((value,)) == (aot.parse_key(aot.type_key(numba.typeof(value))),)


def test_no_or_stale_extension_means_jit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert aot._load() == {}  # nothing built
    directory = aot.aot_directory()
    directory.mkdir()
    manifest = {"source_hash": "0" * 64, "module": "m", "file": "m.so", "exports": []}
    (directory / aot.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert aot._load() == {}  # other sources
    manifest["source_hash"] = aot.source_hash()
    (directory / aot.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert aot._load() == {}  # its extension is missing
    (directory / "m.so").write_bytes(b"not an extension")
    assert aot._load() == {}


@pytest.mark.slow  # about 20 s: a JIT compile of a parallel kernel and a C build
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no cc")
def test_built_kernel_runs_without_numba_and_matches_jit(tmp_path: Path) -> None:
    """Build an extension of the kernels one process used (a parallel one among them, calling
    another kernel), then a fresh process runs them from it without loading Numba."""
    built = _python(
        """
        import numpy as np
        from marking.kernels import aot, tiling
        plane = np.arange(300 * 200, dtype=np.float32).reshape(300, 200) % 251
        tiling.fold_periodic(plane, 64)
        tiling.fold_scaled_many(plane, np.array([64.0, 70.5]), np.array([64.0, 66.0]), 32)
        print(aot.build())
        """,
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    assert re.search(r"AOT kernels: \d+ signatures of \d+ kernels built", built.stdout), (
        built.stdout  # the two called, and the kernels they call when these were compiled
    )
    code = """
        import sys
        import numpy as np
        from marking.kernels import tiling
        plane = np.arange(300 * 200, dtype=np.float32).reshape(300, 200) % 251
        folded = tiling.fold_periodic(plane, 64)
        many = tiling.fold_scaled_many(plane, np.array([64.0, 70.5]), np.array([64.0, 66.0]), 32)
        np.save("{out}", np.concatenate([folded.ravel(), many.ravel()]))
        print("numba" in sys.modules)
        """
    with_aot = _python(
        code.replace("{out}", str(tmp_path / "aot.npy")), tmp_path, AIGC_MARKING_AOT="1"
    )
    with_jit = _python(
        code.replace("{out}", str(tmp_path / "jit.npy")), tmp_path, AIGC_MARKING_AOT="0"
    )
    assert (with_aot.stdout.strip(), with_jit.stdout.strip()) == ("False", "True"), with_aot.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "aot.npy"), np.load(tmp_path / "jit.npy"))


def test_build_without_compiler_or_pycc_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert aot.build() == "AOT kernels: no C compiler (no-such-compiler); kernels stay on JIT"
    monkeypatch.setitem(sys.modules, "numba.pycc", None)  # as if numba no longer shipped it
    assert aot.build() == "AOT kernels: numba.pycc is missing; kernels stay on JIT"
    assert not list(tmp_path.iterdir())


def test_unwritable_directory_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "file"))  # a file: no directory in it
    monkeypatch.setattr(aot, "_exports", lambda: ([("k", [], "k0", None, None)], []))
    message = aot.build()
    assert message.startswith("AOT kernels: cannot write ")
    assert message.endswith("JIT only")
    assert "\n" not in message


def test_kernels_pickle_by_name() -> None:
    """A kernel handed to a worker process arrives as the same kernel, not a copy whose
    compiled versions (AOT functions of an extension loaded by path) cannot be pickled."""
    import pickle

    from marking.kernels import masking

    plane = np.ones((16, 16), np.float32)
    masking.block_std(plane, 8)
    assert pickle.loads(pickle.dumps(masking.block_std)) is masking.block_std
