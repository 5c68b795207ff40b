"""The picture watermark is found in a rotated, turned, mirrored, stretched, sheared or
perspective-warped picture (issue 19), and never in such an unmarked one.

The upright searches fail on these; the lattice search (:mod:`marking.watermark.image_sync`)
finds the tile's lattice (from the picture's autocorrelation, in a picture of 850 px and more,
else from the tile's harmonics in its spectrum), tries the eight orientations of the square
tile and refines the pose. Its folds count in the false-alarm figure.
"""

from __future__ import annotations

import numpy as np
import pytest

from marking.watermark.image import detect_image
from tests.support.attacks import GEOMETRIC_ATTACKS, IMAGE_ATTACKS
from tests.support.sample_photos import SAMPLE_PHOTOS, load_sample
from tests.watermark.test_image_robustness import KEY, assert_recovered, marked_sample

pytestmark = pytest.mark.needs_watermark

#: Where the lattice is not found yet (measured 2026-12-08): a 512 px picture turned, stretched
#: or put in perspective and then also shrunk to 384 px and JPEG-compressed (the true lattice
#: scores under z 4.5 in the spectrum, within noise). The 768 px photo survives them all.
SMALL_PHOTO_LIMITS: dict[str, tuple[str, ...]] = {
    "photo-astronaut.png": (
        "perspective-4pct+resize-0.75+jpeg-q75",
        "rotate+3+resize-0.75+jpeg-q75",
        "height-0.9+resize-0.75+jpeg-q75",
    ),
    "photo-dandelion-detail.jpg": (),
}


@pytest.fixture(scope="module")
def marked_dandelions() -> np.ndarray:
    """photo-dandelions.jpg (1600x900 RGB), marked once."""
    return marked_sample("photo-dandelions.jpg")[1]


@pytest.fixture(scope="module")
def marked_hubble() -> np.ndarray:
    """photo-hubble-deep-field.jpg (1000x872 RGB), marked once."""
    return marked_sample("photo-hubble-deep-field.jpg")[1]


@pytest.mark.parametrize("attack", list(GEOMETRIC_ATTACKS))
def test_survives_geometry_1600x900(marked_dandelions: np.ndarray, attack: str) -> None:
    assert_recovered(GEOMETRIC_ATTACKS[attack](marked_dandelions))


@pytest.mark.parametrize(
    "attack",
    [
        "rotate-7",
        "rotate+15",
        "turn-270",
        "flip-vertical",
        "width-1.25",
        "shear-5pct",
        "perspective-4pct+resize-0.75+jpeg-q75",
    ],
)
def test_survives_geometry_1000x872(marked_hubble: np.ndarray, attack: str) -> None:
    assert_recovered(GEOMETRIC_ATTACKS[attack](marked_hubble))


@pytest.mark.parametrize(
    ("attack", "degrees", "mirrored"),
    [
        ("rotate+7", 7.0, 0.0),
        ("rotate-15", -15.0, 0.0),
        ("turn-90", 90.0, 0.0),
        ("flip-vertical", 0.0, 1.0),
    ],
)
def test_reports_the_turn_and_the_mirror(
    marked_dandelions: np.ndarray, attack: str, degrees: float, mirrored: float
) -> None:
    """The transform names the pose found; the tile's period stays that of the picture."""
    found = detect_image(GEOMETRIC_ATTACKS[attack](marked_dandelions), key=KEY)
    assert found.detected
    turn = (found.transform["rotation_degrees"] - degrees + 180) % 360 - 180
    if mirrored:  # a mirror is a flip about either axis: the turn is 0 or 180 degrees
        turn = (turn + 90) % 180 - 90
    assert abs(turn) < 0.5
    assert found.transform["mirrored"] == mirrored
    assert found.transform["period_x"] == pytest.approx(225, rel=0.01)


def test_upright_detections_report_no_pose(marked_dandelions: np.ndarray) -> None:
    found = detect_image(IMAGE_ATTACKS["resize-0.75"](marked_dandelions), key=KEY)
    assert found.detected
    assert "rotation_degrees" not in found.transform


@pytest.fixture(scope="module")
def marked_small() -> dict[str, np.ndarray]:
    """The 512 px and 768 px photos, marked once."""
    return {name: marked_sample(name)[1] for name in SMALL_PHOTO_LIMITS}


def _small_photo_cases() -> list[tuple[str, str]]:
    """Every attack the 512 px photo survives, and on the 768 px one those the 512 px one
    does not (the rest pass there too: bench/image_geometry.py has the full table)."""
    smallest, *larger = SMALL_PHOTO_LIMITS
    cases = [(smallest, a) for a in GEOMETRIC_ATTACKS if a not in SMALL_PHOTO_LIMITS[smallest]]
    for name in larger:
        limits = SMALL_PHOTO_LIMITS[name]
        cases += [(name, a) for a in SMALL_PHOTO_LIMITS[smallest] if a not in limits]
    return cases


@pytest.mark.parametrize(("name", "attack"), _small_photo_cases())
def test_survives_geometry_in_small_photos(
    marked_small: dict[str, np.ndarray], name: str, attack: str
) -> None:
    """Found through the spectrum: the autocorrelation is too weak at these sizes."""
    assert_recovered(GEOMETRIC_ATTACKS[attack](marked_small[name]))


@pytest.mark.xfail(strict=True, reason="known limit: see SMALL_PHOTO_LIMITS")
@pytest.mark.parametrize(
    ("name", "attack"),
    [(name, attack) for name, limits in SMALL_PHOTO_LIMITS.items() for attack in limits],
)
def test_known_limits_of_small_photos(
    marked_small: dict[str, np.ndarray], name: str, attack: str
) -> None:
    assert_recovered(GEOMETRIC_ATTACKS[attack](marked_small[name]))


@pytest.mark.parametrize("name", SAMPLE_PHOTOS)
@pytest.mark.parametrize("attack", ["rotate+7", "flip-horizontal", "perspective-4pct"])
def test_unmarked_photos_in_any_pose_give_no_detection(name: str, attack: str) -> None:
    result = detect_image(GEOMETRIC_ATTACKS[attack](load_sample(name)), key=KEY)
    assert not result.detected
    assert result.payload is None
    assert result.false_alarm > 1e-6
