"""Opening captures and streaming them as bounded batches of decoded packets.

A capture larger than memory streams through in fixed-size chunks. Whatever
goes wrong with a file is recorded in its :class:`CaptureReport`; a corrupt
record ends that file with a :class:`CaptureError` *after* every batch before
it has been handed on, so nothing already read is lost.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from trafficlm.capture import linktype as lt
from trafficlm.capture.batch import PacketBatch, PacketStatus, RecordBatch
from trafficlm.capture.decode import decode
from trafficlm.capture.fragments import FragmentPorts
from trafficlm.capture.pcap import MAGICS as PCAP_MAGICS
from trafficlm.capture.pcap import PcapFramer
from trafficlm.capture.pcapng import PcapngFramer
from trafficlm.capture.source import CaptureSource
from trafficlm.errors import CaptureError

if TYPE_CHECKING:
    from trafficlm.flows import FlowTableStats

DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024  # measured: 4 MiB beats 8 and 16 (cache)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
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


@dataclass
class FoundCaptures:
    """The capture files found below the inputs, and what was passed over, each named."""

    paths: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_captures(inputs: list[str], exclude: list[str] | tuple = ()) -> FoundCaptures:
    """Expand directories to the capture files below them (sorted); keep files as given.

    Inside a directory, only regular capture files are read: a FIFO would block the
    run, a dangling link or an unreadable folder holds nothing; each is named in
    ``skipped``, never passed over without a word. ``exclude`` (the run's own
    output files) are never inputs, even where they sit in an input directory.
    """
    found = FoundCaptures()
    outputs = tuple(os.path.realpath(p) for p in exclude)
    for item in inputs:
        if os.path.isdir(item):
            _scan_directory(item, found, outputs)
        else:
            found.paths.append(item)
    return found


def _scan_directory(top: str, found: FoundCaptures, outputs: tuple[str, ...]) -> None:
    def unreadable(err: OSError) -> None:
        found.skipped.append(f"{err.filename}: cannot read this folder: {err.strerror}")

    below = []
    for folder, _, names in os.walk(top, onerror=unreadable):
        for name in names:
            if not name.lower().endswith(CAPTURE_SUFFIXES):
                continue
            path = os.path.join(folder, name)
            why = _not_a_capture_file(path)
            if why:
                found.skipped.append(f"{path}: {why}, skipped")
            elif not _is_output(os.path.realpath(path), outputs):
                below.append(path)
    found.paths.extend(sorted(below))


def _is_output(path: str, outputs: tuple[str, ...]) -> bool:
    """An output file itself, or a file inside an output directory (``--extract``)."""
    return any(path == out or path.startswith(out + os.sep) for out in outputs)


def _not_a_capture_file(path: str) -> str | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "a symbolic link to nothing"
    except OSError as err:
        return f"cannot be examined ({err.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    return None


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
    short, or compressed data that ends early, is not an error: it adds a
    warning naming the offset, and every whole record before it is kept.
    """
    with _open(path) as raw:
        source = CaptureSource(raw)
        head = _read(source, path, 0, 64)
        if not head and source.problem:
            raise CaptureError(path, source.problem)
        framer = _framer(path, head)
        chunk = head[framer.header_len :]
        offset = framer.header_len
        eof = False
        while True:
            if not eof:
                more = _read(source, path, offset + len(chunk), chunk_bytes)
                eof = not more
                chunk += more
            report.disk_bytes = source.disk_bytes
            records, consumed = framer.frame(chunk, offset)
            report.bytes_read = offset + consumed
            if len(records):
                yield records
            if framer.pending_error is not None:
                raise framer.pending_error
            chunk, offset = chunk[consumed:], offset + consumed
            if eof and (not chunk or not consumed):
                break
        _warn_ended_early(path, source, offset, chunk, report)


def _warn_ended_early(path: str, source: CaptureSource, offset: int, left: bytes,
                      report: CaptureReport) -> None:
    if source.problem:
        report.warnings.append(f"{path}: {source.problem}; every whole record before it "
                               f"was read ({offset} bytes of capture)")
    elif left:
        report.warnings.append(f"{path}: capture is cut short at byte {offset} "
                               f"({len(left)} bytes of an incomplete record ignored)")


def _open(path: str) -> BinaryIO:
    """The file on disk (or a pipe); gzip is detected by content, in ``CaptureSource``."""
    if os.path.isdir(path):
        raise CaptureError(path, "is a directory with no captures in it")
    try:
        return open(path, "rb")
    except OSError as err:
        raise CaptureError(path, f"cannot open: {err.strerror or err}") from None


def _read(source: CaptureSource, path: str, offset: int, size: int) -> bytes:
    try:
        return source.read(size)
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
