"""Where a secret key comes from: a value, a key file (its first line) or ``AIGC_MARK_KEY``.

Reading a key file is file work, so it lives here rather than in :mod:`marking.scheme.keys`,
which only turns a secret into patterns.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from marking.media.atomic import display_path, read_small_file
from marking.scheme.keys import Key

#: Environment variable the command line reads a key from.
KEY_ENV_VAR = "AIGC_MARK_KEY"

#: Largest key file read: a key is one line; anything bigger is not a key file.
KEY_FILE_LIMIT = 64 * 1024


def exposed_key_file(path: str | os.PathLike[str]) -> str | None:
    """Why a key file is unsafe (other users may read it), or None. POSIX permissions only."""
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


#: Label of the public default key in a verification's ``watermark["key"]``.
PUBLIC_KEY_LABEL = "public"
#: Label of a provider's secret key (from a keys file) in ``watermark["key"]``.
PROVIDER_KEY_LABEL = "provider"


def load_keys(path: str | os.PathLike[str]) -> list[Key]:
    """The secret keys of a keys file: one a line, surrounding white space stripped; blank
    lines and lines starting with ``#`` are left out, as are repeats.

    At most :data:`KEY_FILE_LIMIT` bytes, a regular file, at least one key: otherwise an
    :class:`OSError` (cannot be read) or :class:`ValueError` (no key in it), in one line that
    names the file but never a key's text. Whether other users may read the file is the
    caller's to say (:func:`exposed_key_file`).
    """
    shown = display_path(path)
    try:
        text = read_small_file(path, KEY_FILE_LIMIT)
    except OSError as error:
        raise OSError(f"keys file {shown}: {error.strerror or 'cannot be read'}") from None
    secrets: dict[bytes, None] = {}
    for line in text.splitlines():
        secret = line.strip()
        if secret and not secret.startswith(b"#"):
            secrets[secret] = None
    if not secrets:
        raise ValueError(
            f"keys file {shown}: no key in it (one secret a line; blank lines and lines "
            "starting with # are skipped)"
        )
    return [Key(secret) for secret in secrets]


def verification_keys(provider_keys: list[Key] | None = None) -> list[tuple[str, Key]]:
    """The labelled keys a verification tries, in order: the public default key first, then
    the provider's secret ``provider_keys`` (the public key among them is not tried twice)."""
    labelled = [(PUBLIC_KEY_LABEL, Key())]
    labelled += [(PROVIDER_KEY_LABEL, key) for key in provider_keys or () if not key.is_default]
    return labelled
