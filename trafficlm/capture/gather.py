"""Vectorised reads of integers at many offsets of one byte buffer.

Offsets past the end are clipped rather than raising: callers compute a
validity mask from the lengths they have, and a corrupt length field must
never turn into an IndexError.
"""

from __future__ import annotations

import numpy as np


def u8(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The byte at each offset, as int64 (0 for an empty buffer)."""
    if len(buf) == 0:
        return np.zeros(len(idx), dtype=np.int64)
    return np.take(buf, idx, mode="clip").astype(np.int64)


def u16be(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return (u8(buf, idx) << 8) | u8(buf, idx + 1)


def u16le(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return u8(buf, idx) | (u8(buf, idx + 1) << 8)


def u32be(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return (u16be(buf, idx) << 16) | u16be(buf, idx + 2)


def u32le(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return u16le(buf, idx) | (u16le(buf, idx + 2) << 16)


def u64be(buf: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Eight bytes big-endian as uint64 (used for halves of IPv6 addresses)."""
    hi = u32be(buf, idx).astype(np.uint64)
    lo = u32be(buf, idx + 4).astype(np.uint64)
    return (hi << np.uint64(32)) | lo


def words(buf: np.ndarray, offsets: np.ndarray, count: int, byteorder: str) -> np.ndarray:
    """``count`` consecutive uint32 at each offset, as an int64 matrix [len(offsets), count]."""
    idx = offsets[:, None] + np.arange(4 * count, dtype=np.int64)
    raw = np.ascontiguousarray(np.take(buf, idx, mode="clip"))
    dtype = np.dtype(byteorder + "u4")
    return raw.view(dtype).reshape(len(offsets), count).astype(np.int64)
