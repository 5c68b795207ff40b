"""One vocabulary (issue 17): one name per idea across verbs and the config file, old
spellings taken for one release with a warning; the same record keys (``input``, ``kind``) in
every verb's JSON; ``detect`` takes what ``verify`` takes; options that do not apply to an
input's kind are usage errors in every verb."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile

from marking.cli import DEPRECATED_OPTIONS
from marking.cli.main import build_parser
from marking.pipeline.config import DEPRECATED_KEYS, parse_config
from marking.pipeline.jobs import OLD_KEYS
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.commands import assert_one_error_line, run_cli

RATE = 16000


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small picture, another one, and a one-second recording (never modified)."""
    root = tmp_path_factory.mktemp("vocabulary")
    pictures = root / "pictures"
    pictures.mkdir()
    for index, name in enumerate(("a.jpg", "b.png")):
        make_natural_image("RGB", (256, 192), index).save(pictures / name)
    tone = root / "tone.wav"
    soundfile.write(tone, clip("tones", 1.0, RATE), RATE)
    return {"pictures": pictures, "photo": pictures / "a.jpg", "tone": tone}


# --- one name per idea -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "old", "new", "dest", "value"),
    [
        ("tag", "--label", "--label-level", "label_level", "2"),
        ("label", "--preset", "--label-preset", "label_preset", "ai-generated-en"),
        ("label", "--preset-x264", "--x264-preset", "x264_preset", "veryfast"),
        ("embed", "--preset", "--x264-preset", "x264_preset", "veryfast"),
    ],
)
@pytest.mark.parametrize("joined", [False, True], ids=["spaced", "equals"])
def test_deprecated_spelling_works_with_one_warning(
    capsys: pytest.CaptureFixture[str],
    verb: str,
    old: str,
    new: str,
    dest: str,
    value: str,
    joined: bool,
) -> None:
    """Each old spelling still works for one release, and says once, in one line, what to use."""
    assert DEPRECATED_OPTIONS[verb][old] == new
    extra = ["--producer", "P"] if verb == "tag" else []
    option = [f"{old}={value}"] if joined else [old, value]
    args = build_parser().parse_args([verb, "in.mp4", "-o", "out.mp4", *extra, *option])
    assert getattr(args, dest) == value
    warning = capsys.readouterr().err.splitlines()
    assert warning == [f"aigc-mark: warning: {old} is deprecated; use {new}"]
    # The new name gives the same setting and no warning.
    again = build_parser().parse_args([verb, "in.mp4", "-o", "out.mp4", *extra, new, value])
    assert getattr(again, dest) == value
    assert capsys.readouterr().err == ""


def test_label_level_and_presets_mean_one_thing_in_every_verb() -> None:
    """--label-level is the GB 45438 level, --label-preset the visible label's wording and
    --x264-preset the encoder's speed preset, wherever they appear."""
    parser = build_parser()
    tag = parser.parse_args(
        ["tag", "a.jpg", "-o", "b.jpg", "--producer", "P", "--label-level", "3"]
    )
    mark = parser.parse_args(["mark", "a.jpg", "-o", "out", "--label-level", "3"])
    assert tag.label_level == mark.label_level == "3"
    for verb in ("label", "embed"):
        wording = ["--label-preset", "ai-generated-en"]
        args = parser.parse_args([verb, "a.mp4", "-o", "b.mp4", *wording, "--x264-preset", "fast"])
        assert (args.label_preset, args.x264_preset) == ("ai-generated-en", "fast")


