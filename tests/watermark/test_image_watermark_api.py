"""Edge cases of the image watermark's public API: inputs, errors, keys, payloads, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from marking.errors import InputTooSmallError, UnsupportedInputError
from marking.scheme.keys import Key
from marking.watermark.image import (
    MIN_DETECT_SIDE,
    MIN_SIDE,
    ImageDetection,
    detect_image,
    embed_image,
    luma_psnr,
)

pytestmark = pytest.mark.needs_watermark

KEY = "api-test-key"
PAYLOAD = "a1b2c3d4e5f60718"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 512x512 natural-looking RGB picture (uint8)."""
    from tests.conftest import make_natural_image

    return np.asarray(make_natural_image("RGB", (512, 512), seed=3)).copy()


@pytest.fixture(scope="module")
def marked(photo: np.ndarray) -> np.ndarray:
    return embed_image(photo, key=KEY, payload=PAYLOAD)


# --- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [(MIN_SIDE - 1, 512, 3), (512, MIN_SIDE - 1, 3), (100, 100), (1, 1, 3), (0, 0, 3)],
)
def test_embed_refuses_too_small(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputTooSmallError, match="at least"):
        embed_image(np.full(shape, 128, np.uint8), key=KEY)


def test_embed_accepts_minimum_size(natural_image: Callable[..., Image.Image]) -> None:
    picture = np.asarray(natural_image("RGB", (MIN_SIDE, MIN_SIDE)))
    assert embed_image(picture, key=KEY).shape == picture.shape


@pytest.mark.parametrize("shape", [(MIN_DETECT_SIDE - 1, 512, 3), (512, MIN_DETECT_SIDE - 1)])
def test_detect_refuses_too_small(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputTooSmallError, match="at least"):
        detect_image(np.full(shape, 128, np.uint8), key=KEY)


def test_embed_too_small_pil_image(natural_image: Callable[..., Image.Image]) -> None:
    with pytest.raises(InputTooSmallError, match="at least"):
        embed_image(natural_image("RGB", (200, 600)), key=KEY)


# --- unsupported inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.float16, np.bool_, np.complex64]
)
def test_unsupported_dtype(dtype: Any) -> None:
    with pytest.raises(UnsupportedInputError, match="dtype"):
        embed_image(np.zeros((300, 300, 3), dtype), key=KEY)
    with pytest.raises(UnsupportedInputError, match="dtype"):
        detect_image(np.zeros((300, 300, 3), dtype), key=KEY)


@pytest.mark.parametrize("shape", [(300,), (300, 300, 2), (300, 300, 5), (2, 300, 300, 3)])
def test_unsupported_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(UnsupportedInputError, match="shape"):
        embed_image(np.zeros(shape, np.uint8), key=KEY)
    with pytest.raises(UnsupportedInputError, match="shape"):
        detect_image(np.zeros(shape, np.uint8), key=KEY)


@pytest.mark.parametrize("mode", ["1", "P", "CMYK", "YCbCr", "HSV", "LAB"])
def test_unsupported_pil_mode(mode: str) -> None:
    picture = Image.new(mode, (300, 300))
    with pytest.raises(UnsupportedInputError, match="mode"):
        embed_image(picture, key=KEY)
    with pytest.raises(UnsupportedInputError, match="mode"):
        detect_image(picture, key=KEY)


@pytest.mark.parametrize("value", [[[0] * 300] * 300, b"\x00" * 90000, "image.png", None])
def test_unsupported_type(value: object) -> None:
    with pytest.raises(UnsupportedInputError, match="expected a NumPy array or a PIL image"):
        embed_image(value, key=KEY)
    with pytest.raises(UnsupportedInputError, match="expected a NumPy array or a PIL image"):
        detect_image(value, key=KEY)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_with_non_finite_values(photo: np.ndarray, bad: float) -> None:
    picture = photo.astype(np.float32) / 255
    picture[10, 20, 1] = bad
    with pytest.raises(UnsupportedInputError, match="NaN or infinite"):
        embed_image(picture, key=KEY)


# --- strength ------------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.0, -1.0, 4.01, 100.0, float("nan"), float("inf")])
def test_strength_out_of_range(photo: np.ndarray, strength: float) -> None:
    with pytest.raises(ValueError, match="strength"):
        embed_image(photo, key=KEY, strength=strength)


@pytest.mark.parametrize("strength", [0.5, 4.0])
def test_strength_within_range(photo: np.ndarray, strength: float) -> None:
    out = embed_image(photo, key=KEY, payload=PAYLOAD, strength=strength)
    assert out.shape == photo.shape
    assert out.dtype == photo.dtype


