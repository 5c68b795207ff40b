"""Secret keys: where they come from and how they seed every pseudo-random pattern.

A key is any string or byte string. Each pattern the toolkit draws (the image tile, the
chip signs, the scrambling of coded bits) is seeded from a keyed BLAKE2b digest of the key
and a purpose label, so patterns for different purposes are independent and a wrong key
yields patterns uncorrelated with the right ones. The key itself never leaves this module:
:class:`Key` hides it from ``repr`` so it cannot leak into logs, reports or tracebacks.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: The documented public key. Marks made with it can be checked by anyone; providers who
#: want a mark only they can read use their own secret key.
DEFAULT_KEY = "aigc-marking/public/v1"


class Key:
    """A secret key whose value never appears in ``repr`` or ``str``."""

    __slots__ = ("_secret", "is_default")

    def __init__(self, secret: str | bytes | None = None) -> None:
        if secret is None:
            secret = DEFAULT_KEY
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, bytes):
            raise TypeError("a key is a str or bytes")
        if not secret:
            raise ValueError("a key must not be empty")
        self._secret = secret
        self.is_default = secret == DEFAULT_KEY.encode("utf-8")

    def __repr__(self) -> str:
        return "Key(<public default>)" if self.is_default else "Key(<secret>)"

    __str__ = __repr__

    def digest(self, purpose: str, size: int = 32) -> bytes:
        """Keyed digest for one purpose: independent bytes for each purpose label."""
        return hashlib.blake2b(
            purpose.encode("utf-8"), key=hashlib.sha256(self._secret).digest(), digest_size=size
        ).digest()

    def rng(self, purpose: str) -> np.random.Generator:
        """A NumPy generator seeded by this key and purpose (PCG64, reproducible everywhere)."""
        return np.random.Generator(np.random.PCG64(int.from_bytes(self.digest(purpose), "little")))


def as_key(key: Key | str | bytes | None) -> Key:
    """Accept a :class:`Key`, a raw secret, or ``None`` for the public default."""
    return key if isinstance(key, Key) else Key(key)
