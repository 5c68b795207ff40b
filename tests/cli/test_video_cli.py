"""``aigc-mark embed`` and ``detect`` on videos, run as a user would (``python -m marking``).

The kind of media comes from the content; options, JSON fields and exit codes are those of
pictures and recordings, plus the encoder options, --copy-audio and --label for the visible
label in the same pass.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from marking.cli import ProgressBar
from marking.cli.detect import DEFAULT_EVERY as CLI_DEFAULT_EVERY
from marking.files.video import DEFAULT_EVERY
from marking.media.video import EncoderSettings, probe_video, transcode
from marking.schema import record_schema
from tests.files.test_video_watermark_io import DETECT_FIELDS, EMBED_FIELDS, audio_packets
from tests.support.commands import assert_one_error_line, run_cli, sha256
from tests.support.video_clips import clip_path

KEY = "Video-Cli-Secret-6013"
PAYLOAD = "0123456789abcdef"


@pytest.fixture(scope="module")
def clip() -> Path:
    """640x360, 3 s of H.264 and AAC (cached; never modified)."""
    return clip_path("bbb", seconds=3.0)


@pytest.fixture(scope="module")
def embedded(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The clip marked and labeled through the command line, and its JSON record."""
    digest = sha256(clip)
    marked = tmp_path_factory.mktemp("video-cli") / "marked.mp4"
    result = run_cli(
        "embed",
        clip,
        "-o",
        marked,
        "--payload",
        PAYLOAD,
        "--key",
        KEY,
        "--x264-preset",
        "ultrafast",
        "--crf",
        "20",
        "--label",
        "--label-preset",
        "ai-generated-en",
        "--label-position",
        "top-left",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar: stderr is not a terminal
    assert sha256(clip) == digest
    return marked, json.loads(result.stdout)


def test_embed_json_record(embedded: tuple[Path, dict[str, Any]]) -> None:
    marked, record = embedded
    assert set(record) == EMBED_FIELDS
    assert record["output"] == str(marked)
    assert record["payload"] == PAYLOAD
    assert (record["crf"], record["preset"]) == (20, "ultrafast")
    assert record["audio"] == "watermarked"
    assert record["psnr_min"] >= 42.0
    assert record["label"]["text"] == "AI-generated"
    assert record["label"]["box"][:2] == [7, 7]  # top-left, 2 % margin of 360 px
    assert record["label"]["frames_labeled"] == 50
    assert probe_video(marked).pix_fmt == "yuv420p"


def test_detect_json_and_exit_codes(clip: Path, embedded: tuple[Path, dict[str, Any]]) -> None:
    marked, _ = embedded
    result = run_cli("detect", marked, clip, "--key", KEY, "--json")
    assert result.returncode == 0, result.stderr
    found, plain = (json.loads(line) for line in result.stdout.splitlines())
    assert set(found) == DETECT_FIELDS | {"file"}
    assert found["file"] == str(marked)
    assert found["kind"] == "video"
    assert found["payload"] == PAYLOAD
    assert found["found_in"] == ["video", "audio"]
    assert plain["detected"] is False
    assert plain["payload"] is None
    # The unmarked clip alone: exit 1; a line of text without --json.
    alone = run_cli("detect", clip, "--key", KEY)
    assert alone.returncode == 1
    assert alone.stdout.startswith(f"{clip}: no watermark (score ")
    # The wrong key finds nothing.
    assert run_cli("detect", marked, "--key", "not the key").returncode == 1


def test_detect_video_options(embedded: tuple[Path, dict[str, Any]]) -> None:
    marked, _ = embedded
    result = run_cli(
        "detect",
        marked,
        "--key",
        KEY,
        "--every",
        "3",
        "--all-frames",
        "--start",
        "0.5",
        "--seconds",
        "2",
        "--no-audio",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{marked}: watermark found, payload {PAYLOAD}, ")
    assert result.stdout.rstrip().endswith(", in the frames")
    bad = run_cli("detect", marked, "--every", "0")
    assert bad.returncode == 2
    assert CLI_DEFAULT_EVERY == DEFAULT_EVERY


def test_copy_audio(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "copied.mp4"
    result = run_cli(
        "embed", clip, "-o", out, "--copy-audio", "--x264-preset", "ultrafast", "--key", KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"marked {clip} -> {out} payload=")
    assert "audio=copied" in result.stdout
    assert audio_packets(out) == audio_packets(clip)


def test_bad_videos_fail_in_one_line(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:20_000])
    for bad in (empty, truncated):
        line = assert_one_error_line(run_cli("embed", bad, "-o", tmp_path / "out.mp4"))
        assert bad.name in line
        line = assert_one_error_line(run_cli("detect", bad))
        assert line.startswith(f"{bad}: error: ")
    # A batch goes on past a bad file and still reports the others.
    result = run_cli("detect", truncated, clip, "--json")
    assert result.returncode == 3
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert "error" in records[0]
    assert records[1]["detected"] is False
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quality", "90"], "--quality"),
        (["--label-text", "AI"], "add --label"),
        (["--crf", "70"], "--crf"),
        (["--x264-preset", "ludicrous"], "--x264-preset"),
        (["--codec", "no-such-encoder"], "no-such-encoder"),
    ],
)
def test_video_usage_errors(clip: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    result = run_cli("embed", clip, "-o", tmp_path / "out.mp4", *extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr.splitlines()[-1]  # argparse's own errors follow the usage
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("verb", "option", "dest"),
    [
        ("embed", "--x264-preset", "x264_preset"),
        ("label", "--x264-preset", "x264_preset"),
    ],
)
def test_both_verbs_offer_every_x264_preset(verb: str, option: str, dest: str) -> None:
    """embed and label take the presets EncoderSettings takes, from its one list (embed's
    own copy lacked placebo; label took any word and failed later), and refuse others."""
    from marking.cli.main import build_parser
    from marking.media.encoding import X264_PRESETS, EncoderSettings

    parser = build_parser()
    assert "placebo" in X264_PRESETS
    for preset in X264_PRESETS:
        args = parser.parse_args([verb, "in.mp4", "-o", "out.mp4", option, preset])
        assert getattr(args, dest) == preset
        EncoderSettings(preset=preset)
    with pytest.raises(SystemExit) as refused:
        parser.parse_args([verb, "in.mp4", "-o", "out.mp4", option, "ludicrous"])
    assert refused.value.code == 2


def test_video_options_are_refused_for_pictures(tmp_path: Path) -> None:
    photo = Path(__file__).resolve().parents[2] / "samples" / "photo-dandelions.jpg"
    result = run_cli("embed", photo, "-o", tmp_path / "out.jpg", "--copy-audio", "--label")
    line = assert_one_error_line(result, exit_code=2)
    assert "--copy-audio, --label: for video input only" in line


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_only_on_a_terminal() -> None:
    screen = FakeTerminal()
    bar = ProgressBar("marking clip.mp4", delay=0.0, stream=screen)
    bar(1, 4)
    bar(4, 4)
    bar.close()
    text = screen.getvalue()
    assert "[" + "#" * 30 + "] 100%" in text
    assert "marking clip.mp4" in text
    assert text.endswith("\r")
    assert "\n" not in text
    quiet = io.StringIO()  # not a terminal
    bar = ProgressBar("x", delay=0.0, stream=quiet)
    bar(1, 2)
    bar.close()
    assert quiet.getvalue() == ""


# --- --match-size ------------------------------------------------------------------------------


def video_packet_bytes(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(packet.size for packet in container.demux(stream) if packet.size)


def test_embed_match_size_json_and_line(tmp_path: Path) -> None:
    pan = clip_path("pan", width=640, height=360, fps=25, seconds=2.0)
    out = tmp_path / "matched.mp4"
    fast = ["--x264-preset", "ultrafast", "--key", KEY]
    result = run_cli("embed", pan, "-o", out, "--match-size", "--json", *fast)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == EMBED_FIELDS
    jsonschema.validate(record, record_schema("embed"))
    entry = record["match_size"]
    assert 0.95 <= entry["ratio"] <= 1.05
    assert entry["method"] == "two-pass"
    assert entry["marked_bytes"] == pytest.approx(video_packet_bytes(out), rel=1e-3)
    assert record["output_bitrate"] == pytest.approx(entry["marked_bytes"] * 8 / 2.0, rel=1e-3)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["matched.mp4"]

    small = clip_path("pan", width=320, height=256, fps=10, seconds=1.0)
    line = run_cli("embed", small, "-o", tmp_path / "small.mp4", "--match-size", *fast)
    assert line.returncode == 0, line.stderr
    assert " size=" in line.stdout
    assert line.stdout.rstrip().endswith("x plain")


def test_match_size_is_for_videos_only(tmp_path: Path) -> None:
    photo = Path(__file__).resolve().parents[2] / "samples" / "photo-dandelions.jpg"
    result = run_cli("embed", photo, "-o", tmp_path / "out.jpg", "--match-size")
    line = assert_one_error_line(result, exit_code=2)
    assert "--match-size: for video input only" in line


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ("[video.encoder]\nbitrate = 2000000\n", ["--match-size"], "--match-size picks the video"),
        (
            "[video.encoder]\nbitrate = 2000000\nmatch_size = true\n",
            [],
            "[video.encoder]: match_size picks the video bit rate itself",
        ),
    ],
)
def test_mark_match_size_with_a_bitrate_is_refused(
    clip: Path, tmp_path: Path, config: str, flags: list[str], message: str
) -> None:
    settings = tmp_path / "mark.toml"
    settings.write_text(config, encoding="utf-8")
    outdir = tmp_path / "out"
    result = run_cli(
        "mark", clip, "-o", outdir, "--config", settings, "--steps", "watermark", *flags
    )
    line = assert_one_error_line(result, exit_code=2)
    assert message in line
    assert not outdir.exists() or list(outdir.iterdir()) == []


