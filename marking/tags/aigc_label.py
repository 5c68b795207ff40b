"""The GB 45438-2025 implicit label: seven string fields, stored as compact JSON.

:class:`AigcLabel` is the value a file's ``AIGC`` metadata entry holds. It writes the bare
seven-field object (what the TC260 guides put inside XMP) or the ``{"AIGC": {...}}`` wrapper
(Annex E), and reads either, because files in the wild carry both.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from marking.errors import InputError, UsageError
from marking.scheme.payload import payload_for_label

#: The JSON keys in the order GB 45438 Annex E lists them, and the attribute for each.
FIELD_KEYS = (
    ("Label", "label"),
    ("ContentProducer", "content_producer"),
    ("ProduceID", "produce_id"),
    ("ReservedCode1", "reserved_code1"),
    ("ContentPropagator", "content_propagator"),
    ("PropagateID", "propagate_id"),
    ("ReservedCode2", "reserved_code2"),
)
#: Label values: "1" AI-generated, "2" possibly AI-generated, "3" suspected.
LABEL_VALUES = ("1", "2", "3")
WRAPPER_KEY = "AIGC"
#: How ``ReservedCode1`` (the producer's integrity field) binds a label to the watermark found
#: in its file: this prefix, then the watermark's 16-hex-digit payload. ``tag`` writes it when
#: the file already carries a watermark whose payload the label's producer and ProduceID do not
#: imply (:func:`~marking.scheme.payload.payload_for_label`), so verify compares the two.
WATERMARK_BINDING_PREFIX = "aigc-wm:"
_BINDING = re.compile(re.escape(WATERMARK_BINDING_PREFIX) + r"([0-9a-f]{16})")

# Printable ASCII without space, '"' or '\' (GB 45438 Annex E).
_ALLOWED_CHARS = re.compile(r"[!#-\[\]-~]*")
# TC260 provider code: "00" + "11" + USCC (18) + service type (1 or 2) + model code (4).
_PROVIDER_CODE = re.compile(r"00 11 ([0-9A-Z]{18}) ([12]) ([0-9A-Z]{4})".replace(" ", ""))
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class LabelFormatError(InputError, ValueError):
    """Text that should hold an AIGC label is not JSON, or not a JSON object."""


def _bad_character(value: str) -> str | None:
    """The first character of ``value`` that Annex E does not allow, if any."""
    for char in value:
        if not _ALLOWED_CHARS.fullmatch(char):
            return char
    return None


@dataclass(frozen=True)
class AigcLabel:
    """The seven GB 45438 fields, all strings (empty when absent)."""

    label: str = "1"
    content_producer: str = ""
    produce_id: str = ""
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    @classmethod
    def create(
        cls,
        producer: str,
        produce_id: str | None = None,
        propagator: str | None = None,
        propagate_id: str | None = None,
        label: str = "1",
        reserved1: str = "",
        reserved2: str = "",
    ) -> AigcLabel:
        """A validated label for a first write: a random ProduceID unless given, and the
        propagation fields copied from the production fields unless given."""
        produce_id = uuid.uuid4().hex if produce_id is None else produce_id
        made = cls(
            label=label,
            content_producer=producer,
            produce_id=produce_id,
            reserved_code1=reserved1,
            content_propagator=producer if propagator is None else propagator,
            propagate_id=produce_id if propagate_id is None else propagate_id,
            reserved_code2=reserved2,
        )
        made.validate()
        return made

    def validate(self) -> None:
        """Raise :class:`UsageError` unless every field follows Annex E.

        Label must be "1", "2" or "3"; ContentProducer and ProduceID must be set; every value
        is printable ASCII without space, '"' or '\\'.
        """
        for key, attribute in FIELD_KEYS:
            value = getattr(self, attribute)
            if not isinstance(value, str):
                raise UsageError(f"AIGC {key} must be a string, got {type(value).__name__}")
            if (char := _bad_character(value)) is not None:
                raise UsageError(
                    f"AIGC {key} contains {char!r}: use printable ASCII without spaces, "
                    "'\"' or '\\'"
                )
        if self.label not in LABEL_VALUES:
            raise UsageError(f'AIGC Label must be "1", "2" or "3", got {self.label!r}')
        for key, value in (
            ("ContentProducer", self.content_producer),
            ("ProduceID", self.produce_id),
        ):
            if not value:
                raise UsageError(f"AIGC {key} must not be empty")

    def implied_payload(self) -> str | None:
        """The watermark payload this label names: see :func:`label_payload`."""
        return label_payload(self.to_dict())

    def bound_to(self, payload_hex: str) -> AigcLabel:
        """This label, naming ``payload_hex`` (the watermark found in its file).

        Unchanged when producer and ProduceID already imply it; else ReservedCode1 holds the
        binding (:data:`WATERMARK_BINDING_PREFIX`). A ReservedCode1 the caller set to
        something else is a :class:`UsageError`: the label could not name the watermark.
        """
        if payload_for_label(self.content_producer, self.produce_id) == payload_hex:
            return self
        binding = WATERMARK_BINDING_PREFIX + payload_hex
        if self.reserved_code1 not in ("", binding) and not _BINDING.fullmatch(self.reserved_code1):
            raise UsageError(
                f"ReservedCode1 {self.reserved_code1!r}: the file carries a watermark (payload "
                f"{payload_hex}) and the label names it there ({binding}); leave ReservedCode1 "
                "empty"
            )
        return replace(self, reserved_code1=binding)

    def to_dict(self) -> dict[str, str]:
        """The fields under their JSON names, in the standard's order."""
        return {key: getattr(self, attribute) for key, attribute in FIELD_KEYS}

    def to_json(self, wrapped: bool = False) -> str:
        """Compact JSON: the bare seven-field object, or ``{"AIGC": {...}}`` if ``wrapped``."""
        value: dict[str, Any] = self.to_dict()
        if wrapped:
            value = {WRAPPER_KEY: value}
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> AigcLabel:
        """Parse either form, leniently: unknown keys are ignored, missing ones become "".

        Does not validate the values (a reader reports what the file says); raises
        :class:`LabelFormatError` when the text is not a JSON object of scalar values.
        """
        try:
            value = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise LabelFormatError(f"AIGC label is not valid JSON ({error})") from None
        except RecursionError:  # json's decoder recurses once per nesting level
            raise LabelFormatError("AIGC label is not valid JSON (nested too deeply)") from None
        if isinstance(value, dict) and isinstance(value.get(WRAPPER_KEY), dict):
            value = value[WRAPPER_KEY]
        if not isinstance(value, dict):
            raise LabelFormatError(f"AIGC label must be a JSON object, got {type(value).__name__}")
        found: dict[str, str] = {}
        for key, attribute in FIELD_KEYS:
            item = value.get(key, "")
            if item is None:
                item = ""
            elif isinstance(item, bool | int | float):
                item = json.dumps(item)
            elif not isinstance(item, str):
                raise LabelFormatError(f"AIGC {key} must be a string, got {type(item).__name__}")
            found[attribute] = item
        return cls(**found)


