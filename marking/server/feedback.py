"""Users' feedback on the verdicts, kept append-only as JSON lines.

Each line holds the time, the verdict it is about (by its id, and what the verdict said) and
what the user said: never an address, a file name or the file's content. Verdict ids are signed
by the server, so feedback can only be about a verdict this server gave.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Longest comment kept, in characters.
MAX_COMMENT = 2000
#: Verdicts remembered for their feedback (the oldest are forgotten first).
REMEMBERED_VERDICTS = 10_000
FEEDBACK_FILE = "feedback.jsonl"


class VerdictBook:
    """Issues signed verdict ids and remembers what the latest verdicts said."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._verdicts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _signature(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:16]

    def issue(self, record: dict[str, Any]) -> str:
        """A new verdict id for ``record``, remembered with the gist of its verdict."""
        nonce = secrets.token_hex(16)
        verdict_id = f"v1.{nonce}.{self._signature(nonce)}"
        watermark = record.get("watermark") or {}
        self._verdicts[verdict_id] = {
            "kind": record.get("kind"),
            "verdict": record.get("verdict"),
            "ai_marked": record.get("ai_marked"),
            "agreement": record.get("agreement"),
            "watermark_detected": bool(watermark.get("detected")),
            "payload": watermark.get("payload"),
        }
        while len(self._verdicts) > REMEMBERED_VERDICTS:
            self._verdicts.popitem(last=False)
        return verdict_id

    def is_ours(self, verdict_id: str) -> bool:
        parts = verdict_id.split(".")
        if len(parts) != 3 or parts[0] != "v1" or len(parts[1]) != 32:
            return False
        return hmac.compare_digest(parts[2], self._signature(parts[1]))

    def gist(self, verdict_id: str) -> dict[str, Any] | None:
        return self._verdicts.get(verdict_id)


class FeedbackStore:
    """``<directory>/feedback.jsonl``, one JSON object per line, only ever appended to."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FEEDBACK_FILE
        self._lock = threading.Lock()

    def append(self, verdict_id: str, agrees: bool, comment: str, gist: dict | None) -> None:
        """Append one line (one write with O_APPEND, so lines never interleave)."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdict_id": verdict_id,
            "agrees": agrees,
            "comment": comment,
            "verdict": gist,
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        with self._lock:
            descriptor = os.open(self.path, flags, 0o600)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)


def clean_comment(text: str) -> str:
    """The comment as stored: control characters (but newlines) removed, at most 2000 chars."""
    kept = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    return kept.strip()[:MAX_COMMENT]
