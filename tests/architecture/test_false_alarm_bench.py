"""The false-alarm bench (bench/false_alarms.py) counts and judges what it measures correctly.

The bench runs for half an hour, so its parts are checked here on small inputs: the CRC-24
written as an affine map agrees with :mod:`marking.scheme.payload` and counts matched check bits
exactly; the wrapped decoder records one count per decode attempt without changing the
result; the verdict flags a detection, an optimistic p-value and a check-bit rate off from
2^-k, and passes honest figures; a corpus picture of every class is made; and a few thousand
noise decodes match check bits at the rates of coin flips.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:  # the bench scripts import each other by bare name
    sys.path.insert(0, str(BENCH_DIR))

import false_alarms as fa  # noqa: E402

from marking.scheme.payload import (  # noqa: E402
    CHECK_BITS,
    PAYLOAD_BITS,
    bytes_to_bits,
    decode_payload,
    encode_payload,
    payload_check,
)


def info_bits(payload: bytes, flip_check_bit: int | None = None) -> np.ndarray:
    check = payload_check(payload).to_bytes(CHECK_BITS // 8, "big")
    bits = bytes_to_bits(payload + check)
    if flip_check_bit is not None:
        bits[PAYLOAD_BITS + flip_check_bit] ^= 1
    return bits


def test_the_affine_crc_matches_the_payload_module() -> None:
    matrix, offset = fa.check_matrix()
    rng = np.random.default_rng(3)
    payloads = [rng.bytes(8) for _ in range(50)] + [bytes(8), b"\xff" * 8]
    rows = np.stack([info_bits(p) for p in payloads])
    assert (fa.matched_check_bits(rows, matrix, offset) == CHECK_BITS).all()
    for k in (0, 1, 7, 12, 23):
        flipped = np.stack([info_bits(p, flip_check_bit=k) for p in payloads])
        assert (fa.matched_check_bits(flipped, matrix, offset) == k).all()


def test_the_recording_decoder_counts_attempts_and_keeps_results() -> None:
    fa._CHECK = fa.check_matrix()
    fa._ATTEMPTS.clear()
    recording = fa._record_attempts(decode_payload)
    payload = bytes.fromhex("0123456789abcdef")
    clean = np.where(encode_payload(payload) == 1, 1.0, -1.0).astype(np.float32)
    noise = np.random.default_rng(1).standard_normal(clean.size).astype(np.float32)
    assert recording(clean).payload == payload
    assert recording(noise).payload == decode_payload(noise).payload
    assert fa._ATTEMPTS[0] == CHECK_BITS
    assert len(fa._ATTEMPTS) == 2
    assert 0 <= fa._ATTEMPTS[1] <= CHECK_BITS


def honest_results(trials: int = 2000, attempts: int = 4000, seed: int = 5) -> fa.Results:
    """Results an honest detector would give: uniform p-values, coin-flip check bits."""
    rng = np.random.default_rng(seed)
    results = fa.Results()
    for modality in ("picture", "sound", "video"):
        for p in rng.uniform(0, 1, trials):
            results.trials.append(fa.Trial(modality, "kind", False, None, float(p), 4.0))
        results.attempts[modality] = list(np.minimum(rng.geometric(0.5, attempts) - 1, 24))
        results.items[modality] = trials
    return results


def test_honest_figures_pass_and_render() -> None:
    results = honest_results()
    assert fa.verdicts(results) == []
    text = fa.results_markdown(results, None, 1.0)
    assert "| picture | 2000 | 2000 | 0 |" in text
    assert "**FAIL**" not in text
    assert "No unmarked trial was detected" in text


def test_a_detection_is_a_problem() -> None:
    results = honest_results()
    results.trials[7] = fa.Trial("sound", "noise", True, "00" * 8, 1e-9, 9.0)
    assert any("detected" in problem for problem in fa.verdicts(results))


def test_optimistic_p_values_are_flagged() -> None:
    results = honest_results()
    # Every third picture p-value divided by 10: about 3x too many under each small level.
    results.trials = [
        fa.Trial(t.modality, t.source, False, None, t.false_alarm / 10, t.score)
        if t.modality == "picture" and i % 3 == 0
        else t
        for i, t in enumerate(results.trials)
    ]
    problems = fa.verdicts(results)
    assert any(p.startswith("picture:") and "optimistic" in p for p in problems)
    assert "**FAIL**" in fa.results_markdown(results, None, 1.0)


@pytest.mark.parametrize("matched_rate", [0.3, 0.7])
def test_check_bits_off_from_coin_flips_are_flagged(matched_rate: float) -> None:
    results = honest_results()
    rng = np.random.default_rng(9)
    results.attempts["video"] = list(np.minimum(rng.geometric(1 - matched_rate, 4000) - 1, 24))
    assert any(p.startswith("video:") and "check bits" in p for p in fa.verdicts(results))


def test_every_picture_class_is_made() -> None:
    seen = {}
    for index in range(len(fa.PICTURE_CLASSES)):
        kind, picture = fa.make_picture(index, seed=1)
        seen[kind] = picture
        assert picture.dtype == np.uint8
        assert picture.ndim in (2, 3)
        assert min(picture.shape[:2]) >= 128
        assert np.ptp(picture) > 0
    assert set(seen) == set(fa.PICTURE_CLASSES)


def test_noise_decodes_match_check_bits_like_coin_flips() -> None:
    histogram = fa.noise_decodes("gaussian", 4000, seed=2)
    assert histogram.sum() == 4000
    assert all(check.ok for check in fa.prefix_checks(histogram))
