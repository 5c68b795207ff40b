"""Secret keys: where they come from and how they seed every pseudo-random pattern.

A key is any string or byte string. Each pattern the toolkit draws (the image tile, the
chip signs, the scrambling of coded bits) is seeded from a keyed BLAKE2b digest of the key
and a purpose label, so patterns for different purposes are independent and a wrong key
yields patterns uncorrelated with the right ones. The key itself never leaves this module:
:class:`Key` hides it from ``repr`` so it cannot leak into logs, reports or tracebacks.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

#: The documented public key. Marks made with it can be checked by anyone; providers who
#: want a mark only they can read use their own secret key.
DEFAULT_KEY = "aigc-marking/public/v1"

#: Environment variable the command line reads a key from.
KEY_ENV_VAR = "AIGC_MARK_KEY"

#: Largest key file read: a key is one line; anything bigger is not a key file.
KEY_FILE_LIMIT = 64 * 1024


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


def exposed_key_file(path: str | os.PathLike[str]) -> str | None:
    """Why a key file is unsafe (other users may read it), or None. POSIX permissions only."""
    import stat

    from marking.atomic import display_path

    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None  # reading it will report the problem
    if not stat.S_ISREG(mode) or os.name != "posix" or not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None  # a device or a FIFO is refused when read
    who = "anyone on this machine" if mode & stat.S_IROTH else "its group"
    return (
        f"key file {display_path(path)} is readable by {who} (mode {stat.S_IMODE(mode):o}); "
        f"chmod 600 it"
    )


def load_key(value: str | None = None, key_file: str | os.PathLike[str] | None = None) -> Key:
    """Resolve a key from a value, a file (first line, stripped) or ``AIGC_MARK_KEY``.

    Falls back to the public default key when none is given.
    """
    if value is not None and key_file is not None:
        raise ValueError("give a key or a key file, not both")
    if key_file is not None:
        from marking.atomic import display_path, read_small_file

        # Only a regular file, and only a small one: /dev/zero or a FIFO must not hang or
        # exhaust memory. OSError names the problem ("larger than 65536 bytes", "a FIFO, ...").
        text = read_small_file(key_file, KEY_FILE_LIMIT).splitlines()
        secret = text[0].strip() if text else b""
        if not secret:
            raise ValueError(f"--key-file {display_path(key_file)}: the first line is empty")
        return Key(secret)
    if value is not None:
        return Key(value)
    env = os.environ.get(KEY_ENV_VAR)
    return Key(env) if env else Key()
