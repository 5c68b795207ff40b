"""The TOML configuration of ``aigc-mark mark``: the shipped default, sections, flags, errors.

The default file is documentation that users copy, so it must say exactly what the code does:
reading it must give MarkConfig's defaults and every settings class's defaults, field by
field.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from marking.errors import UsageError
from marking.labels.audio_cue import CueSettings
from marking.labels.video_label import VideoLabelSettings
from marking.labels.visible import LabelStyle
from marking.media.video import EncoderSettings
from marking.pipeline.config import config_from, default_config_text, load_config, parse_config
from marking.pipeline.mark import DEFAULT_STEPS, MarkConfig
from marking.tags.tagging import Signing
from tests.support.commands import assert_one_error_line, run_cli

PRODUCER = "ExampleAI"
#: MarkConfig fields the default file fills with a settings object where the code keeps None
#: ("the default look"): compared with the settings class's own defaults instead.
SETTINGS_FIELDS = {
    "image_style": LabelStyle(),
    "video_label": VideoLabelSettings(),
    "cue": CueSettings(),
    "encoder": EncoderSettings(),
}


def test_print_config_is_the_shipped_file_and_parses() -> None:
    result = run_cli("mark", "--print-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == default_config_text()
    data = tomllib.loads(result.stdout)
    assert set(data) == {"mark", "c2pa", "image", "audio", "video"}
    assert parse_config(result.stdout) == data


def test_default_file_gives_the_code_defaults_field_by_field() -> None:
    from_file = config_from(parse_config(default_config_text()), producer=PRODUCER)
    from_code = MarkConfig(producer=PRODUCER)
    for item in fields(MarkConfig):
        got, expected = getattr(from_file, item.name), getattr(from_code, item.name)
        if item.name in SETTINGS_FIELDS:
            assert expected is None, item.name
            expected = SETTINGS_FIELDS[item.name]
        assert got == expected, item.name
    assert from_file.steps == DEFAULT_STEPS
    # load_config(None) and the shipped file are the same configuration.
    assert load_config(None, producer=PRODUCER) == from_code


def test_default_file_documents_every_setting_with_its_default() -> None:
    """Each table's keys are fields of its settings class, at that field's default value."""
    data = parse_config(default_config_text())
    tables = [
        (data["image"]["label"], LabelStyle),
        (data["video"]["label"]["style"], LabelStyle),
        (data["audio"]["cue"], CueSettings),
        (data["video"]["encoder"], EncoderSettings),
        ({k: v for k, v in data["video"]["label"].items() if k != "style"}, VideoLabelSettings),
    ]
    #: Fields the config file does not offer (style: its own table; the rest: code only).
    not_in_file = {"style", "extra_options", "container"}
    for table, cls in tables:
        defaults = {item.name: getattr(cls(), item.name) for item in fields(cls)}
        assert set(defaults) - set(table) - not_in_file == set(), cls.__name__
        for name, value in table.items():
            assert name in defaults, (cls.__name__, name)
            expected = defaults[name]
            if expected is None:  # TOML has no null: "" and 0 stand for "not set"
                assert value in ("", 0), (cls.__name__, name)
            elif isinstance(expected, frozenset):
                assert frozenset(value) == expected, (cls.__name__, name)
            else:
                assert value == expected, (cls.__name__, name)
    signing = Signing("chain.pem", "key.pem")
    assert data["c2pa"]["system_name"] == signing.system_name
    assert data["c2pa"]["system_version"] == signing.system_version
    assert data["mark"]["label_level"] == MarkConfig(producer=PRODUCER).label_level
    assert data["mark"]["source_type"] == MarkConfig(producer=PRODUCER).source_type


def test_sections_reach_their_settings(tmp_path: Path) -> None:
    config_file = tmp_path / "mark.toml"
    config_file.write_text(
        """
[mark]
steps = ["watermark", "metadata"]
producer = "FromFile"
label_level = 2
strength = 1.5

[image]
quality = 80

[image.label]
position = "top-left"

[audio.cue]
places = ["start", "end"]
mode = "mix"

[video]
copy_audio = true

[video.encoder]
preset = "ultrafast"
crf = 23

[video.label]
whole = true

