"""Numba settings shared by every kernel, and the decorator that defines them.

Kernels are written once, as Numba functions, and defined with :func:`kernel` instead of
``numba.njit``: a :class:`Kernel` that imports Numba only when it first has to compile. A call
first looks for an ahead-of-time (AOT) compiled version of the kernel for the argument types,
built by ``python -m marking.warmup`` from these same sources (:mod:`marking.kernels.aot`); a
cold command line that finds every kernel it needs there never starts Numba (about 0.9 s of
imports and start-up). Anything else compiles (or loads from Numba's cache) as before.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: LLVM fast-math flags for kernels whose results may differ from strict IEEE order by a few
#: ulps (sign of zero, reciprocal, fused multiply-add, approximate functions, reassociation).
#: ``nnan``/``ninf`` are deliberately left out: NaN and infinity must survive as they are, so
#: bad input stays visible instead of turning into arbitrary numbers.
FASTMATH: set[str] = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: ``range`` until Numba is loaded; a kernel body's ``prange`` becomes ``numba.prange`` in its
#: module just before the first compilation (Numba recognises parallel loops by that object).
prange = range

#: Every kernel defined, by its name (module and function; unique: the AOT exports use it).
KERNELS: dict[str, Kernel] = {}


class Kernel:
    """A Numba kernel defined without importing Numba: AOT version if built, else JIT.

    Unknown attributes (``_cache``, ``nopython_signatures``...) are those of the JIT
    dispatcher, which they create. ``aot`` is set by :mod:`marking.kernels.aot` on first call.
    """

    def __init__(self, py_func: Callable[..., Any], options: dict[str, Any], name: str) -> None:
        self.py_func = py_func
        self.options = options
        self.name = name
        self.__doc__ = py_func.__doc__
        self.__wrapped__ = py_func
        self._jit: Any = None
        self._serial: Any = None
        self.aot: dict[tuple[Any, ...], Callable[..., Any]] | None = None

    def __repr__(self) -> str:
        return f"<kernel {self.name}>"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickled by name (for worker processes): its compiled versions stay per process."""
        return kernel_named, (self.name,)

    def __call__(self, *args: Any) -> Any:
        table = self.aot if self.aot is not None else self._attach()
        if table and USE_AOT:
            compiled = table.get(_argument_key(args))
            if compiled is not None:
                return compiled(*args)
        return self.dispatcher(*args)

    def _attach(self) -> dict[tuple[Any, ...], Callable[..., Any]]:
        """Look up this kernel's AOT versions (first call only)."""
        from marking.kernels import aot

        aot.attach(self)
        return self.aot or {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    @property
    def dispatcher(self) -> Any:
        """The JIT dispatcher, with the kernel's options (made on first use)."""
        if self._jit is None:
            numba = _numba()
            self._jit = numba.njit(**self.options)(self.py_func)
        return self._jit

    def serial_dispatcher(self) -> Any:
        """A dispatcher without ``parallel`` nor cache: what an AOT build links in for calls
        from one kernel to another (parallel code needs Numba's thread pool at run time)."""
        if self._serial is None:
            numba = _numba()
            options = {k: v for k, v in self.options.items() if k not in ("parallel", "cache")}
            self._serial = numba.njit(**options)(self.py_func)
        return self._serial


def _argument_key(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """:func:`marking.kernels.aot.argument_key`, which replaces this on first use (a global:
    every call uses it, and an import statement per call costs as much as Numba's dispatch)."""
    global _argument_key
    from marking.kernels.aot import argument_key

    _argument_key = argument_key
    return argument_key(args)


#: Whether calls may use the AOT versions (the warm-up turns it off: it must see what compiles).
USE_AOT = True

#: While an AOT extension is being built, kernels called by kernels resolve to
#: :meth:`Kernel.serial_dispatcher`; otherwise to the JIT dispatcher.
BUILDING_AOT = False


def _numba() -> Any:
    """Import Numba, point every kernel module's ``prange`` at Numba's and teach Numba that a
    :class:`Kernel` named in a kernel body is its dispatcher (done once)."""
    import numba
    from numba.core import types
    from numba.extending import typeof_impl

    if not getattr(_numba, "done", False):

        @typeof_impl.register(Kernel)
        def _typeof_kernel(value: Kernel, context: Any) -> Any:
            chosen = value.serial_dispatcher() if BUILDING_AOT else value.dispatcher
            return types.Dispatcher(chosen)

        _numba.done = True  # type: ignore[attr-defined]
        if _single_threaded_blocks:
            numba.set_num_threads(1)
    for entry in KERNELS.values():
        module_globals = entry.py_func.__globals__
        if module_globals.get("prange") is range:
            module_globals["prange"] = numba.prange
    return numba


def kernel_named(name: str) -> Kernel:
    """The kernel :func:`kernel` defined under ``name`` (module and function), importing it."""
    import importlib

    module, _, _ = name.rpartition(".")
    importlib.import_module(module)
    return KERNELS[name]


def kernel(name: str | None = None, **options: Any) -> Callable[[Callable[..., Any]], Kernel]:
    """``numba.njit(**options)`` without importing Numba: see :class:`Kernel`.

    ``name`` tells apart two kernels made from one function (default: module and function).
    """

    # Every kernel releases the GIL: they touch no Python object, so a thread marking frames
    # runs beside the threads that decode and encode them (see marking.media.transcode).
    options = {"nogil": True, **options}

    def define(py_func: Callable[..., Any]) -> Kernel:
        full_name = f"{py_func.__module__}.{name or py_func.__qualname__}"
        if full_name in KERNELS:
            raise ValueError(f"two kernels named {full_name}: give one a name")
        KERNELS[full_name] = entry = Kernel(py_func, options, full_name)
        return entry

    return define


#: How many :func:`single_threaded` blocks are open while Numba is not loaded (see there).
_single_threaded_blocks = 0


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the Numba kernels on one thread for a while, then restore the count.

    For work next to codecs that already use every core (parallel kernels contending with
    them make a transcode about twice as slow), and for per-core measurements. Without Numba
    loaded (AOT kernels run on one thread anyway) it does not load it (0.2-0.3 s): a kernel
    that needs the JIT inside the block gets one thread when it loads Numba.
    """
    global _single_threaded_blocks
    if "numba" not in sys.modules:
        _single_threaded_blocks += 1
        try:
            yield
        finally:
            _single_threaded_blocks -= 1
            if "numba" in sys.modules and not _single_threaded_blocks:
                numba = sys.modules["numba"]
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        return
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


__all__ = ["FASTMATH", "KERNELS", "Kernel", "kernel", "kernel_named", "prange", "single_threaded"]
