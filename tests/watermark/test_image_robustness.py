"""The image watermark survives the acceptance attacks, stays invisible and keeps pixel formats.

Each photo is marked once per module with a fixed key and payload; every attack from
:data:`tests.support.attacks.IMAGE_ATTACKS` is then applied to the marked pixels and blind detection
must recover the exact payload with a false-alarm probability of at most 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from marking.watermark.image import detect_image, embed_image, luma_psnr
from tests.support.attacks import IMAGE_ATTACKS, jpeg, pad_to_aspect
from tests.support.sample_photos import SAMPLE_PHOTOS, SAMPLES, load_sample

pytestmark = pytest.mark.needs_watermark

KEY = "robustness-test-key"
PAYLOAD = "0123456789abcdef"
MAX_FALSE_ALARM = 1e-6
MIN_PSNR_DB = 42.0

#: Found failing on the 512 px photo (the lead measured it passing from 768 px up): halving
#: leaves 256 px, and JPEG at quality 75 then removes too much of the remaining mark.
SMALL_IMAGE_LIMITS = {"resize-0.5+jpeg-q75"}


def marked_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    original = load_sample(name)
    return original, embed_image(original, key=KEY, payload=PAYLOAD)


@pytest.fixture(scope="module")
def marked_detail() -> np.ndarray:
    """photo-dandelion-detail.jpg (1024x768 RGB), marked once."""
    return marked_sample("photo-dandelion-detail.jpg")[1]


@pytest.fixture(scope="module")
def marked_astronaut() -> np.ndarray:
    """photo-astronaut.png (512x512 RGB), marked once."""
    return marked_sample("photo-astronaut.png")[1]


def assert_recovered(attacked: np.ndarray) -> None:
    result = detect_image(attacked, key=KEY)
    assert result.detected, f"not detected: score {result.score:.2f}, p {result.false_alarm:.2e}"
    assert result.payload == PAYLOAD
    assert 0.0 <= result.false_alarm <= MAX_FALSE_ALARM


@pytest.mark.parametrize("attack", list(IMAGE_ATTACKS))
def test_survives_attack_1024x768(marked_detail: np.ndarray, attack: str) -> None:
    assert_recovered(IMAGE_ATTACKS[attack](marked_detail))


@pytest.mark.parametrize(
    "attack", [name for name in IMAGE_ATTACKS if name not in SMALL_IMAGE_LIMITS]
)
def test_survives_attack_512x512(marked_astronaut: np.ndarray, attack: str) -> None:
    assert_recovered(IMAGE_ATTACKS[attack](marked_astronaut))


@pytest.mark.xfail(
    strict=False,
    reason="known limit: resize-0.5+jpeg-q75 fails on a 512 px photo (256 px left after "
    "halving), passes from 768 px up",
)
@pytest.mark.parametrize("attack", sorted(SMALL_IMAGE_LIMITS))
def test_known_limit_at_512x512(marked_astronaut: np.ndarray, attack: str) -> None:
    assert_recovered(IMAGE_ATTACKS[attack](marked_astronaut))


def test_attacks_leave_the_marked_image_untouched(marked_detail: np.ndarray) -> None:
    before = marked_detail.copy()
    for attack in IMAGE_ATTACKS.values():
        attack(marked_detail)
    np.testing.assert_array_equal(marked_detail, before)


@pytest.mark.parametrize("name", SAMPLE_PHOTOS)
def test_luma_psnr_on_sample_photos(name: str) -> None:
    original = load_sample(name, mode=None)  # the cameraman stays greyscale (H, W)
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert marked.shape == original.shape
    assert luma_psnr(original, marked) >= MIN_PSNR_DB


def test_luma_psnr_on_grayscale_pil_image() -> None:
    with Image.open(SAMPLES / "photo-cameraman-gray.png") as image:
        original = image.copy()
    assert original.mode == "L"
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert luma_psnr(original, marked) >= MIN_PSNR_DB


# --- pixel formats -----------------------------------------------------------------------


def to_uint16(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.uint16) * 257


def to_rgba(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    alpha = ((x + 2 * y) % 256).astype(np.uint8)
    alpha[: height // 8] = 0  # a fully transparent band too
    return np.dstack([rgb, alpha])


def to_float01(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


FORMATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "uint16-rgb": to_uint16,
    "uint8-rgba": to_rgba,
    "float32-01-rgb": to_float01,
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_array_format_round_trip(fmt: str) -> None:
    original = FORMATS[fmt](load_sample("photo-astronaut.png"))
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert isinstance(marked, np.ndarray)
    assert marked.dtype == original.dtype
    assert marked.shape == original.shape
    assert luma_psnr(original, marked) >= MIN_PSNR_DB
    result = detect_image(marked, key=KEY)
    assert result.detected
    assert result.payload == PAYLOAD


def test_uint16_uses_the_full_range() -> None:
    original = to_uint16(load_sample("photo-astronaut.png"))
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    # A 16-bit mark is not an 8-bit mark scaled by 257: values fall between the 8-bit steps.
    assert np.any(marked % 257 != 0)


def test_rgba_alpha_unchanged() -> None:
    original = to_rgba(load_sample("photo-astronaut.png"))
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    np.testing.assert_array_equal(marked[..., 3], original[..., 3])
    assert np.any(marked[..., :3] != original[..., :3])


def test_float_stays_in_unit_range() -> None:
    original = to_float01(load_sample("photo-astronaut.png"))
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert np.all(np.isfinite(marked))
    # Float output is not clipped by design; it must still look like a 0..1 image.
    assert float(marked.min()) > -0.1
    assert float(marked.max()) < 1.1


def test_l_mode_pil_round_trip() -> None:
    with Image.open(SAMPLES / "photo-cameraman-gray.png") as image:
        original = image.copy()
    marked = embed_image(original, key=KEY, payload=PAYLOAD)
    assert isinstance(marked, Image.Image)
    assert marked.mode == "L"
    assert marked.size == original.size
    assert luma_psnr(original, marked) >= MIN_PSNR_DB
    result = detect_image(marked, key=KEY)
    assert result.detected
    assert result.payload == PAYLOAD


#: Letterbox and pillarbox (issue 19): the picture on a larger canvas of another aspect.
PADDINGS = [(1.0, 0), (16 / 9, 0), (4 / 3, 255), (9 / 16, 16), (1.0, 128)]


@pytest.mark.parametrize(("aspect", "value"), PADDINGS)
@pytest.mark.parametrize("then_jpeg", [False, True], ids=["png", "jpeg-q75"])
def test_survives_letterbox_and_pillarbox(
    marked_detail: np.ndarray, aspect: float, value: int, then_jpeg: bool
) -> None:
    padded = pad_to_aspect(marked_detail, aspect, value)
    assert_recovered(jpeg(padded, 75) if then_jpeg else padded)


@pytest.mark.parametrize("name", SAMPLE_PHOTOS)
@pytest.mark.parametrize("aspect", [1.0, 16 / 9])
def test_padded_unmarked_photos_give_no_detection(name: str, aspect: float) -> None:
    """The second search on the picture inside the bars is counted: no false detection, and
    a false-alarm figure that is not smaller than one search's."""
    padded = pad_to_aspect(load_sample(name), aspect)
    result = detect_image(padded, key=KEY)
    assert not result.detected
    assert result.payload is None