[video.label.style]
text = "AI-generated"
""",
        encoding="utf-8",
    )
    config = load_config(config_file)
    assert config.steps == {"watermark", "metadata"}
    assert config.producer == "FromFile"
    assert config.label_level == "2"
    assert config.strength == 1.5
    assert config.quality == 80
    assert config.image_style == LabelStyle(position="top-left")
    assert config.cue == CueSettings(places=frozenset({"start", "end"}), mode="mix")
    assert config.copy_audio is True
    assert config.encoder == EncoderSettings(preset="ultrafast", crf=23)
    assert config.video_label == VideoLabelSettings(
        style=LabelStyle(text="AI-generated"), whole=True
    )
    # Flags (overrides) win over the file; None means "flag not given".
    flagged = load_config(config_file, producer="FromFlag", strength=None, label_level="3")
    assert (flagged.producer, flagged.strength, flagged.label_level) == ("FromFlag", 1.5, "3")


def test_c2pa_section_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="both cert_chain and key"):
        config_from(parse_config('[c2pa]\ncert_chain = "chain.pem"\n'))
    config = config_from(
        parse_config(
            '[mark]\nsteps = ["watermark", "metadata", "c2pa"]\nproducer = "P"\n'
            '[c2pa]\ncert_chain = "chain.pem"\nkey = "key.pem"\n'
        )
    )
    assert config.signing == Signing("chain.pem", "key.pem")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mark]\nstepz = []\n", "unknown key(s) in [mark]: stepz"),
        ("[marks]\n", "unknown section [marks]"),
        ("[image.label]\npositon = 'top'\n", "unknown key(s) in [image.label]: positon"),
        ("[audio.cue]\ntone = 440\n", "unknown key(s) in [audio.cue]: tone"),
        ("[video.encoder]\npreset = 'warp'\n", "preset must be one of"),
        ("[mark]\nsteps = ['label', 'paint']\n", "unknown step(s) paint"),
        ("[mark]\nlabel_level = 4\n", "label level must be 1, 2 or 3"),
        ("[mark\n", "config"),
        (
            "[video.encoder]\nbitrate = 1000\nmatch_size = true\n",
            "config [video.encoder]: match_size picks the video bit rate itself",
        ),
    ],
    ids=[
        "key",
        "section",
        "nested key",
        "cue key",
        "value",
        "step",
        "level",
        "syntax",
        "match_size with bitrate",
    ],
)
def test_bad_config_is_a_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        config_from(parse_config(text), producer=PRODUCER)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_match_size_key_reaches_the_encoder_settings() -> None:
    config = config_from(parse_config("[video.encoder]\nmatch_size = true\n"), producer=PRODUCER)
    assert config.encoder == EncoderSettings(match_size=True)
    default = config_from(parse_config(default_config_text()), producer=PRODUCER)
    assert default.encoder.match_size is False


def test_metadata_without_producer_is_refused() -> None:
    with pytest.raises(UsageError, match="producer"):
        load_config(None)
    assert load_config(None, steps={"label", "watermark"}).producer is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[mark]\nstepz = ['label']\n", "unknown key(s) in [mark]: stepz"),
        ("[video.label.style]\ncolour = 'red'\n", "unknown key(s) in [video.label.style]: colour"),
    ],
    ids=["mark", "video.label.style"],
)
def test_cli_unknown_config_key_exits_2_with_one_line(
    tmp_path: Path, text: str, words: str
) -> None:
    config_file = tmp_path / "typo.toml"
    config_file.write_text(text, encoding="utf-8")
    source = tmp_path / "in.png"  # never read: the config is checked first
    result = run_cli(
        "mark", source, "-o", tmp_path / "out", "--producer", PRODUCER, "--config", config_file
    )
    line = assert_one_error_line(result, exit_code=2)
    assert line.startswith("aigc-mark: error: config")
    assert words in line
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_config_errors_in_nested_tables_name_the_file(tmp_path: Path) -> None:
    config_file = tmp_path / "mark.toml"
    config_file.write_text('[image.label]\nposition = "middle"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"^config .*mark\.toml \[image\.label\]"):
        load_config(config_file, producer=PRODUCER)


def test_c2pa_credentials_with_steps_that_leave_c2pa_out_are_refused(tmp_path: Path) -> None:
    result = run_cli(
        "mark", tmp_path / "in.png", "-o", tmp_path / "out", "--producer", PRODUCER,
        "--steps", "watermark,metadata", "--c2pa-cert", tmp_path / "c.pem",
        "--c2pa-key", tmp_path / "k.pem",
    )  # fmt: skip
    line = assert_one_error_line(result, exit_code=2)
    assert "add c2pa to --steps" in line


def test_mark_names_the_generative_system_from_flags_or_config(tmp_path: Path) -> None:
    """--system-name/--system-version (over [c2pa] system_name/system_version) name the
    generative system in the manifest, as tag's options do."""
    from marking.cli.main import build_parser
    from marking.cli.mark import _config

    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    config_file = tmp_path / "c.toml"
    config_file.write_text(
        f'[c2pa]\ncert_chain = "{chain}"\nkey = "{key}"\nsystem_name = "FileGen"\n'
        'system_version = "1"\n',
        encoding="utf-8",
    )
    base = ["mark", "in.jpg", "-o", "out", "--producer", "P"]
    parse = build_parser().parse_args
    from_file = _config(parse([*base, "--config", str(config_file)])).signing
    assert (from_file.system_name, from_file.system_version) == ("FileGen", "1")
    flags = ["--system-name", "GenX", "--system-version", "3.1"]
    overridden = _config(parse([*base, "--config", str(config_file), *flags])).signing
    assert (overridden.system_name, overridden.system_version) == ("GenX", "3.1")
    given = _config(parse([*base, "--c2pa-cert", str(chain), "--c2pa-key", str(key), *flags]))
    assert (given.signing.system_name, given.signing.system_version) == ("GenX", "3.1")
    with pytest.raises(UsageError, match="--system-name needs --c2pa-cert"):
        _config(parse([*base, "--system-name", "GenX"]))
