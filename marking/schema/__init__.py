"""The JSON Schema (draft 2020-12) of every record ``aigc-mark`` prints with ``--json`` or
writes in a ``--report`` file: ``records.schema.json``, shipped with the package and described
in docs/json-records.md.

Rule: data and the stdlib only; imports nothing of the toolkit (like :mod:`marking.errors`),
so any layer, a test or a consumer of the records may read it. Validating needs the
``jsonschema`` library (the test extra), which this module does not import.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: The schema's file name inside this package.
SCHEMA_FILE = "records.schema.json"
#: The record types the schema defines, one per verb, and a ``--report`` line.
RECORD_TYPES = ("detect", "embed", "label", "tag", "mark", "verify", "report")


@cache
def _schema_text() -> str:
    return resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The whole schema (a fresh copy): it accepts a record of any verb."""
    return json.loads(_schema_text())


def record_schema(record_type: str) -> dict[str, Any]:
    """A schema for one record type (see :data:`RECORD_TYPES`): ``embed`` accepts only what
    ``embed --json`` prints, ``report`` a line of a ``--report`` file."""
    if record_type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {record_type!r}; choose from {RECORD_TYPES}")
    schema = load_schema()
    return {
        "$schema": schema["$schema"],
        "$id": schema["$id"],
        "$ref": f"#/$defs/{record_type}",
        "$defs": schema["$defs"],
    }


__all__ = ["RECORD_TYPES", "SCHEMA_FILE", "load_schema", "record_schema"]