def label_payload(fields: Mapping[str, str] | None) -> str | None:
    """The watermark payload a label's fields (JSON names) name, if any.

    A ReservedCode1 binding (:data:`WATERMARK_BINDING_PREFIX` and 16 hex digits) names it
    outright; otherwise producer and ProduceID imply it
    (:func:`~marking.scheme.payload.payload_for_label`), as ``mark`` embeds it. ``None``
    without a producer or a ProduceID.
    """
    if not fields:
        return None
    bound = _BINDING.fullmatch(str(fields.get("ReservedCode1") or ""))
    if bound is not None:
        return bound.group(1)
    producer, produce_id = fields.get("ContentProducer"), fields.get("ProduceID")
    if producer and produce_id:
        return payload_for_label(str(producer), str(produce_id))
    return None


def _uscc_check_char(body: str) -> str:
    """The check character of a Unified Social Credit Code's first 17 characters."""
    pairs = zip(body, _USCC_WEIGHTS, strict=True)
    total = sum(_USCC_CHARS.index(char) * weight for char, weight in pairs)
    return _USCC_CHARS[(31 - total % 31) % 31]


def provider_code_problem(code: str) -> str | None:
    """Why ``code`` is not a TC260 provider code, or ``None`` if it is one."""
    if len(code) != 27:
        return f"must be 27 characters, got {len(code)}"
    match = _PROVIDER_CODE.fullmatch(code)
    if match is None:
        return (
            'must be "00" + "11" + an 18-character USCC + service type "1" or "2" '
            "+ a 4-character model code (digits and capital letters)"
        )
    uscc = match.group(1)
    if any(char not in _USCC_CHARS for char in uscc):
        return f"USCC {uscc} contains a character a USCC cannot have (I, O, S, V or Z)"
    if _uscc_check_char(uscc[:17]) != uscc[17]:
        return f"USCC {uscc} has a wrong check character (expected {_uscc_check_char(uscc[:17])})"
    return None


def is_provider_code(code: str) -> bool:
    """Whether ``code`` has the 27-character TC260 provider-code form (USCC checked)."""
    return provider_code_problem(code) is None


def validate_provider_code(code: str, field: str = "ContentProducer") -> None:
    """Raise :class:`UsageError` unless ``code`` is a well-formed TC260 provider code."""
    if (problem := provider_code_problem(code)) is not None:
        raise UsageError(f"AIGC {field} {code!r} is not a TC260 provider code: {problem}")
