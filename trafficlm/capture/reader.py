"""Opening captures and streaming them as bounded batches of decoded packets.

A capture larger than memory streams through in fixed-size chunks. Whatever
goes wrong with a file is recorded in its :class:`CaptureReport`; a corrupt
record ends that file with a :class:`CaptureError` *after* every batch before
it has been handed on, so nothing already read is lost.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trafficlm.capture import linktype as lt
from trafficlm.capture.batch import PacketBatch, PacketStatus, RecordBatch
from trafficlm.capture.decode import decode
from trafficlm.capture.fragments import FragmentPorts
from trafficlm.capture.pcap import MAGICS as PCAP_MAGICS
from trafficlm.capture.pcap import PcapFramer
from trafficlm.capture.pcapng import PcapngFramer
from trafficlm.errors import CaptureError

if TYPE_CHECKING:
    from trafficlm.flows import FlowTableStats

DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024  # measured: 4 MiB beats 8 and 16 (cache)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


@dataclass
class CaptureReport:
    """What reading one capture found: counts, skipped input, warnings, the error if any."""

    path: str
    packets: int = 0
    ip_packets: int = 0
    bytes_read: int = 0  # of the (uncompressed) capture, up to the last whole record
    disk_bytes: int = 0  # of the file on disk read so far, for progress bars
    status_counts: Counter = field(default_factory=Counter)
    unsupported_linktypes: Counter = field(default_factory=Counter)
    fragments_orphaned: int = 0
    fragments_evicted: int = 0
    warnings: list[str] = field(default_factory=list)
    error: CaptureError | None = None
    flow_stats: FlowTableStats | None = None  # set by the pipeline that built flows

    @property
    def skipped_input(self) -> bool:
        """True when something in the file was not turned into flows."""
        return bool(self.warnings or self.error or self.unsupported_linktypes)

    def problems(self) -> list[str]:
        """One line per problem, each naming the file."""
        lines = list(self.warnings)
        for name, count in self.unsupported_linktypes.items():
            lines.append(f"{self.path}: unsupported link type {name}: {count} packets skipped")
        if self.error is not None:
            lines.append(f"error: {self.error}")
        return lines


def find_captures(inputs: list[str]) -> list[str]:
    """Expand directories to the capture files below them (sorted); keep files as given."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(str(p) for p in path.rglob("*")
                                if p.is_file() and p.name.lower().endswith(CAPTURE_SUFFIXES)))
        else:
            found.append(item)
    return found


def read_packets(path: str, report: CaptureReport,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[PacketBatch]:
    """Decoded packet batches of one capture, in file order; counts go into ``report``."""
    fragments = FragmentPorts()
    try:
        for records in read_records(path, report, chunk_bytes):
            batch = decode(records)
            fragments.apply(batch)
            _count(batch, records, report)
            yield batch
    finally:
        report.fragments_orphaned = fragments.orphans
        report.fragments_evicted = fragments.evicted


def _count(batch: PacketBatch, records: RecordBatch, report: CaptureReport) -> None:
    report.packets += len(batch)
    statuses = np.bincount(batch.status, minlength=len(PacketStatus))
    for status in PacketStatus:
        report.status_counts[status.name.lower()] += int(statuses[status])
    report.ip_packets += int(statuses[PacketStatus.OK])
    unsupported = batch.status == PacketStatus.UNSUPPORTED_LINK
    if unsupported.any():
        types, counts = np.unique(records.linktype[unsupported], return_counts=True)
        for linktype, count in zip(types.tolist(), counts.tolist(), strict=True):
            report.unsupported_linktypes[lt.name(linktype)] += count


def read_records(path: str, report: CaptureReport,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[RecordBatch]:
    """Framed records of one capture, a chunk at a time.

    Raises CaptureError for a file that cannot be opened or is not a capture,
    and for a corrupt record (after yielding everything before it). A file cut
    short is not an error: it adds a warning naming the offset.
    """
    stream, raw = _open(path)
    with stream, raw:
        head = _read(stream, path, 0, 64)
        framer = _framer(path, head)
        chunk = head[framer.header_len :]
        offset = framer.header_len
        eof = False
        while not eof or chunk:
            more = b"" if eof else _read(stream, path, offset + len(chunk), chunk_bytes, report)
            eof = eof or not more
            chunk += more
            report.disk_bytes = raw.tell()
            records, consumed = framer.frame(chunk, offset)
            report.bytes_read = offset + consumed
            if len(records):
                yield records
            if framer.pending_error is not None:
                raise framer.pending_error
            chunk, offset = chunk[consumed:], offset + consumed
            if eof and chunk:
                report.warnings.append(
                    f"{path}: capture is cut short at byte {offset} "
                    f"({len(chunk)} bytes of an incomplete record ignored)")
                break


def _open(path: str) -> tuple[io.BufferedIOBase, io.BufferedReader]:
    """(stream of capture bytes, the file on disk); gzip is detected by content."""
    if os.path.isdir(path):
        raise CaptureError(path, "is a directory with no captures in it")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller's with-block
    except OSError as err:
        raise CaptureError(path, f"cannot open: {err.strerror or err}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def _read(stream, path: str, offset: int, size: int,
          report: CaptureReport | None = None) -> bytes:
    """Read up to ``size`` bytes; a broken gzip stream ends the input with a warning."""
    try:
        return stream.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        if report is None:
            raise CaptureError(path, f"unreadable gzip data: {err}", offset) from None
        report.warnings.append(f"{path}: compressed data ends or breaks near byte {offset}: {err}")
        return b""
    except OSError as err:
        raise CaptureError(path, f"read failed: {err.strerror or err}", offset) from None


def _framer(path: str, head: bytes) -> PcapFramer | PcapngFramer:
    if not head:
        raise CaptureError(path, "empty file, not a capture")
    magic = head[:4]
    if magic in PCAP_MAGICS:
        return PcapFramer(path, head)
    if magic == PCAPNG_MAGIC:
        return PcapngFramer(path, head)
    raise CaptureError(path, f"not a pcap or pcapng capture (starts with {head[:4].hex(' ')})", 0)
