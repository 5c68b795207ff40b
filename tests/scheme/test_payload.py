"""Payload framing, the convolutional code and the soft-decision Viterbi decoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marking.kernels.viterbi import viterbi_decode
from marking.scheme.payload import (
    CHECK_MASK,
    CODED_BITS,
    INFO_BITS,
    PAYLOAD_BITS,
    DecodedPayload,
    bits_to_bytes,
    bytes_to_bits,
    convolutional_encode,
    crc24_openpgp,
    decode_payload,
    encode_payload,
    parse_payload,
    payload_check,
    random_payload,
)
from tests.support.naive.viterbi import convolutional_encode_naive, viterbi_decode_naive


def bpsk(coded: np.ndarray) -> np.ndarray:
    """Noise-free soft values under the convention: bit 1 -> +1, bit 0 -> -1."""
    return (2.0 * coded.astype(np.float32) - 1.0).astype(np.float32)


def test_sizes() -> None:
    assert (PAYLOAD_BITS, INFO_BITS, CODED_BITS) == (64, 88, 282)


def test_crc24_openpgp_check_value() -> None:
    assert crc24_openpgp(b"123456789") == 0x21CF02
    assert crc24_openpgp(b"") == 0xB704CE


def test_zero_payload_has_nonzero_check() -> None:
    assert payload_check(bytes(8)) == crc24_openpgp(bytes(8)) ^ CHECK_MASK != 0


def test_bit_order_is_msb_first() -> None:
    bits = bytes_to_bits(b"\x80\x01")
    assert bits.dtype == np.uint8
    assert bits.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert bits_to_bytes(bits) == b"\x80\x01"


@pytest.mark.parametrize(
    "bad", [np.array([0, 1, 0]), np.array([2] * 8), np.zeros((2, 8), np.uint8), np.full(8, 0.5)]
)
def test_bits_to_bytes_rejects_non_bits(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="bit"):
        bits_to_bytes(bad)


def test_encoder_matches_shift_register_twin() -> None:
    rng = np.random.default_rng(1)
    for length in (1, 7, 88, 200):
        info = rng.integers(0, 2, length).astype(np.uint8)
        np.testing.assert_array_equal(convolutional_encode(info), convolutional_encode_naive(info))


def test_single_one_has_free_distance_weight() -> None:
    """An isolated 1 yields every generator's taps once: weight 15, the code's free distance."""
    info = np.zeros(88, np.uint8)
    info[10] = 1
    coded = convolutional_encode(info)
    assert coded.sum() == 15
    assert coded[30:33].tolist() == [1, 1, 1]  # every generator taps the current input


def test_encode_payload_layout() -> None:
    payload = parse_payload("0123456789abcdef")
    coded = encode_payload(payload)
    assert coded.dtype == np.uint8
    assert coded.shape == (CODED_BITS,)
    assert set(np.unique(coded)) <= {0, 1}
    info = np.concatenate(
        [bytes_to_bits(payload), bytes_to_bits(payload_check(payload).to_bytes(3))]
    )
    np.testing.assert_array_equal(coded, convolutional_encode_naive(info))


@pytest.mark.parametrize("bad", [b"1234567", b"123456789", "0123456789abcdef", 5])
def test_encode_payload_rejects_non_payloads(bad: object) -> None:
    with pytest.raises(ValueError, match="exactly 8 bytes"):
        encode_payload(bad)  # type: ignore[arg-type]


def test_round_trip_random_payloads() -> None:
    for _ in range(50):
        payload = random_payload()
        decoded = decode_payload(bpsk(encode_payload(payload)))
        assert decoded.check_ok
        assert decoded.payload == payload
        assert decoded.coded_agreement == 1.0
        np.testing.assert_array_equal(decoded.bits, bytes_to_bits(payload))


def test_random_payload_is_random_bytes() -> None:
    payloads = {random_payload() for _ in range(100)}
    assert len(payloads) == 100
    assert all(isinstance(p, bytes) and len(p) == 8 for p in payloads)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=8, max_size=8), st.floats(0.05, 100.0))
def test_any_payload_round_trips(payload: bytes, amplitude: float) -> None:
    soft = bpsk(encode_payload(payload)) * np.float32(amplitude)
    assert decode_payload(soft).payload == payload


def noisy_success_rate(sigma: float, trials: int, seed: int, erase: float = 0.0) -> float:
    """Fraction of random payloads decoded exactly through BPSK + Gaussian noise + erasures.

    Also asserts that no trial ever reports a wrong payload as checked.
    """
    rng = np.random.default_rng(seed)
    successes = 0
    for _ in range(trials):
        payload = rng.bytes(8)
        soft = bpsk(encode_payload(payload)) + rng.normal(0.0, sigma, CODED_BITS)
        soft[rng.random(CODED_BITS) < erase] = 0.0
        decoded = decode_payload(soft.astype(np.float32))
        assert decoded.payload in (None, payload)
        successes += decoded.payload == payload
    return successes / trials


def test_corrects_ten_percent_raw_bit_errors() -> None:
    # sigma 0.78: P(noise flips a +-1 symbol) = Q(1 / 0.78) ~ 10%, i.e. ~28 of 282 bits wrong.
    assert noisy_success_rate(sigma=0.78, trials=300, seed=10) >= 0.99


def test_mostly_corrects_sixteen_percent_raw_bit_errors() -> None:
    # sigma 1.0: Q(1) ~ 15.9% raw errors; measured ~96% success on this seed.
    assert noisy_success_rate(sigma=1.0, trials=300, seed=11) >= 0.9


def test_decodes_through_thirty_percent_erasures() -> None:
    assert noisy_success_rate(sigma=0.0, trials=100, seed=12, erase=0.3) == 1.0
    assert noisy_success_rate(sigma=0.5, trials=300, seed=13, erase=0.3) >= 0.98


def test_pure_noise_never_passes_the_check() -> None:
    rng = np.random.default_rng(2024)
    false_passes = 0
    for _ in range(20_000):
        decoded = decode_payload(rng.standard_normal(CODED_BITS).astype(np.float32))
        false_passes += decoded.check_ok
        assert decoded.payload is None or decoded.check_ok
    assert false_passes == 0  # expected count 20_000 * 2**-24 ~ 0.001


def test_all_zero_soft_input_fails_the_check() -> None:
    decoded = decode_payload(np.zeros(CODED_BITS, np.float32))
    assert not decoded.check_ok
    assert decoded.payload is None
    assert decoded.bits.shape == (PAYLOAD_BITS,)
    assert decoded.coded_agreement == 0.0


def test_failed_check_still_reports_bits_but_no_payload() -> None:
    payload = parse_payload(0x1122334455667788)
    coded = encode_payload(payload)
    info = np.concatenate([bytes_to_bits(payload), bytes_to_bits(b"\x00\x00\x00")])
    soft = bpsk(convolutional_encode(info))  # valid codeword, wrong check
    decoded = decode_payload(soft)
    assert not decoded.check_ok
    assert decoded.payload is None
    np.testing.assert_array_equal(decoded.bits, bytes_to_bits(payload))
    assert not np.array_equal(soft, bpsk(coded))


def test_decoded_payload_is_immutable() -> None:
    decoded = decode_payload(bpsk(encode_payload(bytes(8))))
    assert isinstance(decoded, DecodedPayload)
    with pytest.raises(ValueError, match="read-only"):
        decoded.bits[0] = 1
    with pytest.raises(AttributeError):
        decoded.check_ok = False  # type: ignore[misc]


def test_coded_agreement_ignores_erasures_and_counts_flips() -> None:
    soft = bpsk(encode_payload(b"abcdefgh"))
    soft[::3] = 0.0  # erase the first output of every step: 94 erasures
    soft[1::27] *= -0.01  # eleven weak flipped values (none erased) the decoder overrides
    decoded = decode_payload(soft)
    assert decoded.payload == b"abcdefgh"
    assert type(decoded.coded_agreement) is float
    assert decoded.coded_agreement == pytest.approx((188 - 11) / 188)


def test_decode_accepts_float64_soft_values() -> None:
    soft = bpsk(encode_payload(b"\xff" * 8)).astype(np.float64)
    assert decode_payload(soft).payload == b"\xff" * 8


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(CODED_BITS - 1, np.float32),
        np.zeros((1, CODED_BITS), np.float32),
        np.zeros(CODED_BITS, np.uint8),
        np.zeros(CODED_BITS, np.int64),
        np.zeros(CODED_BITS, bool),
        np.zeros(CODED_BITS, np.complex64),
        np.full(CODED_BITS, np.nan, np.float32),
        np.full(CODED_BITS, np.inf, np.float32),
    ],
)
def test_decode_rejects_bad_soft_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="soft values"):
        decode_payload(bad)


def test_viterbi_kernel_matches_naive_twin() -> None:
    rng = np.random.default_rng(99)
    cases = [rng.standard_normal(CODED_BITS).astype(np.float32) for _ in range(8)]
    for sigma in (0.5, 1.0):
        for _ in range(4):
            coded = encode_payload(rng.bytes(8))
            cases.append((bpsk(coded) + rng.normal(0, sigma, CODED_BITS)).astype(np.float32))
    cases.append((rng.standard_normal(3 * 20) * 1e30).astype(np.float32))  # other length, huge
    cases.append((rng.standard_normal(3 * 7) * 1e-30).astype(np.float32))  # one info bit, tiny
    # Exact ties: both break them towards the predecessor whose oldest bit is 0.
    cases.append(np.zeros(CODED_BITS, np.float32))
    cases.append(np.where(rng.random(CODED_BITS) < 0.5, 0.0, 1.0).astype(np.float32))
    for soft in cases:
        np.testing.assert_array_equal(viterbi_decode(soft), viterbi_decode_naive(soft))


def test_viterbi_decodes_other_lengths() -> None:
    info = np.random.default_rng(4).integers(0, 2, 40).astype(np.uint8)
    decoded = viterbi_decode(bpsk(convolutional_encode(info)))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, info)


def test_viterbi_is_maximum_likelihood() -> None:
    """The decoded codeword correlates with the input at least as well as the sent one."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        coded = encode_payload(rng.bytes(8))
        soft = (bpsk(coded) + rng.normal(0, 1.3, CODED_BITS)).astype(np.float32)
        best = bpsk(convolutional_encode(viterbi_decode(soft)))
        assert np.dot(best, soft) >= np.dot(bpsk(coded), soft) - 1e-3


