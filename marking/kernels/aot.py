"""Ahead-of-time (AOT) compiled kernels: a cold command line without Numba's start-up.

Importing Numba and starting its compiler costs about 0.9 s before the first cached kernel
loads. ``python -m marking.warmup`` therefore, after running every real path on small inputs
(so that each JIT dispatcher lists exactly the type signatures the product uses), compiles all
those signatures into one C extension with ``numba.pycc`` (:func:`build`), beside Numba's
cache. A :class:`~marking.kernels.config.Kernel` call looks its argument types up there
(:func:`attach`, :func:`argument_key`) and falls back to the JIT for anything else.

The extension is used only when its manifest names the hash of the kernel sources as they are
now (:func:`source_hash`), so an edited kernel never runs stale machine code. Differences from
the JIT: parallel kernels run on one thread (AOT code has no thread pool), and kernels called
from other kernels are linked in their serial form. ``AIGC_MARKING_AOT=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from marking.kernels import config

KERNEL_SOURCES = Path(__file__).parent
MANIFEST = "manifest.json"
#: Loaded exports: kernel name -> argument key -> compiled function (None: not loaded yet).
_table: dict[str, dict[tuple[Any, ...], Any]] | None = None


def aot_directory() -> Path:
    """Where the extension lives: beside Numba's cache for these kernels."""
    numba_cache = os.environ.get("NUMBA_CACHE_DIR")
    if numba_cache:
        return Path(numba_cache) / "aigc-marking-aot"
    return KERNEL_SOURCES / "__pycache__" / "aot"


def _machine() -> str:
    """This host and its CPU's features: the extension is built for the host CPU, as the JIT
    compiles, and must not run on another (a cache directory on a shared home, a copied venv).
    """
    try:
        with Path("/proc/cpuinfo").open(encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.node()}\0{platform.machine()}\0{flags}"


