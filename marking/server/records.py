"""What the public detection tool answers: a verification record cut down to system provenance,
and a plain summary of it in English and Chinese.

A response keeps only fields named here (a whitelist: whatever a later version adds to the
record stays out until it is added here): no local path, no key, no signer's personal name,
nothing of EXIF, XMP or a C2PA manifest beyond what the marks themselves say.
"""

from __future__ import annotations

import math
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from marking.errors import display_path
from marking.tags.aigc_label import FIELD_KEYS
from marking.tags.source_types import AI_SOURCE_TYPES

#: The GB 45438 label's fields, in order.
LABEL_FIELDS = tuple(name for name, _ in FIELD_KEYS)
#: Longest display name returned (characters).
MAX_DISPLAY_NAME = 120
#: Fields of a verify record a response keeps, in order (``input`` is the display name).
RECORD_FIELDS = (
    "input",
    "kind",
    "status",
    "error",
    "bytes",
    "seconds",
    "verdict",
    "ai_marked",
    "aigc",
    "iptc_digital_source_type",
    "c2pa",
    "watermark",
    "agreement",
    "trusted_signer",
    "backed",
    "notes",
)
#: Fields of the C2PA report kept: the signer's organisation, never its common name.
C2PA_FIELDS = (
    "state",
    "reason",
    "digital_source_type",
    "first_action",
    "aigc",
    "soft_binding_payload",
    "signer_organization",
    "timestamped",
    "timestamp_time",
)
#: Fields of a C2PA action kept (never its actors, parameters or changes).
ACTION_FIELDS = ("action", "digitalSourceType", "softwareAgent", "when")
#: Fields of a watermark report kept; a video's ``video`` and ``audio`` parts keep
#: :data:`WATERMARK_PART_FIELDS`.
WATERMARK_FIELDS = (
    "checked",
    "detected",
    "payload",
    "false_alarm",
    "score",
    "key",
    "keys_tried",
    "reason",
    "found_in",
    "frames_used",
    "frames_decoded",
)
WATERMARK_PART_FIELDS = (
    "checked",
    "detected",
    "payload",
    "false_alarm",
    "score",
    "reason",
    "frames_used",
)
#: Characters a display name loses: controls, format characters (bidi overrides, zero-width
#: joiners), surrogates, line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_PLACEHOLDER = "(unnamed signer)"


def safe_display_name(name: str | None, fallback: str = "upload") -> str:
    """An upload's name fit to show: its last path part (``/`` or ``\\``), without control
    or bidi-override characters, white space collapsed, at most :data:`MAX_DISPLAY_NAME`
    characters (the suffix kept), never empty, ``.`` or ``..`` (then ``fallback``)."""
    text = re.split(r"[/\\]", name or "")[-1]
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    text = " ".join(text.split())
    if len(text) > MAX_DISPLAY_NAME:
        stem, dot, suffix = text.rpartition(".")
        if dot and stem and len(suffix) <= 16:
            text = f"{stem[: MAX_DISPLAY_NAME - len(suffix) - 2]}….{suffix}"
        else:
            text = text[: MAX_DISPLAY_NAME - 1] + "…"
    return text if text.strip(".") else fallback


def _kept(mapping: Any, names: Iterable[str]) -> dict[str, Any] | None:
    """The items of ``mapping`` named in ``names``, in that order; None unless a mapping."""
    if not isinstance(mapping, Mapping):
        return None
    return {name: mapping[name] for name in names if name in mapping}


def _label(fields: Any) -> dict[str, str] | None:
    """The GB 45438 fields of a label (text values only), None without a label."""
    kept = _kept(fields, LABEL_FIELDS)
    return None if kept is None else {k: v for k, v in kept.items() if isinstance(v, str)}


