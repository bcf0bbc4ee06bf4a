"""The deterministic hashes behind uniqueString() and guid(), bit-compatible with Azure.

uniqueString: the arguments joined by '-', UTF-8 encoded, hashed with the 64-bit Murmur variant of
Azure's expression engine (two 32-bit lanes, its own constants), written as 13 base32 characters.
guid: a name-based (version 5) UUID of the '-'-joined arguments in ARM's fixed namespace.
"""

from __future__ import annotations

import uuid

MASK32 = 0xFFFFFFFF
C1 = 0xAB0E9789
C2 = 0x239B961B
FMIX1 = 0x85EBCA6B
FMIX2 = 0xC2B2AE35
BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
UNIQUE_STRING_LENGTH = 13
ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK32


def _mix_k1(k1: int) -> int:
    return (_rotl((k1 * C2) & MASK32, 15) * C1) & MASK32


def _mix_k2(k2: int) -> int:
    return (_rotl((k2 * C1) & MASK32, 17) * C2) & MASK32


def _fmix(h: int) -> int:
    h = ((h ^ (h >> 16)) * FMIX1) & MASK32
    h = ((h ^ (h >> 13)) * FMIX2) & MASK32
    return h ^ (h >> 16)


def murmur64(data: bytes) -> int:
    h1 = h2 = 0
    full = len(data) - len(data) % 8
    for i in range(0, full, 8):
        h1 ^= _mix_k1(int.from_bytes(data[i:i + 4], "little"))
        h1 = (_rotl(h1, 19) + h2) & MASK32
        h1 = (h1 * 5 + 0x561CCD1B) & MASK32
        h2 ^= _mix_k2(int.from_bytes(data[i + 4:i + 8], "little"))
        h2 = (_rotl(h2, 13) + h1) & MASK32
        h2 = (h2 * 5 + 0x0BCAA747) & MASK32
    tail = data[full:]
    if tail:
        h1 ^= _mix_k1(int.from_bytes(tail[:4], "little"))
        if len(tail) > 4:
            h2 ^= _mix_k2(int.from_bytes(tail[4:], "little"))
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & MASK32
    h2 = (h2 + h1) & MASK32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & MASK32
    h2 = (h2 + h1) & MASK32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    digest = murmur64("-".join(values).encode("utf-8"))
    # 5-bit groups from the most significant end; 13 groups are 65 bits, so append one zero bit.
    padded = digest << 1
    return "".join(
        BASE32_ALPHABET[(padded >> (5 * (UNIQUE_STRING_LENGTH - 1 - i))) & 31]
        for i in range(UNIQUE_STRING_LENGTH)
    )


def arm_guid(*values: str) -> str:
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(values)))
