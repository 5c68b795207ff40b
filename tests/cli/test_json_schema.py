"""One JSON schema: every record the command line prints with ``--json``, and every line of a
``--report`` file, validates against ``marking/schema/records.schema.json``, for pictures,
recordings and videos, marked, unmarked, skipped and failed files alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from marking.schema import RECORD_TYPES, SCHEMA_FILE, load_schema, record_schema
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.commands import run_cli
from tests.support.video_clips import clip_path

KEY = "schema-test-key"
MEDIA = ("picture.png", "voice.wav", "clip.mp4")
#: Exit codes a verb may end with here: 0 marked/found, 1 nothing found, 3 a file failed.
EXPECTED_EXITS = {0, 1, 3}


def _make_media(folder: Path) -> None:
    """A picture, a recording and a clip of each kind, small; a file that is no media."""
    folder.mkdir()
    make_natural_image(size=(256, 256)).save(folder / "picture.png")
    sf.write(folder / "voice.wav", np.asarray(clip("speech", 3.0, 16000)), 16000)
    video = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    shutil.copy(video, folder / "clip.mp4")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run_all(commands: list[tuple[Any, ...]]) -> list[Any]:
    """Run independent commands a few at a time (each is mostly start-up: imports, kernels)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda args: run_cli(*args), commands))
    for command, result in zip(commands, results, strict=True):
        assert result.returncode in EXPECTED_EXITS, (command[0], result.stderr)
    return results


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every record each verb printed (and each report line), by record type."""
    root = tmp_path_factory.mktemp("schema")
    source = root / "in"
    _make_media(source)
    key = ("--key", KEY)
    outdir = root / "out"
    steps = ("--steps", "label,watermark,metadata", "--producer", "Acme")
    mark_report, verify_report = root / "mark.jsonl", root / "verify.jsonl"
    (root / "broken.jpg").write_bytes(b"not a picture")
    first: list[tuple[Any, ...]] = []
    for name in MEDIA:
        first += [
            ("embed", source / name, "-o", root / f"embedded-{name}", *key, "--json"),
            ("label", source / name, "-o", root / f"labeled-{name}", "--json"),
            ("tag", source / name, "-o", root / f"tagged-{name}", "--producer", "Acme", "--json"),
        ]
    batch = root / "batch"  # a directory walk meets a file that is not media, and a bad one
    shutil.copytree(source, batch)
    (batch / "README.txt").write_text("not media\n")
    (batch / "broken.jpg").write_bytes(b"not a picture")
    first.append(("mark", batch, "-o", outdir, "-j", "1", *steps, *key, "--report", mark_report))
    embedded = [root / f"embedded-{name}" for name in MEDIA]
    then: list[tuple[Any, ...]] = [
        ("detect", *embedded, source / "picture.png", root / "broken.jpg", *key, "--json"),
        (
            "mark",
            batch,
            "-o",
            outdir,
            "-j",
            "1",
            *steps,
            *key,
            "--json",
        ),  # a second run: all skipped
        ("verify", batch, outdir, "-j", "1", *key, "--json"),
        ("verify", outdir, "-j", "1", *key, "--report", verify_report),
    ]
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RECORD_TYPES}
    for commands in (first, then):
        for command, result in zip(commands, _run_all(commands), strict=True):
            if "--json" in command:
                lines = _json_lines(result.stdout)
                assert lines, f"{command[0]} printed no record: {result.stderr}"
                found[command[0]].extend(lines)
    reports = {"mark": _json_lines(mark_report.read_text())}
    reports["verify"] = _json_lines(verify_report.read_text())
    for verb, lines in reports.items():
        found[verb].extend(lines)
        found["report"].extend(lines)
    return found


def _problems(schema: dict[str, Any], record: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record)
    ]


def test_the_schema_is_valid_draft_2020_12_and_ships_with_the_package() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (Path(__file__).resolve().parents[2] / "marking" / "schema" / SCHEMA_FILE).is_file()
    for record_type in RECORD_TYPES:
        assert record_type in schema["$defs"]


@pytest.mark.parametrize("record_type", RECORD_TYPES)
def test_every_record_printed_validates(
    records: dict[str, list[dict[str, Any]]], record_type: str
) -> None:
    """Each verb's records against that verb's definition, and against the whole schema."""
    assert records[record_type], f"no {record_type} record was printed"
    for schema in (record_schema(record_type), load_schema()):
        for record in records[record_type]:
            problems = _problems(schema, record)
            assert not problems, f"{record_type} record {record}:\n" + "\n".join(problems)


def test_records_cover_every_kind_and_outcome(records: dict[str, list[dict[str, Any]]]) -> None:
    """The test sees a picture, a recording and a video for every verb, and failed and
    skipped files too."""

    def shown(record: dict[str, Any]) -> str:
        return Path(record.get("input") or record.get("file") or "").name

    for record_type in ("embed", "label", "tag", "detect", "mark", "verify"):
        names = {shown(record) for record in records[record_type]}
        for name in MEDIA:
            assert any(each.endswith(name) for each in names), (record_type, name, names)
    assert any("error" in record for record in records["detect"])
    statuses = {record["status"] for record in records["mark"] + records["verify"]}
    assert {"marked", "skipped", "failed", "verified"} <= statuses


def _detection() -> dict[str, Any]:
    return {
        "input": "a.png",
        "detected": True,
        "payload": "0123456789abcdef",
        "false_alarm": 1e-12,
        "score": 9.0,
        "transform": {},
    }


@pytest.mark.parametrize(
    ("record_type", "record"),
    [
        ("detect", {k: v for k, v in _detection().items() if k != "detected"}),
        ("detect", _detection() | {"payload": "not hex"}),
        ("detect", {k: v for k, v in _detection().items() if k != "input"}),  # names no file
        ("embed", {"input": "a.png", "output": "b.png", "payload": "0123456789abcdef"}),
        ("mark", {"input": "a.png", "status": "marked", "bytes": 1, "seconds": 0.1}),
        (
            "mark",
            {
                "input": "a.png",
                "output": None,
                "status": "failed",
                "bytes": 1,
                "seconds": 0.1,
                "steps": [],
                "payload": None,
                "produce_id": None,
                "timings": {},
                "notes": [],
            },
        ),  # failed without an error
        (
            "verify",
            {"input": "a.png", "kind": "picture", "status": "verified", "bytes": 1, "seconds": 0.1},
        ),
    ],
)
def test_the_schema_refuses_records_that_break_it(record_type: str, record: dict) -> None:
    assert _problems(record_schema(record_type), record)


def test_old_and_new_key_names_both_validate() -> None:
    """`file`/`modality` (0.1, deprecated) and `input`/`kind` (canonical) during the change."""
    old = _detection() | {"file": "a.png", "modality": "image"}
    del old["input"]
    new = _detection() | {"kind": "image"}
    for record in (old, new):
        assert not _problems(record_schema("detect"), record)
    schema = load_schema()
    assert schema["$defs"]["named"]["properties"]["file"]["deprecated"] is True
    assert schema["$defs"]["named"]["properties"]["modality"]["deprecated"] is True