@pytest.mark.parametrize(
    ("config", "flags"),
    [("", ["--match-size"]), ("match_size = true\n", [])],
    ids=["flag", "config"],
)
def test_mark_matches_size_from_the_flag_or_the_config(
    tmp_path: Path, config: str, flags: list[str]
) -> None:
    small = clip_path("pan", width=320, height=256, fps=10, seconds=1.0)
    settings = tmp_path / "mark.toml"
    settings.write_text(f'[video.encoder]\npreset = "ultrafast"\n{config}', encoding="utf-8")
    outdir, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = run_cli(
        "mark", small, "-o", outdir, "--config", settings, "--steps", "watermark",
        "--key", KEY, "--report", report, *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert record["status"] == "marked"
    assert [path.name for path in outdir.iterdir()] == [small.name]
    plain = tmp_path / "plain.mp4"  # the plain re-encode, measured here
    transcode(small, plain, lambda _planes, _info: None, EncoderSettings(preset="ultrafast"))
    ratio = video_packet_bytes(outdir / small.name) / video_packet_bytes(plain)
    assert 0.95 <= ratio <= 1.05


# --- --profile ---------------------------------------------------------------------------------


def x264_options(path: Path) -> str:
    """The options x264 wrote into the stream (its SEI text: "... options: ... subme=2 ...")."""
    data = path.read_bytes()
    start = data.index(b"options: ")
    return data[start : data.index(b"\0", start)].decode("ascii", "replace")


def test_embed_profile_fast_is_preset_veryfast_unless_overridden(tmp_path: Path) -> None:
    small = clip_path("pan", width=320, height=256, fps=10, seconds=1.0)
    fast = run_cli("embed", small, "-o", tmp_path / "fast.mp4", "--profile", "fast", "--json")
    assert fast.returncode == 0, fast.stderr
    record = json.loads(fast.stdout)
    assert (record["crf"], record["preset"]) == (18, "veryfast")
    assert " subme=2 " in x264_options(tmp_path / "fast.mp4")  # what x264's veryfast sets
    given = ["--profile", "fast", "--x264-preset", "ultrafast", "--crf", "23", "--json"]
    over = run_cli("embed", small, "-o", tmp_path / "over.mp4", *given)
    assert over.returncode == 0, over.stderr
    assert (json.loads(over.stdout)["crf"], json.loads(over.stdout)["preset"]) == (
        23,
        "ultrafast",
    )
    default = run_cli("embed", small, "-o", tmp_path / "default.mp4", "--json")
    assert json.loads(default.stdout)["preset"] == "medium"
    assert " subme=7 " in x264_options(tmp_path / "default.mp4")


def test_mark_profile_fast_replaces_the_config_preset(tmp_path: Path) -> None:
    small = clip_path("pan", width=320, height=256, fps=10, seconds=1.0)
    settings = tmp_path / "mark.toml"
    settings.write_text('[video.encoder]\npreset = "slow"\n', encoding="utf-8")
    outdir = tmp_path / "out"
    result = run_cli(
        "mark", small, "-o", outdir, "--config", settings, "--steps", "watermark",
        "--key", KEY, "--profile", "fast",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert " subme=2 " in x264_options(outdir / small.name)
    bad = run_cli("mark", small, "-o", tmp_path / "bad", "--profile", "quick")
    assert bad.returncode == 2