def test_stronger_mark_changes_more(photo: np.ndarray) -> None:
    weak = embed_image(photo, key=KEY, payload=PAYLOAD, strength=0.5).astype(np.float64)
    strong = embed_image(photo, key=KEY, payload=PAYLOAD, strength=2.0).astype(np.float64)
    original = photo.astype(np.float64)
    assert np.mean((strong - original) ** 2) > 4 * np.mean((weak - original) ** 2)


# --- payloads ------------------------------------------------------------------------------


def test_default_payload_is_random(photo: np.ndarray) -> None:
    first = embed_image(photo, key=KEY)
    second = embed_image(photo, key=KEY)
    assert not np.array_equal(first, second)
    found = [detect_image(image, key=KEY) for image in (first, second)]
    assert all(result.detected for result in found)
    assert found[0].payload != found[1].payload
    for result in found:
        assert result.payload is not None
        assert len(result.payload) == 16
        assert result.payload == result.payload.lower()
        int(result.payload, 16)


def test_random_payloads_decode_to_themselves(photo: np.ndarray) -> None:
    rng = np.random.default_rng(11)
    payloads = [rng.bytes(8) for _ in range(3)] + [b"\x00" * 8, b"\xff" * 8]
    for payload in payloads:
        result = detect_image(embed_image(photo, key=KEY, payload=payload), key=KEY)
        assert result.detected
        assert result.payload == payload.hex()


@pytest.mark.parametrize(
    "payload", [bytes.fromhex(PAYLOAD), PAYLOAD, PAYLOAD.upper(), "0x" + PAYLOAD, int(PAYLOAD, 16)]
)
def test_payload_forms_are_equivalent(photo: np.ndarray, marked: np.ndarray, payload: Any) -> None:
    np.testing.assert_array_equal(embed_image(photo, key=KEY, payload=payload), marked)


@pytest.mark.parametrize("payload", ["0123", b"\x00" * 7, "zz" * 8, -1, 1 << 64])
def test_bad_payload_rejected(photo: np.ndarray, payload: Any) -> None:
    with pytest.raises(ValueError, match="payload"):
        embed_image(photo, key=KEY, payload=payload)


def test_marked_image_detected_with_expected_fields(marked: np.ndarray) -> None:
    result = detect_image(marked, key=KEY)
    assert isinstance(result, ImageDetection)
    assert result.detected
    assert result.payload == PAYLOAD
    assert 0.0 <= result.false_alarm <= 1e-6
    assert result.score > 0
    assert set(result.transform) == {"period_x", "period_y", "origin_x", "origin_y"}
    # The tile period of an unresized 512 px picture is a quarter of its side.
    assert result.transform["period_x"] == pytest.approx(128, rel=0.02)
    assert result.transform["period_y"] == pytest.approx(128, rel=0.02)
    assert result.to_dict()["payload"] == PAYLOAD


# --- keys ----------------------------------------------------------------------------------


def test_key_forms_are_equivalent(photo: np.ndarray) -> None:
    forms: list[str | bytes | Key] = ["s3cret-ключ", "s3cret-ключ".encode(), Key("s3cret-ключ")]
    outputs = [embed_image(photo, key=key, payload=PAYLOAD) for key in forms]
    for output in outputs[1:]:
        np.testing.assert_array_equal(output, outputs[0])
    results = [detect_image(outputs[0], key=key) for key in forms]
    assert all(result == results[0] for result in results)
    assert results[0].payload == PAYLOAD


def test_default_key_is_the_public_key(photo: np.ndarray) -> None:
    by_default = embed_image(photo, payload=PAYLOAD)
    np.testing.assert_array_equal(by_default, embed_image(photo, key=Key(), payload=PAYLOAD))
    assert detect_image(by_default).payload == PAYLOAD


def test_different_keys_give_different_marks(photo: np.ndarray, marked: np.ndarray) -> None:
    other = embed_image(photo, key=KEY + "-other", payload=PAYLOAD)
    assert not np.array_equal(other, marked)


@pytest.mark.parametrize("key", ["", b""])
def test_empty_key_rejected(photo: np.ndarray, key: str | bytes) -> None:
    with pytest.raises(ValueError, match="empty"):
        embed_image(photo, key=key, payload=PAYLOAD)


# --- determinism and purity ----------------------------------------------------------------


