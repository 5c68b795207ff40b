"""Layer 6, the pipeline: mark one file, verify one file, the TOML config, batches on
worker processes or Dask.

Rule: never imports :mod:`marking.cli`; raises errors and returns records, never exits.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """0.1's ``marking.pipeline`` module is now :mod:`marking.pipeline.mark`: its names still
    resolve here, with a :class:`DeprecationWarning`, for one release."""
    from marking import _moved

    if name.startswith("__"):
        raise AttributeError(name)
    getattr_, _ = _moved.forward(__name__, _moved.MOVED[__name__])
    value = getattr_(name)
    _moved.warn(__name__, _moved.MOVED[__name__])
    return value
