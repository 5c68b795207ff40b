"""TEMPORARY stand-in until h-keys lands (the helper's version replaces this file)."""

from __future__ import annotations

import re
from typing import Any


def safe_display_name(name: str | None, fallback: str = "upload") -> str:
    text = re.split(r"[/\\]", name or "")[-1]
    text = "".join(ch for ch in text if ch.isprintable()).strip()[:120]
    return text if text not in ("", ".", "..") else fallback


def public_record(record: dict, display_name: str, local_path: str | None = None) -> dict:
    drop = {"file", "modality"}
    out = {k: v for k, v in record.items() if k not in drop}
    out["input"] = display_name
    if out.get("c2pa"):
        out["c2pa"] = {k: v for k, v in out["c2pa"].items() if k != "signer_common_name"}
    return out


def summary(record: dict[str, Any]) -> dict[str, str]:
    return {"en": record.get("verdict", ""), "zh": record.get("verdict", "")}