@pytest.mark.parametrize("length", [0, 3 * 6, 3 * 6 + 1])
def test_viterbi_rejects_unusable_lengths(length: int) -> None:
    with pytest.raises(ValueError, match="soft input"):
        viterbi_decode(np.zeros(length, np.float32))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0123456789abcdef", bytes.fromhex("0123456789abcdef")),
        ("0x0123456789ABCDEF", bytes.fromhex("0123456789abcdef")),
        ("0X0123456789abcDEF", bytes.fromhex("0123456789abcdef")),
        ("  ffffffffffffffff\n", b"\xff" * 8),
        ("0000000000000000", bytes(8)),
        (b"ABCDEFGH", b"ABCDEFGH"),
        (bytearray(b"\x00" * 8), bytes(8)),
        (0, bytes(8)),
        (1, bytes(7) + b"\x01"),
        (2**64 - 1, b"\xff" * 8),
        (0x0123456789ABCDEF, bytes.fromhex("0123456789abcdef")),
    ],
)
def test_parse_payload_accepts(text: str | bytes | int, expected: bytes) -> None:
    parsed = parse_payload(text)
    assert type(parsed) is bytes
    assert parsed == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0x",
        "0123456789abcde",  # 15 digits
        "0123456789abcdef0",  # 17 digits
        "0123456789abcdeg",
        "0x_123456789abcdef",
        "0123_56789abcdef",
        "01 23 45 67 89 ab cd ef",
        "-123456789abcdef",
        "0b0101",
        b"",
        b"1234567",
        b"123456789",
        -1,
        2**64,
    ],
)
def test_parse_payload_rejects_values(bad: str | bytes | int) -> None:
    with pytest.raises(ValueError, match="payload"):
        parse_payload(bad)


@pytest.mark.parametrize("bad", [None, 1.5, True, ["0" * 16]])
def test_parse_payload_rejects_types(bad: object) -> None:
    with pytest.raises(TypeError, match="payload"):
        parse_payload(bad)  # type: ignore[arg-type]
