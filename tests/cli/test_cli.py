"""The ``aigc-mark`` command line, run as a user would: ``python -m marking ...``.

Tests marked ``needs_watermark`` embed or detect for real and fail until
marking.watermark.image is implemented; the others check parsing, errors and exit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import marking
from marking.cli import main as cli_main
from tests.support.commands import assert_one_error_line, run_cli, sha256

ImageFileFactory = Callable[..., Path]

SECRET_KEY = "Zebra-Quartz-Secret-7781"
PAYLOAD = "00112233445566ff"


@pytest.fixture
def bad_inputs(tmp_path: Path, image_file: ImageFileFactory) -> dict[str, Path]:
    """Files that cannot be read, by what is wrong with them."""
    empty = tmp_path / "empty.png"
    empty.touch()
    truncated = image_file("truncated.jpg")
    truncated.write_bytes(truncated.read_bytes()[:3000])
    text = tmp_path / "text.png"
    text.write_text("not an image at all\n")
    return {
        "missing": tmp_path / "missing.png",
        "empty": empty,
        "truncated JPEG": truncated,
        "text named .png": text,
    }


# --- no watermark needed ------------------------------------------------------------------


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "embed" in result.stdout
    assert "detect" in result.stdout
    for command in ("embed", "detect"):
        sub = run_cli(command, "--help")
        assert sub.returncode == 0
        assert "--key-file" in sub.stdout
        assert "--json" in sub.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"aigc-mark {cli_main.package_version()}\n"
    assert cli_main.package_version() == marking.__version__


@pytest.mark.parametrize(
    "statement",
    [
        "import marking",
        "import marking.cli.main; marking.cli.main.build_parser()",
    ],
)
def test_startup_imports_nothing_heavy(statement: str) -> None:
    check = (
        f"import sys; {statement}; "
        "heavy = [m for m in ('numpy', 'numba', 'PIL', 'scipy', 'marking.media.image') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_lazy_public_api() -> None:
    from marking.files.image import embed_file
    from marking.scheme.keys import DEFAULT_KEY, Key

    assert marking.embed_file is embed_file
    assert marking.Key is Key
    assert marking.DEFAULT_KEY == DEFAULT_KEY
    assert set(marking.__all__) <= set(dir(marking))
    for name in marking.__all__:
        assert getattr(marking, name) is not None
    with pytest.raises(AttributeError):
        _ = marking.no_such_name


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["embed", "in.png"],
        ["embed", "in.png", "-o", "out.png", "--strength", "0"],
        ["embed", "in.png", "-o", "out.png", "--strength", "4.5"],
        ["embed", "in.png", "-o", "out.png", "--strength", "nan"],
        ["embed", "in.png", "-o", "out.png", "--quality", "0"],
        ["embed", "in.png", "-o", "out.png", "--quality", "101"],
        ["embed", "in.png", "-o", "out.png", "--key", "a", "--key-file", "k"],
        ["detect"],
        ["detect", "in.png", "--bogus"],
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_payload_is_a_usage_error(image_file: ImageFileFactory, tmp_path: Path) -> None:
    source = image_file("in.png")
    result = run_cli("embed", source, "-o", tmp_path / "out.png", "--payload", "xyz")
    line = assert_one_error_line(result, exit_code=2)
    assert line.startswith("aigc-mark: error: ")
    assert "payload" in line
    assert not (tmp_path / "out.png").exists()


def test_missing_key_file_is_a_usage_error(image_file: ImageFileFactory, tmp_path: Path) -> None:
    result = run_cli("detect", image_file("in.png"), "--key-file", tmp_path / "no-key")
    line = assert_one_error_line(result, exit_code=2)
    assert "--key-file: no such file" in line
    assert "no-key" not in line  # the value given might be the key itself


@pytest.mark.parametrize("problem", ["missing", "empty", "truncated JPEG", "text named .png"])
@pytest.mark.parametrize("command", ["embed", "detect"])
def test_bad_input_is_one_error_line_exit_3(
    bad_inputs: dict[str, Path], tmp_path: Path, problem: str, command: str
) -> None:
    path = bad_inputs[problem]
    output = tmp_path / "out.png"
    args = ["embed", path, "-o", output] if command == "embed" else ["detect", path]

    result = run_cli(*args)

    line = assert_one_error_line(result)
    assert str(path) in line
    assert "error" in line
    assert result.stdout == ""
    assert not output.exists()


def test_detect_json_reports_bad_input_as_object(bad_inputs: dict[str, Path]) -> None:
    result = run_cli("detect", "--json", bad_inputs["empty"])
    assert result.returncode == 3
    path = str(bad_inputs["empty"])
    assert json.loads(result.stdout) == {"input": path, "file": path, "error": "file is empty"}


def test_embed_onto_input_is_refused(image_file: ImageFileFactory) -> None:
    source = image_file("in.png")
    digest = sha256(source)
    result = run_cli("embed", source, "-o", source)
    line = assert_one_error_line(result)
    assert "refusing to overwrite the input" in line
    assert sha256(source) == digest


def test_embed_into_missing_directory(image_file: ImageFileFactory, tmp_path: Path) -> None:
    result = run_cli("embed", image_file("in.png"), "-o", tmp_path / "nowhere" / "out.png")
    assert "does not exist" in assert_one_error_line(result)


def test_key_never_printed_on_errors(
    bad_inputs: dict[str, Path], image_file: ImageFileFactory, tmp_path: Path
) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET_KEY + "\n")
    source = image_file("in.png")
    runs = [
        run_cli("detect", bad_inputs["missing"], "--key", SECRET_KEY),
        run_cli("detect", bad_inputs["truncated JPEG"], env={"AIGC_MARK_KEY": SECRET_KEY}),
        run_cli("embed", source, "-o", source, "--key", SECRET_KEY),
        run_cli(
            "embed", source, "-o", tmp_path / "o.png", "--key-file", key_file, "--payload", "zz"
        ),
        run_cli("embed", source, "-o", tmp_path / "o.png", "--key", SECRET_KEY, "--strength", "9"),
    ]
    for result in runs:
        assert result.returncode != 0
        assert SECRET_KEY not in result.stdout + result.stderr


# --- main() in process: failures that are hard to provoke from outside --------------------


def test_unexpected_exception_is_one_line_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import marking.files.image

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"internal failure\nsecond line with {SECRET_KEY}")

    monkeypatch.setattr(marking.files.image, "embed_file", broken)
    monkeypatch.delenv("AIGC_MARK_DEBUG", raising=False)
    code = cli_main.main(["embed", "x.png", "-o", str(tmp_path / "y.png"), "--key", SECRET_KEY])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("aigc-mark: error: unexpected RuntimeError: internal failure")
    assert SECRET_KEY not in captured.err

    monkeypatch.setenv("AIGC_MARK_DEBUG", "1")
    assert cli_main.main(["embed", "x.png", "-o", str(tmp_path / "y.png")]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_interrupt_exits_130_without_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import marking.files.image

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(marking.files.image, "embed_file", interrupted)
    assert cli_main.main(["embed", "x.png", "-o", str(tmp_path / "y.png")]) == 130
    assert capsys.readouterr().out == ""


def test_exit_codes_are_defined_once_and_readme_says_the_same() -> None:
    """Every exit code comes from marking.errors.ExitCode: the errors', the interrupts' and
    the command line's; README's table names the same numbers."""
    import re
    import signal

    from marking.errors import ExitCode, MarkingError, UnusableOutputError, UsageError
    from marking.media.interrupts import Interrupted

    assert MarkingError.exit_code is ExitCode.FAILED
    assert UsageError.exit_code is UnusableOutputError.exit_code is ExitCode.USAGE
    assert Interrupted(signal.SIGINT).exit_code is ExitCode.INTERRUPTED
    assert Interrupted(signal.SIGTERM).exit_code is ExitCode.TERMINATED
    assert ExitCode.of_signal(signal.SIGPIPE) is ExitCode.BROKEN_PIPE
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = re.search(r"- Exit codes: (.*?)\n(?:- |\n)", readme, re.DOTALL)
    assert table is not None
    assert [int(code) for code in re.findall(r"\*\*(\d+)\*\*", table[1])] == [
        ExitCode.OK,
        ExitCode.NO_MARK,
        ExitCode.USAGE,
        ExitCode.FAILED,
    ]
    assert f"exit {ExitCode.INTERRUPTED} or {ExitCode.TERMINATED}" in readme
    sources = Path(marking.__file__).parent
    for module in ("cli/__init__.py", "cli/main.py", "cli/mark.py", "cli/verify.py"):
        text = (sources / module).read_text(encoding="utf-8")
        assert not re.search(r"EXIT_\w+ = |return [0-3]\b|128 \+", text), module


def test_detect_batch_continues_past_failures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import marking.files.image
    from marking.errors import InputError
    from marking.watermark.image import ImageDetection

    def fake_detect(path: str, **kwargs: object) -> ImageDetection:
        if path == "bad.png":
            error = InputError("bad.png: file is empty")
            error.problem = "file is empty"  # type: ignore[attr-defined]
            raise error
        if path == "crash.png":
            raise ValueError("decoder exploded")
        return ImageDetection(path == "marked.png", "ab" * 8, 1e-9, 12.0, {"scale": 1.0})

    monkeypatch.setattr(marking.files.image, "detect_file", fake_detect)
    files = ["marked.png", "bad.png", "plain.png", "crash.png"]
    assert cli_main.main(["detect", *files]) == 3
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "marked.png: watermark found, payload abababababababab, false alarm 1.0e-09",
        "plain.png: no watermark (score 12.00)",
    ]
    assert captured.err.splitlines() == [
        "bad.png: error: file is empty",
        "crash.png: error: unexpected ValueError: decoder exploded",
    ]
    assert cli_main.main(["detect", "plain.png"]) == 1
    assert cli_main.main(["detect", "plain.png", "marked.png"]) == 0


# --- with the real watermark ----------------------------------------------------------------


@pytest.fixture
def photo(image_file: ImageFileFactory) -> Path:
    return image_file("photo.png")


@pytest.mark.needs_watermark
def test_embed_then_detect_round_trip(photo: Path, tmp_path: Path) -> None:
    digest = sha256(photo)
    marked = tmp_path / "marked.png"

    embedded = run_cli("embed", photo, "-o", marked, "--payload", PAYLOAD)

    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stderr == ""
    assert embedded.stdout.startswith(f"marked {photo} -> {marked} payload={PAYLOAD} psnr=")
    assert embedded.stdout.rstrip().endswith(" dB")
    assert sha256(photo) == digest
    detected = run_cli("detect", marked)
    assert detected.returncode == 0, detected.stderr
    assert detected.stdout.startswith(f"{marked}: watermark found, payload {PAYLOAD}, false alarm")


@pytest.mark.needs_watermark
def test_json_output_fields_and_types(photo: Path, tmp_path: Path) -> None:
    marked = tmp_path / "marked.jpg"
    embedded = run_cli("embed", photo, "-o", marked, "--json", "--quality", "92")
    assert embedded.returncode == 0, embedded.stderr
    record = json.loads(embedded.stdout)
    assert set(record) == {
        "input",
        "output",
        "kind",
        "payload",
        "psnr",
        "width",
        "height",
        "format",
    }
    assert record["input"] == str(photo)
    assert record["output"] == str(marked)
    assert record["format"] == "JPEG"
    assert (record["width"], record["height"]) == (512, 512)
    assert isinstance(record["psnr"], float)
    assert len(bytes.fromhex(record["payload"])) == 8

    detected = run_cli("detect", "--json", marked, photo)
    assert detected.returncode == 0, detected.stderr
    found, plain = (json.loads(line) for line in detected.stdout.splitlines())
    assert set(found) == {
        *("input", "kind", "file"),
        *("detected", "payload", "false_alarm", "score", "transform"),
    }
    assert found["file"] == str(marked)
    assert found["detected"] is True
    assert found["payload"] == record["payload"]
    assert isinstance(found["false_alarm"], float)
    assert 0 <= found["false_alarm"] < 1e-3
    assert isinstance(found["score"], float)
    assert isinstance(found["transform"], dict)
    assert plain["file"] == str(photo)
    assert plain["detected"] is False


@pytest.mark.needs_watermark
def test_unmarked_image_exits_1(photo: Path) -> None:
    result = run_cli("detect", photo)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{photo}: no watermark (score ")


@pytest.mark.needs_watermark
def test_wrong_key_does_not_detect(photo: Path, tmp_path: Path) -> None:
    marked = tmp_path / "marked.png"
    assert run_cli("embed", photo, "-o", marked, "--key", SECRET_KEY).returncode == 0
    assert run_cli("detect", marked, "--key", "some other key").returncode == 1
    assert run_cli("detect", marked).returncode == 1  # the public default key
    assert run_cli("detect", marked, "--key", SECRET_KEY).returncode == 0


@pytest.mark.needs_watermark
def test_key_from_environment_and_file(photo: Path, tmp_path: Path) -> None:
    marked = tmp_path / "marked.png"
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET_KEY + "\n")
    env = {"AIGC_MARK_KEY": SECRET_KEY}
    embedded = run_cli("embed", photo, "-o", marked, "--payload", PAYLOAD, env=env)
    assert embedded.returncode == 0, embedded.stderr
    assert run_cli("detect", marked, "--key-file", key_file).returncode == 0
    assert run_cli("detect", marked, env=env).returncode == 0
    assert run_cli("detect", marked).returncode == 1


@pytest.mark.needs_watermark
def test_key_never_printed_on_success(photo: Path, tmp_path: Path) -> None:
    marked = tmp_path / "marked.png"
    runs = [
        run_cli("embed", photo, "-o", marked, "--key", SECRET_KEY),
        run_cli(
            "embed", photo, "-o", marked, "--json", "--force", env={"AIGC_MARK_KEY": SECRET_KEY}
        ),
        run_cli("detect", marked, photo, "--key", SECRET_KEY),
        run_cli("detect", "--json", marked, photo, "--key", SECRET_KEY),
    ]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert SECRET_KEY not in result.stdout + result.stderr


@pytest.mark.needs_watermark
def test_detect_batch_with_bad_file_prints_the_others(
    photo: Path, bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    marked = tmp_path / "marked.png"
    assert run_cli("embed", photo, "-o", marked, "--payload", PAYLOAD).returncode == 0

    result = run_cli("detect", marked, bad_inputs["truncated JPEG"], photo)

    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{marked}: watermark found, payload {PAYLOAD}")
    assert lines[1].startswith(f"{photo}: no watermark")
    assert assert_one_error_line(result).startswith(f"{bad_inputs['truncated JPEG']}: error: ")


def test_a_key_file_others_can_read_earns_a_warning(
    image_file: ImageFileFactory, tmp_path: Path
) -> None:
    source = image_file("in.png")
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET_KEY + "\n")
    key_file.chmod(0o644)
    loose = run_cli("embed", source, "-o", tmp_path / "a.png", "--key-file", key_file)
    assert loose.returncode == 0, loose.stderr
    assert loose.stderr.splitlines() == [
        f"aigc-mark: warning: key file {key_file} is readable by anyone on this machine "
        "(mode 644); chmod 600 it"
    ]
    key_file.chmod(0o640)
    group = run_cli("embed", source, "-o", tmp_path / "b.png", "--key-file", key_file)
    assert "readable by its group (mode 640)" in group.stderr
    key_file.chmod(0o600)
    tight = run_cli("embed", source, "-o", tmp_path / "c.png", "--key-file", key_file)
    assert tight.returncode == 0
    assert tight.stderr == ""
    for result in (loose, group, tight):
        assert SECRET_KEY not in result.stdout + result.stderr


def test_redaction_spares_words_that_contain_a_very_short_key() -> None:
    from marking.cli import redact

    assert redact("error while seeking in k.wav", ["k"]) == "error while seeking in k.wav"
    assert redact("bad key-material-42 here", ["key-material-42"]) == "bad <key> here"