def _c2pa(report: Any) -> dict[str, Any] | None:
    kept = _kept(report, C2PA_FIELDS)
    if kept is None:
        return None
    if "aigc" in kept:
        kept["aigc"] = _label(kept["aigc"])
    if "first_action" in kept:
        action = _kept(kept["first_action"], ACTION_FIELDS)
        agent = (action or {}).get("softwareAgent")
        if isinstance(agent, Mapping):
            action["softwareAgent"] = _kept(agent, ("name", "version"))  # type: ignore[index]
        kept["first_action"] = action
    return kept


def _watermark(report: Any) -> dict[str, Any] | None:
    kept = _kept(report, WATERMARK_FIELDS)
    if kept is None:
        return None
    for part in ("video", "audio"):
        if part in report:
            kept[part] = _kept(report[part], WATERMARK_PART_FIELDS)
    return kept


class _Scrubber:
    """Replaces, in every string of a record, local paths by the display name and a signer's
    personal (common) name by a placeholder."""

    def __init__(self, record: Mapping[str, Any], display_name: str, local_path: str | None):
        paths: set[str] = set()
        for path in (local_path, record.get("input"), record.get("file")):
            if isinstance(path, str) and path:
                absolute = Path(path).absolute()
                paths |= {path, str(absolute)}
                if len(str(absolute.parent)) > 1:  # not the root itself
                    paths.add(str(absolute.parent))
                if len(absolute.name) >= 6:  # a temporary file's random name, not "a.jpg"
                    paths.add(absolute.name)
        shown = {display_path(path) for path in paths} | paths
        self.replacements = [(text, display_name) for text in sorted(shown, key=len, reverse=True)]
        self.temporary = re.compile(re.escape(tempfile.gettempdir()) + r"[/\\][^\s\"':;,)]*")
        self.display_name = display_name
        c2pa = record.get("c2pa") if isinstance(record.get("c2pa"), Mapping) else {}
        person = c2pa.get("signer_common_name")  # type: ignore[union-attr]
        if isinstance(person, str) and person and person != c2pa.get("signer_organization"):  # type: ignore[union-attr]
            # As the verdict and the notes quote a signer (a bare name could be any word).
            self.replacements.append((f'"{display_path(person)}"', _PLACEHOLDER))

    def text(self, value: str) -> str:
        for old, new in self.replacements:
            value = value.replace(old, new)
        return self.temporary.sub(self.display_name, value)

    def __call__(self, value: Any) -> Any:
        """``value`` (a text, or a list of them) with the replacements made."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        return value

    def free_text(self, record: dict[str, Any]) -> None:
        """Scrub the fields written in words (verdict, notes, error, reasons) in place; the
        others (labels, source types, payloads) hold values that are shown as read."""
        for name in ("verdict", "notes", "error"):
            if name in record:
                record[name] = self(record[name])
        mark = record.get("watermark") or {}
        for part in (record.get("c2pa"), mark, mark.get("video"), mark.get("audio")):
            if isinstance(part, dict) and "reason" in part:
                part["reason"] = self(part["reason"])


def public_record(
    record: Mapping[str, Any], display_name: str, local_path: str | None = None
) -> dict[str, Any]:
    """What a response may show of ``record`` (as :func:`~marking.pipeline.jobs.verify_one`
    returns it): the fields of :data:`RECORD_FIELDS` and their own whitelists, ``input`` set to
    ``display_name``, every local path in a text (``local_path``, the record's own, its
    folder, the temporary folder) replaced by ``display_name``, a signer's common name left
    out."""
    whitelisted = {
        "aigc": _label,
        "c2pa": _c2pa,
        "watermark": _watermark,
    }
    public: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        if name in record:
            value = record[name]
            public[name] = whitelisted[name](value) if name in whitelisted else value
    _Scrubber(record, display_name, local_path).free_text(public)
    public["input"] = display_name
    signer = (record.get("c2pa") or {}).get("signer_organization")
    if public.get("trusted_signer") and public["trusted_signer"] != signer:
        public["trusted_signer"] = ""  # the certificate's common name only: not shown
    return public


def public_message(message: str, display_name: str, local_path: str) -> str:
    """An error about a spooled file as a response may show it: every local path (the file's,
    its folder, the temporary folder) replaced by ``display_name``."""
    return _Scrubber({}, display_name, local_path).text(message)


# --- "about 1 in N" ---------------------------------------------------------------------------

#: Beyond this N, "less than 1 in" it is said (a quadrillion; 千万亿).
ONE_IN_CEILING = 10**15


def _rounded_n(p: float) -> int | None:
    """1/p to two significant figures (at least 2), None when beyond :data:`ONE_IN_CEILING`."""
    if not (isinstance(p, int | float) and math.isfinite(p) and 0 <= p < 0.5):
        return 2  # also what is not a probability: the worst case, never a reassurance
    if p == 0 or 1 / p > ONE_IN_CEILING:
        return None
    n = 1 / p
    digits = math.floor(math.log10(n))
    return max(2, int(round(n, 1 - digits)) if digits >= 1 else round(n))


def one_in(p: float) -> str:
    """A false-alarm probability as words: "about 1 in 4,300,000" (N = 1/p to two significant
    figures), "about 1 in 2" from p = 0.5 up, "less than 1 in 1,000,000,000,000,000" for 0
    or beyond :data:`ONE_IN_CEILING`."""
    n = _rounded_n(p)
    return f"less than 1 in {ONE_IN_CEILING:,}" if n is None else f"about 1 in {n:,}"


def _zh_number(n: int) -> str:
    """A number the Chinese way: 万, 亿 and 万亿 units (430万, 24亿)."""
    for unit, size in (("万亿", 10**12), ("亿", 10**8), ("万", 10**4)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return "二三四五六七八九"[n - 2] if n < 10 else f"{n:,}"


def one_in_zh(p: float) -> str:
    """:func:`one_in` in Chinese: "约430万分之一", "低于千万亿分之一"."""
    n = _rounded_n(p)
    return "低于千万亿分之一" if n is None else f"约{_zh_number(n)}分之一"


# --- the summary ---------------------------------------------------------------------------

_LEVEL_EN = {"2": "possibly AI-generated", "3": "suspected AI-generated"}
_LEVEL_ZH = {"2": "可能为人工智能生成", "3": "疑似人工智能生成"}
_PARTS_EN = {("video",): " in the frames", ("audio",): " in the sound"}
_PARTS_ZH = {("video",): "画面中的", ("audio",): "声音中的", ("video", "audio"): "画面和声音中的"}
_PARTS_EN[("video", "audio")] = " in the frames and the sound"
_AGREEMENT_EN = {
    "agree": "The watermark matches what the trusted signer states.",
    "consistent": "The watermark matches the metadata, which is not signed by a trusted signer.",
    "mismatch": "But the marks disagree: the metadata names another watermark, so it may have "
    "been copied from another file or tampered with.",
    "metadata missing": "No metadata label was found with it: it was probably stripped.",
    "watermark missing": "The metadata announces a watermark that was not found.",
}
_AGREEMENT_ZH = {
    "agree": "水印与可信签名者的声明一致。",
    "consistent": "水印与元数据一致，但元数据未经可信签名者签名。",
    "mismatch": "但各标识互相矛盾：元数据指向另一个水印，可能是从其他文件复制或被篡改的。",
    "metadata missing": "未找到对应的元数据标识，可能已被删除。",
    "watermark missing": "元数据声明了水印，但未检测到该水印。",
}


def _found_en(record: Mapping[str, Any]) -> list[str]:
    """The marks found, each as an English phrase."""
    found = []
    mark = record.get("watermark") or {}
    if mark.get("detected"):
        where = _PARTS_EN.get(tuple(mark.get("found_in") or ()), "")
        found.append(
            f"an invisible watermark{where} (payload {mark.get('payload')}; chance of a false "
            f"alarm {one_in(mark.get('false_alarm') or 0.0)})"
        )
    label = record.get("aigc") or {}
    if label.get("Label") in ("1", "2", "3"):
        found.append(f'a GB 45438 label naming "{label.get("ContentProducer")}" as producer')
    if record.get("iptc_digital_source_type") in AI_SOURCE_TYPES:
        found.append("an IPTC digital source type saying AI")
    c2pa = record.get("c2pa") or {}
    signer = c2pa.get("signer_organization")
    by = f' signed by "{signer}"' if signer else ""
    if c2pa.get("state") == "valid":
        found.append(f"a valid C2PA manifest{by}")
    elif c2pa.get("state") == "untrusted":
        found.append(f"a C2PA manifest{by} whose signer is not verified")
    return found


def _found_zh(record: Mapping[str, Any]) -> list[str]:
    """The marks found, each as a Chinese phrase."""
    found = []
    mark = record.get("watermark") or {}
    if mark.get("detected"):
        where = _PARTS_ZH.get(tuple(mark.get("found_in") or ()), "")
        found.append(
            f"{where}隐式水印（载荷 {mark.get('payload')}，误报概率"
            f"{one_in_zh(mark.get('false_alarm') or 0.0)}）"
        )
    label = record.get("aigc") or {}
    if label.get("Label") in ("1", "2", "3"):
        found.append(f"GB 45438 隐式标识（生成者：{label.get('ContentProducer')}）")
    if record.get("iptc_digital_source_type") in AI_SOURCE_TYPES:
        found.append("表明人工智能生成的 IPTC 来源类型")
    c2pa = record.get("c2pa") or {}
    signer = c2pa.get("signer_organization")
    if c2pa.get("state") == "valid":
        found.append(f"有效的 C2PA 清单（签名者：{signer}）" if signer else "有效的 C2PA 清单")
    elif c2pa.get("state") == "untrusted":
        by = f"签名者 {signer} " if signer else "签名者"
        found.append(f"C2PA 清单（{by}未经验证）")
    return found


def _joined_en(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def summary(record: Mapping[str, Any]) -> dict[str, str]:
    """One or two plain sentences in English (``en``) and Chinese (``zh``) saying which AI
    marks a (public) verify record found, how sure the watermark is, and whether the marks
    agree; or that none was found, which does not prove the content is not AI-generated."""
    if record.get("status", "verified") != "verified":
        return {"en": "The file could not be checked.", "zh": "无法检查该文件。"}
    level = (record.get("aigc") or {}).get("Label")
    c2pa_state = (record.get("c2pa") or {}).get("state")
    broken_zh = {"invalid": "C2PA 清单无效。", "unreadable": "C2PA 清单无法读取。"}
    en_found, zh_found = _found_en(record), _found_zh(record)
    if not record.get("ai_marked") or not en_found:
        unchecked = not (record.get("watermark") or {}).get("checked")
        en = "No AI mark was found"
        en += " (the watermark could not be looked for)." if unchecked else "."
        zh = "未发现人工智能生成标识" + ("（未能检测水印）。" if unchecked else "。")
        return {
            "en": en + " This does not prove the content is not AI-generated.",
            "zh": zh + "这并不能证明该内容不是人工智能生成的。",
        }
    what_en = _LEVEL_EN.get(level, "AI-generated")
    what_zh = f"（标注：{_LEVEL_ZH[level]}）" if level in _LEVEL_ZH else ""
    agreement = record.get("agreement")
    en = f"{what_en[0].upper()}{what_en[1:]}: the file carries {_joined_en(en_found)}. "
    en += _AGREEMENT_EN.get(agreement, "")
    zh = f"检测到人工智能生成标识{what_zh}：{'、'.join(zh_found)}。"
    zh += _AGREEMENT_ZH.get(agreement, "")
    if c2pa_state in broken_zh:
        en, zh = en.rstrip() + f" Its C2PA manifest is {c2pa_state}.", zh + broken_zh[c2pa_state]
    return {"en": " ".join(en.split()), "zh": zh}


__all__ = [
    "MAX_DISPLAY_NAME",
    "one_in",
    "one_in_zh",
    "public_record",
    "safe_display_name",
    "summary",
]
