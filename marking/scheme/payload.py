"""The 64-bit payload and the error-correcting code that carries it through a watermark.

Layout, in transmission order (all bit orders are **MSB first**: byte 0 first, and within a
byte its most significant bit first):

1. 64 payload bits (the 8 payload bytes).
2. 24 check bits: CRC-24/OPENPGP of the 8 payload bytes (poly 0x864CFB, init 0xB704CE, no
   reflection, no final xor) XOR ``CHECK_MASK``. The mask makes the all-zero message carry a
   nonzero check, so a blank or erased channel (which decodes to all zeros) never passes.
3. Convolutional code, constraint length 7, rate 1/3, generators octal 133, 171, 165, zero
   terminated with 6 tail bits: ``(88 + 6) * 3 = 282`` coded bits, three per step in generator
   order (see :mod:`marking.kernels.viterbi` for the exact register convention).

Soft values handed to :func:`decode_payload` follow the convention **positive = coded bit 1,
negative = coded bit 0, magnitude = confidence, 0 = erasure**.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import numpy as np

from marking.kernels.viterbi import GENERATORS, OUTPUTS_PER_STEP, TAIL_BITS, viterbi_decode

PAYLOAD_BYTES = 8
PAYLOAD_BITS = 8 * PAYLOAD_BYTES
CHECK_BITS = 24
INFO_BITS = PAYLOAD_BITS + CHECK_BITS
CODED_BITS = (INFO_BITS + TAIL_BITS) * OUTPUTS_PER_STEP

CRC24_POLY = 0x864CFB
CRC24_INIT = 0xB704CE
#: XORed onto the CRC so that an all-zero payload does not get an all-zero check.
CHECK_MASK = 0x5A3C96

_HEX_PAYLOAD = re.compile(r"(?:0[xX])?([0-9a-fA-F]{16})")


def _crc24_table() -> list[int]:
    """Byte-at-a-time lookup table for the MSB-first CRC-24 with ``CRC24_POLY``."""
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc = (crc << 1) ^ (CRC24_POLY if crc & 0x800000 else 0)
        table.append(crc & 0xFFFFFF)
    return table


_CRC24_TABLE = _crc24_table()


def crc24_openpgp(data: bytes) -> int:
    """CRC-24/OPENPGP of ``data`` (check value of ``b"123456789"`` is 0x21CF02)."""
    crc = CRC24_INIT
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC24_TABLE[(crc >> 16) ^ byte]
    return crc


def payload_check(payload: bytes) -> int:
    """The 24 check bits sent after ``payload``: its CRC-24/OPENPGP XOR ``CHECK_MASK``."""
    return crc24_openpgp(payload) ^ CHECK_MASK


def bytes_to_bits(data: bytes) -> np.ndarray:
    """Unpack bytes into a uint8 0/1 array, most significant bit of each byte first."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="big")


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Pack a 1-D 0/1 array (length a multiple of 8) into bytes, most significant bit first."""
    bits = np.asarray(bits)
    if bits.ndim != 1 or bits.size % 8 != 0:
        raise ValueError(f"need a 1-D bit array whose length is a multiple of 8, got {bits.shape}")
    if bits.size and (bits.dtype.kind not in "biu" or bits.min() < 0 or bits.max() > 1):
        raise ValueError("bits must be integers 0 or 1")
    return np.packbits(bits.astype(np.uint8), bitorder="big").tobytes()


def parse_payload(text: str | bytes | int) -> bytes:
    """Normalise a payload given as 16 hex digits (optional ``0x``), 8 bytes or an int < 2**64.

    Integers and hex strings are read big-endian, so ``parse_payload(1)`` and
    ``parse_payload("0000000000000001")`` both give ``b"\\x00" * 7 + b"\\x01"``.
    """
    if isinstance(text, bool):
        raise TypeError("a payload is 16 hex digits, 8 bytes or an int, not a bool")
    if isinstance(text, int):
        if not 0 <= text < 1 << PAYLOAD_BITS:
            raise ValueError(f"an integer payload must be in [0, 2**64), got {text}")
        return text.to_bytes(PAYLOAD_BYTES, "big")
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        if len(data) != PAYLOAD_BYTES:
            raise ValueError(f"a byte payload must be exactly 8 bytes, got {len(data)}")
        return data
    if isinstance(text, str):
        match = _HEX_PAYLOAD.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"a payload string must be exactly 16 hex digits (optional 0x prefix), got {text!r}"
            )
        return bytes.fromhex(match.group(1))
    raise TypeError(f"a payload is a hex str, 8 bytes or an int, not {type(text).__name__}")


def parse_payload_option(payload: bytes | str | int) -> bytes:
    """:func:`parse_payload` for a value a user gave: a bad one is a :class:`UsageError`."""
    from marking.errors import UsageError

    try:
        return parse_payload(payload)
    except (ValueError, TypeError) as error:
        raise UsageError(f"invalid payload: {error}") from None


def random_payload() -> bytes:
    """Eight cryptographically random bytes, for a payload nobody else can guess."""
    return secrets.token_bytes(PAYLOAD_BYTES)


def _info_bits(payload: bytes) -> np.ndarray:
    """The 88 info bits: payload then its masked CRC-24, MSB first."""
    return bytes_to_bits(payload + payload_check(payload).to_bytes(CHECK_BITS // 8, "big"))


def _generator_taps() -> np.ndarray:
    """Taps[k, j] = 1 when generator k uses input ``t - 6 + j`` (window oldest to newest)."""
    positions = np.arange(TAIL_BITS + 1)
    return np.array([(g >> positions) & 1 for g in GENERATORS], dtype=np.uint8)


_GENERATOR_TAPS = _generator_taps()


def convolutional_encode(info_bits: np.ndarray) -> np.ndarray:
    """Encode 0/1 bits with the K=7 rate-1/3 code plus zero tail: ``3 * (n + 6)`` coded bits."""
    info_bits = np.asarray(info_bits, dtype=np.uint8)
    padding = np.zeros(TAIL_BITS, dtype=np.uint8)
    padded = np.concatenate([padding, info_bits, padding])
    # Row t holds inputs t-6 .. t, i.e. register bits 0 .. 6 of step t.
    windows = np.lib.stride_tricks.sliding_window_view(padded, TAIL_BITS + 1)
    return ((windows @ _GENERATOR_TAPS.T) & 1).astype(np.uint8).ravel()


def encode_payload(payload: bytes) -> np.ndarray:
    """The ``CODED_BITS`` coded bits (uint8 0/1) carrying an 8-byte payload."""
    if not isinstance(payload, (bytes, bytearray, memoryview)) or len(payload) != PAYLOAD_BYTES:
        raise ValueError("encode_payload needs exactly 8 bytes; use parse_payload() to convert")
    return convolutional_encode(_info_bits(bytes(payload)))


@dataclass(frozen=True, eq=False)
class DecodedPayload:
    """What the decoder recovered; :attr:`payload` is only given when the check passed."""

    #: The 64 decoded payload bits (uint8, read-only), present even when the check failed.
    bits: np.ndarray
    #: The decoded CRC matched the decoded payload.
    check_ok: bool
    #: Fraction of non-erased hard decisions ``soft > 0`` that agree with the re-encoded
    #: codeword of the decoded info bits (0.0 when every value is erased). Near 1 for a clean
    #: mark, about 0.75 for pure noise (the decoder picks the closest of 2**88 codewords).
    coded_agreement: float

    @property
    def payload(self) -> bytes | None:
        """The 8 payload bytes when the check passed, else ``None``."""
        return bits_to_bytes(self.bits) if self.check_ok else None


#: Soft magnitudes kept as they are; larger (or smaller) peaks are rescaled to 1.
_SOFT_MAX = 1e30
_SOFT_MIN = 1e-30


def _validated_soft(soft: np.ndarray) -> np.ndarray:
    """``soft`` as contiguous float32 of length ``CODED_BITS``, or a ValueError saying why not."""
    soft = np.asarray(soft)
    if soft.dtype.kind != "f":
        raise ValueError(
            f"soft values must be floating point (positive = bit 1, negative = bit 0, "
            f"0 = erasure), got dtype {soft.dtype}"
        )
    if soft.shape != (CODED_BITS,):
        raise ValueError(f"soft values must have shape ({CODED_BITS},), got {soft.shape}")
    if not np.isfinite(soft).all():
        raise ValueError("soft values must be finite")
    # Finite float64 values beyond float32's range (or below its smallest) would become inf
    # (or 0, an erasure) in the cast: rescale them first, which changes no decision (the
    # decoder is invariant to a positive scale and the agreement counts only signs).
    peak = float(np.max(np.abs(soft))) if soft.size else 0.0
    if peak > _SOFT_MAX or 0.0 < peak < _SOFT_MIN:
        soft = soft / peak
    return np.ascontiguousarray(soft, dtype=np.float32)


def decode_payload(soft: np.ndarray) -> DecodedPayload:
    """Viterbi-decode ``CODED_BITS`` soft values and verify the check.

    Convention: positive = coded bit 1, negative = coded bit 0, magnitude = confidence,
    0 = erasure.
    """
    soft = _validated_soft(soft)
    info = viterbi_decode(soft)
    payload_bits = info[:PAYLOAD_BITS].copy()
    payload_bits.setflags(write=False)
    received_check = int.from_bytes(bits_to_bytes(info[PAYLOAD_BITS:]), "big")
    check_ok = received_check == payload_check(bits_to_bytes(payload_bits))

    codeword = convolutional_encode(info)
    observed = soft != 0
    n_observed = int(np.count_nonzero(observed))
    agreeing = np.count_nonzero((soft > 0)[observed] == codeword.astype(bool)[observed])
    agreement = float(agreeing) / n_observed if n_observed else 0.0
    return DecodedPayload(bits=payload_bits, check_ok=bool(check_ok), coded_agreement=agreement)


def payload_for_label(producer: str, produce_id: str) -> str:
    """The 64-bit watermark payload that belongs to a metadata label (16 hex digits).

    The full pipeline embeds this payload, so a verifier can check that a file's metadata
    label and its watermark were made together, without any database.
    """
    digest = hashlib.blake2b(f"{producer}\x00{produce_id}".encode(), digest_size=8)
    return digest.hexdigest()
