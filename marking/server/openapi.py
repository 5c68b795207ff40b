"""The OpenAPI 3.1 description of the public detection API, served at
``/api/v1/openapi.json``: written out here, so what it promises is read in one place."""

from __future__ import annotations

from typing import Any

from marking.server.settings import ServerSettings
from marking.version import __version__

_ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "one line saying what is wrong"},
        "status": {"type": "integer"},
    },
}

_RECORD = {
    "type": "object",
    "description": "The record `aigc-mark verify --json` prints (docs/json-records.md), with "
    "system provenance only, plus `verdict_id` and `summary`.",
    "required": ["verdict_id", "input", "kind", "status", "verdict", "ai_marked", "summary"],
    "properties": {
        "verdict_id": {"type": "string", "description": "quote it when giving feedback"},
        "input": {"type": "string", "description": "the upload's name, cleaned"},
        "kind": {"enum": ["image", "audio", "video"]},
        "status": {"const": "verified"},
        "bytes": {"type": "integer"},
        "seconds": {"type": "number"},
        "verdict": {"type": "string"},
        "ai_marked": {"type": "boolean"},
        "aigc": {
            "type": ["object", "null"],
            "description": "the GB 45438 implicit label's fields (Label, ContentProducer, "
            "ProduceID, ReservedCode1, ContentPropagator, PropagateID, ReservedCode2)",
        },
        "iptc_digital_source_type": {"type": ["string", "null"]},
        "c2pa": {
            "type": ["object", "null"],
            "description": "state (absent, valid, untrusted, invalid, unreadable), reason, "
            "digital_source_type, first_action, aigc, soft_binding_payload, "
            "signer_organization, timestamped, timestamp_time",
        },
        "watermark": {
            "type": ["object", "null"],
            "description": "checked, detected, payload (16 hex digits), false_alarm (the "
            "probability that an unmarked file gives a detection this strong, for all the "
            "keys tried together), score, key (public or provider); a video's has video and "
            "audio parts",
        },
        "agreement": {"enum": ["n/a", "agree", "consistent", "mismatch"]},
        "trusted_signer": {"type": ["string", "null"]},
        "backed": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "summary": {
            "type": "object",
            "required": ["en", "zh"],
            "properties": {"en": {"type": "string"}, "zh": {"type": "string"}},
        },
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "malformed request",
        404: "not enabled, or no such verdict",
        408: "the upload or the verification took too long",
        413: "too large",
        415: "not a picture, recording or video the server can verify",
        422: "the file cannot be read (empty, truncated, corrupt)",
        429: "busy: retry after the seconds in Retry-After",
        502: "the remote server could not be fetched from",
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(code): {"description": reasons[code], **error} for code in codes}


def _verified() -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Verification"}
    return {"description": "the marks found", "content": {"application/json": {"schema": schema}}}


def description(settings: ServerSettings) -> dict[str, Any]:
    """The OpenAPI document of this server (its upload cap and what is enabled)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aigc-marking public detection API",
            "version": __version__,
            "description": "Checks a file for the AI marks aigc-marking writes: the GB 45438 "
            "metadata label, the IPTC digital source type, the C2PA manifest and the invisible "
            "watermark. Answers carry system provenance only.",
        },
        "paths": {**_verify_paths(settings), **_other_paths()},
        "components": {"schemas": {"Error": _ERROR, "Verification": _RECORD}},
    }


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _verify_paths(settings: ServerSettings) -> dict[str, Any]:
    upload_errors = _errors(400, 408, 413, 415, 422, 429)
    return {
        "/api/v1/verify": {
            "post": {
                "summary": "Verify an uploaded file for every AI mark",
                "description": "A multipart form with one file field named `file`, or the raw "
                "file as the body (`?name=` gives its name). At most "
                f"{settings.max_upload_bytes} bytes.",
                "parameters": [
                    {"name": "name", "in": "query", "required": False, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                "responses": {"200": _verified(), **upload_errors},
            }
        },
        "/api/v1/verify-url": {
            "post": {
                "summary": "Fetch a public http(s) address and verify what it holds",
                "description": "Enabled only by `--allow-url-fetch`; private, loopback and "
                "link-local addresses are refused, at every redirect.",
                "requestBody": _json_body({"url": {"type": "string", "format": "uri"}}, ["url"]),
                "responses": {"200": _verified(), **upload_errors, **_errors(404, 502)},
            }
        },
    }


def _other_paths() -> dict[str, Any]:
    feedback = {
        "verdict_id": {"type": "string"},
        "agrees": {"type": "boolean"},
        "comment": {"type": "string", "maxLength": 2000},
    }
    return {
        "/api/v1/feedback": {
            "post": {
                "summary": "Say whether a verdict was right",
                "requestBody": _json_body(feedback, ["verdict_id", "agrees"]),
                "responses": {"201": {"description": "stored"}, **_errors(400, 404, 413)},
            }
        },
        "/api/v1/info": {"get": {"summary": "Limits and features", "responses": _ok()}},
        "/healthz": {"get": {"summary": "Liveness and load", "responses": _ok()}},
    }


def _ok() -> dict[str, Any]:
    return {"200": {"description": "OK", "content": {"application/json": {}}}}
