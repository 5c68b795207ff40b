"""Property-based fuzzing of every metadata parser and of the payload decoder (issue 9).

Each parser gets arbitrary bytes and mutations of a valid file or packet (flipped bytes,
truncation, spliced-in bytes, deleted runs, huge length fields). The properties: only the
toolkit's documented errors escape (:class:`MarkingError` subclasses, or a ``None`` result),
nothing hangs (the hypothesis deadline), and whatever is written reads back unchanged.

Profiles: ``ci`` (the default, a few dozen examples per test, the whole file well under a
minute on 2 cores) and ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, used by ``make fuzz``).
The profiles are applied per test, so they do not change other test files' settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from marking.errors import InputError, InputTooLargeError, MarkingError, UsageError
from marking.scheme.payload import (
    CODED_BITS,
    PAYLOAD_BYTES,
    decode_payload,
    encode_payload,
    parse_payload,
    parse_payload_option,
)
from marking.tags.aigc_label import FIELD_KEYS, LABEL_VALUES, AigcLabel, LabelFormatError
from marking.tags.c2pa_read import ManifestReport, read_manifest
from marking.tags.containers import read_media_label
from marking.tags.image_tags import read_xmp_bytes, sniff_format, tag_image_bytes
from marking.tags.xmp import build_xmp, read_xmp_fields, source_type_uri, update_xmp
from tests.support import fuzz_seeds

_COMMON = {
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "print_blob": True,
}
settings.register_profile(
    "aigc-fuzz-ci", max_examples=100, deadline=timedelta(seconds=5), **_COMMON
)
settings.register_profile(
    "aigc-fuzz-fuzz", max_examples=5000, deadline=timedelta(seconds=10), **_COMMON
)
_PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if _PROFILE_NAME not in ("ci", "fuzz"):
    _PROFILE_NAME = "ci"
#: The settings every test here runs with; ``FEW`` for the costly ones (files on disk, PyAV,
#: c2pa): half the examples.
PROFILE = settings.get_profile(f"aigc-fuzz-{_PROFILE_NAME}")
FEW = settings(PROFILE, max_examples=max(20, PROFILE.max_examples // 2))
#: For tests whose examples are whole files (the signed JPEG seed is 42 KB): a failing one's
#: repr is over hypothesis's 30 kB limit, and the warning it raises (an error under
#: ``filterwarnings = error``) would hide the failure itself.
LARGE_EXAMPLES = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


# --- strategies ------------------------------------------------------------------------------

#: Printable ASCII without space, '"' or '\\' (GB 45438 Annex E).
ANNEX_E_CHARS = st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\'])
field_values = st.text(ANNEX_E_CHARS, max_size=40)


@st.composite
def labels(draw: st.DrawFn) -> AigcLabel:
    """Any label that validates."""
    return AigcLabel(
        label=draw(st.sampled_from(LABEL_VALUES)),
        content_producer=draw(st.text(ANNEX_E_CHARS, min_size=1, max_size=40)),
        produce_id=draw(st.text(ANNEX_E_CHARS, min_size=1, max_size=40)),
        reserved_code1=draw(field_values),
        content_propagator=draw(field_values),
        propagate_id=draw(field_values),
        reserved_code2=draw(field_values),
    )


source_types = st.one_of(
    st.sampled_from(
        ["trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"]
    ),
    st.from_regex(r"\A[a-z][a-z0-9+.-]{0,8}:[!-~]{1,40}\Z"),
)

_HUGE_LENGTHS = [
    b"\xff\xff",
    b"\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x80\x00\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xfe",
    b"\x01\xff\xff\xff\xff\xff\xff\xff\xff",  # EBML 8-byte size / 64-bit box size
]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after a few random edits: flip, truncate, splice, delete, huge length field."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "delete", "length", "dup"]))
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        if op == "flip" and size:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "length":
            value = draw(st.sampled_from(_HUGE_LENGTHS))
            if draw(st.booleans()):
                value = value[::-1]  # little-endian fields (RIFF, TIFF II, WebP)
            data[at : at + len(value)] = value
        elif op == "dup" and size:
            end = draw(st.integers(at, min(size, at + 256)))
            data[at:at] = data[at:end]
    return bytes(data)


def _any_bytes_like(seed: bytes) -> st.SearchStrategy[bytes]:
    """Mutations of ``seed`` mostly, plain arbitrary bytes sometimes."""
    return st.one_of(mutated(seed), mutated(seed), mutated(seed), st.binary(max_size=512))


# --- aigc_label --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([key for key, _ in FIELD_KEYS] + ["AIGC", "x"]) | st.text(max_size=5),
            children,
            max_size=8,
        )
    ),
    max_leaves=20,
)


@PROFILE
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        json_values.map(json.dumps),
        st.integers(1, 200_000).map(lambda depth: "[" * depth),
        st.integers(1, 200_000).map(lambda depth: '{"AIGC":' * depth),
    )
)
def test_label_from_json_any_text(text: str | bytes) -> None:
    """Any text gives a label or :class:`LabelFormatError`, never anything else (deeply
    nested JSON included); what it gives validates or raises only :class:`UsageError`."""
    try:
        label = AigcLabel.from_json(text)
    except LabelFormatError:
        return
    assert all(isinstance(getattr(label, attr), str) for _, attr in FIELD_KEYS)
    with contextlib.suppress(UsageError):
        label.validate()


@PROFILE
@given(labels(), st.booleans())
def test_label_json_round_trip(label: AigcLabel, wrapped: bool) -> None:
    label.validate()
    assert AigcLabel.from_json(label.to_json(wrapped=wrapped)) == label
    assert AigcLabel.from_json(label.to_json(wrapped=wrapped).encode()) == label


@PROFILE
@given(st.lists(st.text(max_size=10) | st.integers() | st.none(), min_size=7, max_size=7))
def test_label_validate_any_fields(values: list[object]) -> None:
    """Validation of any field values (strings or not) raises only :class:`UsageError`."""
    label = AigcLabel(*values)  # type: ignore[arg-type]
    try:
        label.validate()
    except UsageError:
        return
    assert AigcLabel.from_json(label.to_json()) == label


# --- xmp ---------------------------------------------------------------------------------------


@PROFILE
@given(_any_bytes_like(fuzz_seeds.XMP) | st.text(max_size=300))
def test_read_xmp_fields_never_raises(packet: bytes | str) -> None:
    label, source_type = read_xmp_fields(packet)
    assert label is None or isinstance(label, AigcLabel)
    assert source_type is None or isinstance(source_type, str)


@PROFILE
@given(labels(), source_types, st.integers(0, 300))
def test_xmp_round_trip(label: AigcLabel, source_type: str, padding: int) -> None:
    packet = build_xmp(label, source_type, padding=padding)
    assert read_xmp_fields(packet) == (label, source_type_uri(source_type))


@PROFILE
@given(_any_bytes_like(fuzz_seeds.XMP), labels())
def test_update_xmp_any_packet_round_trip(packet: bytes, label: AigcLabel) -> None:
    """Updating any old packet (damaged or not) gives one that reads back as the new label."""
    update = update_xmp(packet, label)
    assert read_xmp_fields(update.packet) == (label, source_type_uri("trainedAlgorithmicMedia"))
    # Updating the result again keeps it readable and stable.
    again = update_xmp(update.packet, label)
    assert not again.replaced_malformed
    assert read_xmp_fields(again.packet)[0] == label


# --- image_tags --------------------------------------------------------------------------------

IMAGE_SEEDS = {fmt: fuzz_seeds.image_seed(fmt) for fmt in fuzz_seeds.IMAGE_FORMATS}
image_inputs = st.sampled_from(fuzz_seeds.IMAGE_FORMATS).flatmap(
    lambda fmt: _any_bytes_like(IMAGE_SEEDS[fmt])
)


@PROFILE
@given(image_inputs)
def test_read_xmp_bytes_damaged_images(data: bytes) -> None:
    try:
        packet = read_xmp_bytes(data)
    except MarkingError:
        return
    assert packet is None or isinstance(packet, bytes)
    read_xmp_fields(packet)


@PROFILE
@given(image_inputs, labels())
def test_tag_image_bytes_damaged_images(data: bytes, label: AigcLabel) -> None:
    """Tagging a damaged image fails cleanly, or gives a file whose packet reads back."""
    packet = build_xmp(label, padding=0)
    try:
        tagged = tag_image_bytes(data, None, packet)
    except MarkingError:
        return
    assert sniff_format(tagged) == sniff_format(data)
    assert read_xmp_bytes(tagged) == packet
    assert read_xmp_fields(read_xmp_bytes(tagged))[0] == label


@PROFILE
@given(st.sampled_from(fuzz_seeds.IMAGE_FORMATS), st.booleans(), labels(), source_types)
def test_image_label_round_trip(fmt: str, tagged: bool, label: AigcLabel, source: str) -> None:
    data = fuzz_seeds.image_seed(fmt, tagged=tagged) if not tagged else IMAGE_SEEDS[fmt]
    old = read_xmp_bytes(data)
    packet = update_xmp(old, label, source).packet
    out = tag_image_bytes(data, fmt, packet)
    assert read_xmp_fields(read_xmp_bytes(out)) == (label, source_type_uri(source))


# --- av_tags -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def media_seeds(workdir: Path) -> dict[str, bytes]:
    return {suffix: fuzz_seeds.media_seed(suffix, workdir) for suffix in fuzz_seeds.MEDIA_SUFFIXES}


@pytest.mark.parametrize("suffix", fuzz_seeds.MEDIA_SUFFIXES)
def test_media_seeds_read_back(suffix: str, media_seeds: dict[str, bytes], workdir: Path) -> None:
    path = workdir / f"seed-check.{suffix}"
    path.write_bytes(media_seeds[suffix])
    assert read_media_label(path) == fuzz_seeds.LABEL


@LARGE_EXAMPLES
@pytest.mark.parametrize("suffix", fuzz_seeds.MEDIA_SUFFIXES)
def test_read_media_label_damaged_files(
    suffix: str, media_seeds: dict[str, bytes], workdir: Path
) -> None:
    path = workdir / f"fuzzed.{suffix}"

    @settings(FEW, max_examples=max(10, FEW.max_examples // 2))
    @given(_any_bytes_like(media_seeds[suffix]))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            label = read_media_label(path)
        except MarkingError:
            return
        assert label is None or isinstance(label, AigcLabel)

    check()


# --- c2pa_manifest -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_jpeg(workdir: Path) -> bytes:
    return fuzz_seeds.c2pa_seed(workdir)


def test_c2pa_seed_reads(signed_jpeg: bytes, workdir: Path) -> None:
    path = workdir / "c2pa-check.jpg"
    path.write_bytes(signed_jpeg)
    assert read_manifest(path).state == "untrusted"


@LARGE_EXAMPLES
def test_read_manifest_damaged_files(signed_jpeg: bytes, workdir: Path) -> None:
    @FEW
    @given(_any_bytes_like(signed_jpeg), st.sampled_from([".jpg", ".png", ".bin", ""]))
    def check(data: bytes, suffix: str) -> None:
        path = workdir / f"fuzzed{suffix}"
        path.write_bytes(data)
        try:
            report = read_manifest(path)
        except MarkingError:
            return
        assert isinstance(report, ManifestReport)
        assert report.state in ("valid", "untrusted", "invalid", "unreadable", "absent")
        assert report.state != "valid"  # no trust anchors given

    check()


# --- payload -----------------------------------------------------------------------------------


@PROFILE
@given(st.one_of(st.text(max_size=40), st.binary(max_size=16), st.integers(), st.booleans()))
def test_parse_payload_any_value(value: object) -> None:
    try:
        payload = parse_payload(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        with pytest.raises(UsageError):
            parse_payload_option(value)  # type: ignore[arg-type]
        return
    assert isinstance(payload, bytes)
    assert len(payload) == PAYLOAD_BYTES
    assert parse_payload_option(value) == payload  # type: ignore[arg-type]


@PROFILE
@given(st.binary(min_size=PAYLOAD_BYTES, max_size=PAYLOAD_BYTES))
def test_parse_payload_round_trip(payload: bytes) -> None:
    assert parse_payload(payload.hex()) == payload
    assert parse_payload("0x" + payload.hex().upper()) == payload
    assert parse_payload(int.from_bytes(payload, "big")) == payload


def _check_decoded(soft: np.ndarray) -> None:
    decoded = decode_payload(soft)
    assert 0.0 <= decoded.coded_agreement <= 1.0
    assert decoded.bits.shape == (8 * PAYLOAD_BYTES,)
    if decoded.payload is not None:
        # A payload is reported only with its check holding: re-encoding it must give the
        # codeword the decoder chose, whose info bits end with the payload's check.
        assert decoded.check_ok
        assert np.packbits(decoded.bits).tobytes() == decoded.payload
    else:
        assert not decoded.check_ok


float_arrays = st.sampled_from([np.float16, np.float32, np.float64]).flatmap(
    lambda dtype: st.lists(
        st.floats(
            allow_nan=False,
            allow_infinity=False,
            width=np.finfo(dtype).bits,
        ),
        min_size=CODED_BITS,
        max_size=CODED_BITS,
    ).map(lambda values: np.array(values, dtype=dtype))
)


@PROFILE
@given(float_arrays)
def test_decode_payload_any_soft_values(soft: np.ndarray) -> None:
    """Any finite soft values decode without an exception (huge float64 ones included)."""
    _check_decoded(soft)


@PROFILE
@given(
    st.binary(min_size=PAYLOAD_BYTES, max_size=PAYLOAD_BYTES),
    st.floats(1e-30, 1e300),
    st.lists(st.integers(0, CODED_BITS - 1), max_size=40),
)
def test_decode_payload_clean_and_damaged(payload: bytes, scale: float, flips: list[int]) -> None:
    """A clean codeword at any scale decodes to its payload; with flipped or erased bits
    the result is either the payload or a failed check, never a wrong payload with a
    passing check for these few errors."""
    soft = (encode_payload(payload).astype(np.float64) * 2 - 1) * scale
    assert decode_payload(soft).payload == payload
    for index in flips:
        soft[index] = -soft[index] if index % 2 else 0.0
    decoded = decode_payload(soft)
    _check_decoded(soft)
    assume(decoded.payload is not None)
    assert decoded.payload == payload or len(flips) > 10


@PROFILE
@given(
    st.one_of(
        st.integers(0, 600).map(lambda n: np.zeros(n)),
        st.just(np.full(CODED_BITS, np.nan)),
        st.just(np.full(CODED_BITS, np.inf)),
        st.just(np.zeros(CODED_BITS, dtype=np.int64)),
        st.just(np.zeros((CODED_BITS, 1))),
    )
)
def test_decode_payload_bad_shapes(soft: np.ndarray) -> None:
    """Wrong shapes, dtypes and non-finite values are a ValueError (documented)."""
    if soft.shape == (CODED_BITS,) and soft.dtype.kind == "f" and np.isfinite(soft).all():
        _check_decoded(soft)
        return
    with pytest.raises(ValueError, match="soft values"):
        decode_payload(soft)


# --- regressions for what the fuzzing found ----------------------------------------------------


def test_webp_zero_width_vp8_is_input_error() -> None:
    """A VP8 frame declaring width 0 was a struct.error when the VP8X header was built."""
    body = b"\x00\x00\x00\x9d\x01\x2a\x00\x00\x08\x00" + bytes(10)
    chunk = b"VP8 " + struct.pack("<I", len(body)) + body
    data = b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    with pytest.raises(InputError, match="zero image width"):
        tag_image_bytes(data, None, fuzz_seeds.XMP)


def test_png_compressed_xmp_bomb_is_refused() -> None:
    """A compressed iTXt XMP chunk was inflated without a bound (a decompression bomb)."""
    png = fuzz_seeds.image_seed("PNG", tagged=False)
    bomb = zlib.compress(bytes(65 << 20), 9)
    body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body))
    data = png[:33] + chunk + png[33:]
    with pytest.raises(InputTooLargeError):
        read_xmp_bytes(data)


def test_label_from_deep_json_is_label_format_error() -> None:
    """Deeply nested JSON was a RecursionError out of json.loads."""
    with pytest.raises(LabelFormatError, match="nested too deeply"):
        AigcLabel.from_json("[" * 100_000)


def test_decode_payload_huge_float64_soft_values() -> None:
    """Finite float64 values beyond float32's range overflowed in the cast (a RuntimeWarning,
    an error under -W error, else inf and a 'must be finite' ValueError)."""
    payload = bytes(range(8))
    soft = (encode_payload(payload).astype(np.float64) * 2 - 1) * 1e300
    assert decode_payload(soft).payload == payload
    assert decode_payload(soft / 1e300 * 1e-320).payload == payload  # float32 subnormal


def test_tiff_old_packet_overlapping_header_is_not_blanked() -> None:
    """An old XMP tag pointing into the header had its 'stale packet' bytes zeroed, which
    wiped the TIFF header; and packets of up to 4 bytes were written out of line."""
    data = bytearray(IMAGE_SEEDS["TIFF"])
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack(order + "H", data[at : at + 2])[0] == 700:
            data[at + 8 : at + 12] = struct.pack(order + "I", 0)  # value at offset 0
    for packet in (fuzz_seeds.XMP, b"X", b""):
        assert read_xmp_bytes(tag_image_bytes(bytes(data), None, packet)) == packet


# --- inputs that crashed an atheris harness, replayed ------------------------------------------

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"
#: One directory per harness (``fuzz/fuzz_av_tags.py`` -> ``av_tags/``), one file per input;
#: ``fuzz/_common.py`` adds them to the harness's seed corpus too.
REGRESSION_DIR = Path(__file__).resolve().parents[1] / "data" / "fuzz-regressions"
REGRESSION_CASES = sorted(path for path in REGRESSION_DIR.glob("*/*") if path.is_file())


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ModuleType]:
    """``load(name)``: the module ``fuzz/fuzz_<name>.py`` (atheris is needed only to fuzz),
    its scratch files in a temporary directory of this test run."""
    import importlib.util
    import sys
    import tempfile

    loaded: dict[str, ModuleType] = {}
    scratch = tmp_path_factory.mktemp("harnesses")

    def load(name: str) -> ModuleType:
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(
                f"fuzz_{name}", FUZZ_DIR / f"fuzz_{name}.py"
            )
            assert spec is not None, name
            assert spec.loader is not None, name
            module = importlib.util.module_from_spec(spec)
            with pytest.MonkeyPatch.context() as patch:
                patch.syspath_prepend(str(FUZZ_DIR))  # for its `import _common`
                patch.setattr(tempfile, "tempdir", str(scratch))
                spec.loader.exec_module(module)
                sys.modules.pop("_common", None)
            loaded[name] = module
        return loaded[name]

    return load


@pytest.mark.parametrize(
    "case", REGRESSION_CASES, ids=lambda path: f"{path.parent.name}/{path.name[:14]}"
)
def test_fuzz_crash_inputs_replay(case: Path, harnesses: Callable[[str], ModuleType]) -> None:
    """Each input that once made an atheris harness fail passes that harness now."""
    harnesses(case.parent.name).TestOneInput(case.read_bytes())


def test_av_tags_ogg_vorbis_comment_past_its_packet_is_input_error(tmp_path: Path) -> None:
    """fuzz_av_tags (4-minute run): an Ogg whose Vorbis comment packet is cut short made
    mutagen raise IndexError out of read_media_label (fixed in av_tags, 34afd9b)."""
    data = (
        REGRESSION_DIR / "av_tags" / "crash-7e37573a564fb08bb3e5c58a9eaea9f2a4cb3d58"
    ).read_bytes()
    path = tmp_path / f"input.{fuzz_seeds.MEDIA_SUFFIXES[data[0] % len(fuzz_seeds.MEDIA_SUFFIXES)]}"
    path.write_bytes(data[1:])
    with pytest.raises(InputError, match="not a readable OGG file"):
        read_media_label(path)