def test_embedding_is_deterministic(photo: np.ndarray, marked: np.ndarray) -> None:
    np.testing.assert_array_equal(embed_image(photo, key=KEY, payload=PAYLOAD), marked)


def test_detection_is_deterministic(marked: np.ndarray, photo: np.ndarray) -> None:
    assert detect_image(marked, key=KEY) == detect_image(marked, key=KEY)
    # The unmarked path (full search) too.
    assert detect_image(photo, key=KEY) == detect_image(photo.copy(), key=KEY)


def test_embed_does_not_modify_input(photo: np.ndarray) -> None:
    inputs: list[np.ndarray] = [
        photo.copy(),
        photo[..., 0].copy(),
        photo.astype(np.float32) / 255,
        photo.astype(np.uint16) * 257,
        np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)]),
    ]
    for picture in inputs:
        before = picture.copy()
        embed_image(picture, key=KEY, payload=PAYLOAD)
        detect_image(picture, key=KEY)
        np.testing.assert_array_equal(picture, before)


def test_embed_does_not_modify_pil_input(natural_image: Callable[..., Image.Image]) -> None:
    picture = natural_image("RGB", (512, 512), seed=3)
    before = picture.tobytes()
    out = embed_image(picture, key=KEY, payload=PAYLOAD)
    assert out is not picture
    assert picture.tobytes() == before


def test_output_is_a_new_writable_array(photo: np.ndarray) -> None:
    out = embed_image(photo, key=KEY, payload=PAYLOAD)
    assert not np.shares_memory(out, photo)
    assert out.flags.writeable


def test_read_only_input(photo: np.ndarray, marked: np.ndarray) -> None:
    frozen = photo.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(embed_image(frozen, key=KEY, payload=PAYLOAD), marked)
    assert detect_image(marked[...].view()).payload == detect_image(marked).payload


# --- memory layouts --------------------------------------------------------------------------


def _mirrored(a: np.ndarray) -> np.ndarray:
    return a[:, ::-1]


def _crop_view(a: np.ndarray) -> np.ndarray:
    return a[17 : 17 + 400, 33 : 33 + 450]


def _fortran(a: np.ndarray) -> np.ndarray:
    return np.asfortranarray(a)


def _strided_channels(a: np.ndarray) -> np.ndarray:
    return np.dstack([a, a[..., :1]])[..., :3]


def _transposed(a: np.ndarray) -> np.ndarray:
    return a.transpose(1, 0, 2)


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mirrored": _mirrored,
    "crop-view": _crop_view,
    "fortran": _fortran,
    "strided-channels": _strided_channels,
    "transposed": _transposed,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_non_contiguous_input(photo: np.ndarray, layout: str) -> None:
    view = LAYOUTS[layout](photo)
    assert not view.flags.c_contiguous
    out = embed_image(view, key=KEY, payload=PAYLOAD)
    expected = embed_image(np.ascontiguousarray(view), key=KEY, payload=PAYLOAD)
    np.testing.assert_array_equal(out, expected)
    result = detect_image(out[:, ::-1][:, ::-1], key=KEY)
    assert result.payload == PAYLOAD
    assert detect_image(view, key=KEY) == detect_image(np.ascontiguousarray(view), key=KEY)


def test_non_contiguous_grayscale(photo: np.ndarray) -> None:
    grey = photo[..., 1]  # a strided (H, W) view
    assert not grey.flags.c_contiguous
    out = embed_image(grey, key=KEY, payload=PAYLOAD)
    assert out.shape == grey.shape
    np.testing.assert_array_equal(out, embed_image(grey.copy(), key=KEY, payload=PAYLOAD))
    assert detect_image(out, key=KEY).payload == PAYLOAD


# --- PIL modes -----------------------------------------------------------------------------


def _pil_picture(mode: str, natural_image: Callable[..., Image.Image]) -> Image.Image:
    if mode == "I":
        # 32-bit greyscale as Pillow opens 16-bit PNGs: values 0..65535.
        grey = np.asarray(natural_image("I;16", (384, 320), seed=5))
        return Image.fromarray(grey.astype(np.int32))
    return natural_image(mode, (384, 320), seed=5)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "I", "F"])
def test_pil_modes_keep_mode_and_size(natural_image: Callable[..., Image.Image], mode: str) -> None:
    picture = _pil_picture(mode, natural_image)
    out = embed_image(picture, key=KEY, payload=PAYLOAD)
    assert isinstance(out, Image.Image)
    assert out.mode == picture.mode
    assert out.size == picture.size
    assert luma_psnr(picture, out) >= 40.0
    assert detect_image(out, key=KEY).payload == PAYLOAD
    if mode in ("LA", "RGBA"):
        assert out.getchannel("A").tobytes() == picture.getchannel("A").tobytes()


