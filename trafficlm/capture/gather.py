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


def words(buf: np.ndarray, offsets: np.ndarray, count: int, byteorder: str) -> np.ndarray:
    """``count`` consecutive uint32 at each offset, as an int64 matrix [len(offsets), count]."""
    idx = offsets[:, None] + np.arange(4 * count, dtype=np.int64)
    raw = np.ascontiguousarray(np.take(buf, idx, mode="clip"))
    dtype = np.dtype(byteorder + "u4")
    return raw.view(dtype).reshape(len(offsets), count).astype(np.int64)


HEADER_PAD = 64  # longest fixed header we read as a row (IPv6: 40 bytes)


def padded(buf: np.ndarray) -> np.ndarray:
    """``buf`` with zero bytes appended, so header rows near its end stay in bounds."""
    return np.concatenate([buf, np.zeros(HEADER_PAD, np.uint8)])


def header_rows(padded_buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """``width`` bytes starting at each offset, as a [len(offsets), width] uint8 matrix.

    One fancy-indexing copy of whole rows: much cheaper than a gather per field.
    """
    windows = np.lib.stride_tricks.sliding_window_view(padded_buf, width)
    return windows[np.clip(offsets, 0, len(windows) - 1)]


def be16(rows: np.ndarray, at: int) -> np.ndarray:
    """Big-endian 16-bit field at column ``at`` of header rows, as int64."""
    return (rows[:, at].astype(np.int64) << 8) | rows[:, at + 1]


def be32(rows: np.ndarray, at: int) -> np.ndarray:
    return (be16(rows, at) << 16) | be16(rows, at + 2)


def be64(rows: np.ndarray, at: int) -> np.ndarray:
    """Big-endian 64-bit field (half an IPv6 address) as uint64."""
    return np.ascontiguousarray(rows[:, at : at + 8]).view(">u8").ravel().astype(np.uint64)
