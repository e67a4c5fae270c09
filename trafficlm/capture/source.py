"""A capture's bytes from disk or a pipe, gunzipped on the fly, losing nothing before damage.

``gzip.GzipFile.read`` raises on a cut or junk-tailed stream and drops what
that call had already inflated, so one bad byte at the end of a 4 MiB read
lost every packet in it. Here inflation is driven by ``zlib`` directly: what
was inflated is always kept; a stream cut short, trailing junk or corrupt
deflate data end the input with ``problem`` set (naming the byte of the file
on disk where it happened); concatenated gzip members are read one after
another, as gunzip does. Output per read is bounded, so a gzip bomb costs
time, never memory. Nothing seeks or asks for a size, so a FIFO or
``/dev/stdin`` reads like a file.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
COMPRESSED_PIECE = 256 * 1024  # compressed bytes read from disk at a time
GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data


class CaptureSource:
    """Reads the capture's (uncompressed) bytes; ``disk_bytes`` counts what left the file."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.disk_bytes = 0
        self.problem: str | None = None  # why the input ended early, if it did
        self.compressed = raw.peek(2)[:2] == GZIP_MAGIC
        self._inflate = zlib.decompressobj(GZIP_WBITS)
        self._input = b""  # compressed bytes read but not yet inflated
        self._in_member = False  # inside a gzip member that has not ended yet
        self._ended = False

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end (or after damage, with ``problem`` set)."""
        if not self.compressed:
            data = self.raw.read(size)
            self.disk_bytes += len(data)
            return data
        out = bytearray()
        while len(out) < size and not self._ended:
            out += self._inflate_some(size - len(out))
        return bytes(out)

    def _inflate_some(self, limit: int) -> bytes:
        if len(self._input) < len(GZIP_MAGIC):
            more = self.raw.read(COMPRESSED_PIECE)
            self.disk_bytes += len(more)
            self._input += more
            if not self._input:
                self._end_of_file()
                return b""
        if not self._in_member and not self._input.startswith(GZIP_MAGIC):
            tail = len(self._input) + len(self.raw.read())
            self.disk_bytes = self._at() + tail
            return self._stop(f"{tail} bytes after the end of the compressed data "
                              f"(from byte {self.disk_bytes - tail}) ignored")
        try:
            data = self._inflate.decompress(self._input, limit)
        except zlib.error as err:
            return self._stop(f"corrupt compressed data near byte {self._at()} ({err})")
        self._in_member = True
        self._input = self._inflate.unconsumed_tail
        if self._inflate.eof:  # the member's trailer checked out; another may follow
            self._in_member = False
            self._input = self._inflate.unused_data
            self._inflate = zlib.decompressobj(GZIP_WBITS)
        return data

    def _end_of_file(self) -> None:
        if self._in_member:
            self._stop(f"compressed data cut short at byte {self.disk_bytes} of the file")
        self._ended = True

    def _stop(self, problem: str) -> bytes:
        self.problem = problem
        self._ended = True
        self._input = b""
        return b""

    def _at(self) -> int:
        """The file byte where the compressed input not yet inflated begins."""
        return self.disk_bytes - len(self._input)