# --- how pixel values are read -------------------------------------------------------------


GREY_FORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    # name: (greyscale picture from an RGB photo, one 8-bit step in its units)
    "uint8": (lambda photo: photo[..., 1].copy(), 1.0),
    "float32": (lambda photo: photo[..., 1].astype(np.float32) / 255, 1 / 255),
    "uint16": (lambda photo: photo[..., 1].astype(np.uint16) * 257, 257.0),
    "uint8-hw1": (lambda photo: photo[..., 1:2].copy(), 1.0),
}


@pytest.mark.parametrize("form", list(GREY_FORMS))
def test_grayscale_luma_is_the_pixel_value(photo: np.ndarray, form: str) -> None:
    make_grey, step = GREY_FORMS[form]
    grey = make_grey(photo)
    # Changing one pixel by 200 levels changes exactly that pixel's luma by 200 levels.
    before, after = grey.copy(), grey.copy()
    before[5, 7], after[5, 7] = 0, 200 * step
    expected = 10 * math.log10(255.0**2 * before.shape[0] * before.shape[1] / 200.0**2)
    assert luma_psnr(before, after) == pytest.approx(expected, abs=1e-3)
    # The last pixel too (nothing is read past the end of the picture).
    before[-1, -1], after[-1, -1] = 0, 200 * step
    before[5, 7] = after[5, 7]
    assert luma_psnr(before, after) == pytest.approx(expected, abs=1e-3)
    assert luma_psnr(grey, grey.copy()) == math.inf


def test_marked_float_image_is_read_on_the_same_scale(photo: np.ndarray) -> None:
    """A marked 0..1 float picture may overshoot 1.0 a little; it is still a 0..1 picture."""
    original = photo.astype(np.float32) / 255
    original[100:160, 200:300] = 1.0  # a highlight at full scale: the mark pushes it past 1.0
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert luma_psnr(original, marked) >= 40.0
    remarked = embed_image(marked, key=KEY + "-2", payload=PAYLOAD)
    assert float(np.abs(remarked - marked).max()) < 0.2


BEYOND_16_BIT: dict[str, Callable[[np.ndarray], Any]] = {
    # name: picture whose values go past 65535, from an RGB photo
    "pil-I-0..1e6": lambda photo: Image.fromarray(photo[..., 1].astype(np.int32) * 3921),
    "float32-0..1e5": lambda photo: photo.astype(np.float32) * 392.0,
}


@pytest.mark.parametrize("form", list(BEYOND_16_BIT))
def test_values_beyond_16_bit_are_not_clipped(photo: np.ndarray, form: str) -> None:
    """Wider-than-16-bit pictures are marked on their own scale or refused, never clipped."""
    picture = BEYOND_16_BIT[form](photo)
    try:
        out = embed_image(picture, key=KEY, payload=PAYLOAD)
    except UnsupportedInputError:
        return
    before = np.asarray(picture, dtype=np.float64)
    after = np.asarray(out, dtype=np.float64)
    value_range = float(before.max())
    assert float(after.max()) > 0.95 * value_range
    assert float(np.abs(after - before).max()) < 0.1 * value_range


@pytest.mark.parametrize("value", [0, 128, 255])
@pytest.mark.parametrize("shape", [(512, 512), (60000, 300), (300, 60000)], ids=str)
def test_flat_pictures_of_any_shape_carry_the_mark(shape: tuple[int, int], value: int) -> None:
    """A flat picture, thin or square, is marked and found: its DCT spreads sit at the scale
    floor, where the gains once overflowed float32 and left a thin black picture unmarked
    (PSNR infinite, exit 0)."""
    flat = np.full(shape, value, dtype=np.uint8)
    marked = embed_image(flat, key=KEY, payload=PAYLOAD)
    assert np.any(marked != flat)
    found = detect_image(marked, key=KEY)
    assert found.detected
    assert found.payload == PAYLOAD


def test_embedding_that_changes_no_pixel_is_refused(photo: np.ndarray) -> None:
    """A mark too weak to change any pixel after rounding is an error, never a silent
    'marked' picture without a mark."""
    flat = np.zeros((512, 512), dtype=np.uint8)
    with pytest.raises(UnsupportedInputError, match="no pixel changed"):
        embed_image(flat, key=KEY, payload=PAYLOAD, strength=1e-4)