def source_hash() -> str:
    """The kernel sources, NumPy's and Python's versions, the machine: what the extension is of."""
    digest = hashlib.sha256(f"{np.__version__}\0{sys.version}\0{_machine()}\0".encode())
    for source in sorted(KERNEL_SOURCES.glob("*.py")):
        digest.update(f"{source.name}\0".encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


#: Python scalars as Numba types them.
_SCALARS = {bool: "bool", int: "int64", float: "float64"}
#: An array argument in a key: dtype, dimensions, layout (C, F or A), writable, aligned.
ArrayKey = tuple[np.dtype, int, str, bool, bool]


def argument_key(args: tuple[Any, ...]) -> tuple[ArrayKey | str, ...]:
    """The Numba type of each argument, as :func:`parse_key` reads :func:`type_key`'s
    spelling of it, without Numba. Called on every kernel call: kept to a few microseconds."""
    key: list[ArrayKey | str] = []
    for value in args:
        kind = type(value)
        if kind is np.ndarray:
            flags = value.flags
            layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
            key.append((value.dtype, value.ndim, layout, flags.writeable, flags.aligned))
        else:
            name = _SCALARS.get(kind)
            if name is None:
                name = str(value.dtype) if isinstance(value, np.generic) else f"?{kind.__name__}"
            key.append(name)  # "?...": matches no export, the JIT handles it
    return tuple(key)


def parse_key(spelled: str) -> ArrayKey | str:
    """:func:`type_key`'s spelling of one argument type as :func:`argument_key` gives it."""
    if not spelled.startswith("array("):
        return spelled
    dtype, ndim, layout, writable, aligned = spelled[len("array(") : -1].split(",")
    return (np.dtype(dtype), int(ndim), layout, writable == "1", aligned == "1")


def type_key(numba_type: Any) -> str | None:
    """:func:`argument_key`'s spelling of a Numba argument type, or None if not exported."""
    from numba.core import types

    if isinstance(numba_type, types.Array):
        return (
            f"array({numba_type.dtype},{numba_type.ndim},{numba_type.layout},"
            f"{int(numba_type.mutable)},{int(numba_type.aligned)})"
        )
    if isinstance(numba_type, types.Boolean | types.Integer | types.Float | types.Complex):
        return str(numba_type)
    return None


def _load() -> dict[str, dict[tuple[Any, ...], Any]]:
    """The current extension's exports, or nothing (absent, stale, unloadable, turned off)."""
    if os.environ.get("AIGC_MARKING_AOT", "1") == "0":
        return {}
    directory = aot_directory()
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest["source_hash"] != source_hash():
            return {}
        path = directory / manifest["file"]
        loader = importlib.machinery.ExtensionFileLoader(manifest["module"], str(path))
        spec = importlib.util.spec_from_file_location(manifest["module"], path, loader=loader)
        if spec is None:
            return {}
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        table: dict[str, dict[tuple[Any, ...], Any]] = {}
        for name, keys, symbol in manifest["exports"]:
            key = tuple(parse_key(spelled) for spelled in keys)
            table.setdefault(name, {})[key] = getattr(module, symbol)
    except (OSError, ImportError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return table


def available() -> bool:
    """Whether kernels run from a current AOT extension (built from these sources, here)."""
    global _table
    if _table is None:
        _table = _load()
    return bool(_table)


def attach(kernel: config.Kernel) -> None:
    """Give ``kernel`` its AOT versions (an empty table when there are none)."""
    global _table
    if _table is None:
        _table = _load()
    kernel.aot = _table.get(kernel.name, {})


def _exports() -> tuple[list[tuple[str, list[str], str, Any, config.Kernel]], list[str]]:
    """Every signature each JIT dispatcher compiled in this process, and those not exportable."""
    exports: list[tuple[str, list[str], str, Any, config.Kernel]] = []
    skipped: list[str] = []
    for name, entry in sorted(config.KERNELS.items()):
        if entry._jit is None:
            continue
        for signature in entry._jit.nopython_signatures:
            keys = [type_key(argument) for argument in signature.args]
            if None in keys:
                skipped.append(f"{name}{signature}")
                continue
            exports.append((name, keys, f"k{len(exports)}", signature, entry))  # type: ignore[arg-type]
    return exports, skipped


def _compile(module_name: str, output: Path, exports: list[Any]) -> None:
    """``numba.pycc`` with each kernel's fast-math flags and the GIL released (pycc itself
    does neither)."""
    import numba.pycc.compiler as pycc_compiler
    from numba.core.cpu_options import FastMathOptions
    from numba.pycc import CC

    fastmath = {entry.py_func: entry.options.get("fastmath") for *_, entry in exports}
    original = pycc_compiler.compile_extra

    def compile_extra(typing: Any, target: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        flags = args[2]
        flags.fastmath = FastMathOptions(fastmath.get(func) or False)
        flags.release_gil = True  # as the JIT kernels do (``nogil``): see config.kernel
        return original(typing, target, func, *args, **kwargs)

    compiler = CC(module_name)
    compiler.output_dir = str(output)
    compiler.verbose = False
    compiler.target_cpu = os.environ.get("AIGC_MARKING_AOT_CPU", "host")  # as the JIT does
    for _name, _keys, symbol, signature, entry in exports:
        compiler.export(symbol, signature)(entry.py_func)
    pycc_compiler.compile_extra = compile_extra
    config.BUILDING_AOT = True
    try:
        compiler.compile()
    finally:
        config.BUILDING_AOT = False
        pycc_compiler.compile_extra = original


def _build_into(directory: Path, exports: list[Any], skipped: list[str]) -> str | None:
    """Compile in a scratch directory inside ``directory``, move the extension in, then
    replace the manifest (so a reader sees the old pair or the new one); None, or why not."""
    digest = source_hash()
    module_name = f"aigc_marking_kernels_{digest[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as temporary:
        try:
            _compile(module_name, Path(temporary), exports)
        except Exception as error:  # any build failure leaves the JIT
            first = str(error).strip().splitlines()[:1] or [type(error).__name__]
            return first[0][:120]
        built = next(Path(temporary).glob(f"{module_name}*"))
        built.replace(directory / built.name)
    manifest = {
        "source_hash": digest,
        "module": module_name,
        "file": built.name,
        "exports": [[name, keys, symbol] for name, keys, symbol, *_ in exports],
        "skipped": skipped,
    }
    staged = directory / f".{MANIFEST}.{os.getpid()}"
    staged.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    staged.replace(directory / MANIFEST)
    for old in directory.glob("aigc_marking_kernels_*"):
        if old.name != built.name:
            old.unlink(missing_ok=True)
    return None


def build() -> str:
    """Compile every signature the JIT compiled in this process into the AOT extension,
    replacing the previous one atomically; one line saying what happened."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import numba.pycc  # noqa: F401  (deprecated, still shipped by numba 0.68)
        except ImportError:
            return "AOT kernels: numba.pycc is missing; kernels stay on JIT"
        compiler = os.environ.get("CC", "cc")
        if shutil.which(compiler) is None and shutil.which("gcc") is None:
            return f"AOT kernels: no C compiler ({compiler}); kernels stay on JIT"
        exports, skipped = _exports()
        if not exports:
            return "AOT kernels: no kernel compiled in this process; nothing to build"
        started = time.perf_counter()
        try:
            built = _build_into(aot_directory(), exports, skipped)
        except OSError as error:
            return f"AOT kernels: cannot write {aot_directory()} ({error.strerror}); JIT only"
        if built is not None:
            return f"AOT kernels: build failed ({built}); kernels stay on JIT"
    return (
        f"AOT kernels: {len(exports)} signatures of {len({e[0] for e in exports})} kernels "
        f"built in {time.perf_counter() - started:.1f} s"
        + (f" ({len(skipped)} not exportable, left to the JIT)" if skipped else "")
    )