def test_mark_says_its_output_is_a_directory(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["mark", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-o OUTDIR, --outdir OUTDIR output directory (made if missing)" in text


@pytest.mark.parametrize(
    ("text", "table", "old", "new", "value"),
    [
        ('[mark]\nproducer = "P"\nlabel = "2"\n', "mark", "label", "label_level", "2"),
    ],
)
def test_deprecated_config_keys_work_with_one_warning(
    capsys: pytest.CaptureFixture[str], text: str, table: str, old: str, new: str, value: str
) -> None:
    from marking.pipeline.config import config_from

    assert DEPRECATED_KEYS[tuple(table.split("."))][old] == new
    config = config_from(parse_config(text))
    warning = capsys.readouterr().err.splitlines()
    assert warning == [f"aigc-mark: warning: config [{table}] {old} is deprecated; use {new}"]
    assert config.label_level == value
    current = config_from(parse_config(text.replace(f"{old} =", f"{new} =")))
    assert current == config
    assert capsys.readouterr().err == ""


def test_old_and_new_config_key_together_are_refused() -> None:
    from marking.errors import UsageError

    with pytest.raises(UsageError, match="both label and label_level"):
        parse_config('[mark]\nlabel = "1"\nlabel_level = "2"\n')


def test_label_help_shows_a_plain_percent_sign() -> None:
    result = run_cli("label", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "at least 5% of the short side" in text
    assert "%%" not in result.stdout


# --- one set of record keys ----------------------------------------------------------------------


def test_detect_and_verify_records_name_input_and_kind(media: dict[str, Path]) -> None:
    """Every verb's JSON names the path given ``input`` and the media ``kind``; the old names
    (``file``, ``modality``) are still there for one release, with the same values."""
    photo = str(media["photo"])
    detected = json.loads(run_cli("detect", "--json", photo).stdout)
    verified = json.loads(run_cli("verify", "--json", photo).stdout)
    for record in (detected, verified):
        assert (record["input"], record["kind"]) == (photo, "image")
        for old, new in OLD_KEYS.items():
            if old in record:
                assert record[old] == record[new]


# --- detect takes what verify takes --------------------------------------------------------------


def test_detect_walks_a_directory_like_verify(media: dict[str, Path], tmp_path: Path) -> None:
    """``detect DIR`` walks it (it used to fail "is a directory"), with -j and --report."""
    report = tmp_path / "report.jsonl"
    result = run_cli("detect", media["pictures"], "-j", "2", "--report", report)
    assert result.returncode == 1, result.stderr  # nothing marked
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("a.jpg", "b.png"), strict=True):  # in walking order
        assert line.startswith(f"{media['pictures'] / name}: no watermark (score ")
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(record["input"] for record in records) == [
        str(media["pictures"] / "a.jpg"),
        str(media["pictures"] / "b.png"),
    ]
    assert all(record["kind"] == "image" and not record["detected"] for record in records)


def test_detect_takes_globs_and_paths_on_standard_input(media: dict[str, Path]) -> None:
    pattern = str(media["pictures"] / "*.jpg")
    globbed = run_cli("detect", pattern)
    assert globbed.returncode == 1, globbed.stderr
    assert globbed.stdout.startswith(f"{media['photo']}: no watermark")
    listed = run_cli("detect", "-", "--json", stdin=f"{media['photo']}\n{media['tone']}\n")
    assert listed.returncode == 1, listed.stderr
    kinds = [json.loads(line)["kind"] for line in listed.stdout.splitlines()]
    assert kinds == ["image", "audio"]  # in the order given


@pytest.mark.parametrize("verb", ["detect", "verify", "mark"])
def test_glob_matching_nothing_is_one_clear_line(verb: str, tmp_path: Path) -> None:
    """Not "no such file" and "1 files: 1 failed": what was wrong, in one line, exit 2."""
    pattern = str(tmp_path / "*.nothing")
    extra = ["-o", str(tmp_path / "out"), "--producer", "P"] if verb == "mark" else []
    line = assert_one_error_line(run_cli(verb, pattern, *extra), exit_code=2)
    assert line == f"aigc-mark: error: no file matches {pattern}"
    assert not (tmp_path / "out").exists()


# --- options that do not apply ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "input_name", "option", "kind"),
    [
        ("label", "tone", ["--position", "top"], "audio"),
        ("label", "tone", ["--quality", "50"], "audio"),
        ("label", "tone", ["--x264-preset", "fast"], "audio"),
        ("label", "photo", ["--cue", "speech"], "image"),
        ("label", "photo", ["--whole"], "image"),
        ("embed", "tone", ["--quality", "50"], "audio"),
        ("embed", "photo", ["--crf", "20"], "image"),
        ("embed", "tone", ["--label-position", "top"], "audio"),
        ("detect", "photo", ["--every", "2"], "image"),
        ("detect", "tone", ["--no-audio"], "audio"),
    ],
)
def test_options_that_do_not_apply_are_usage_errors(
    media: dict[str, Path], tmp_path: Path, verb: str, input_name: str, option: list, kind: str
) -> None:
    """Given explicitly for a kind of media they do not apply to, options are refused in
    every verb (``label tone.wav --position top`` used to be ignored, exit 0)."""
    output = ["-o", str(tmp_path / f"out{media[input_name].suffix}")] if verb != "detect" else []
    result = run_cli(verb, media[input_name], *output, *option)
    line = assert_one_error_line(result, exit_code=2)
    assert line.startswith(f"aigc-mark: error: {option[0]}: for ")
    assert line.endswith(f" input only, not {kind}")
    assert list(tmp_path.iterdir()) == []


def test_options_that_apply_are_still_taken(media: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "labeled.wav"
    result = run_cli("label", media["tone"], "-o", output, "--cue-at", "start,end")
    assert result.returncode == 0, result.stderr
    assert output.is_file()
