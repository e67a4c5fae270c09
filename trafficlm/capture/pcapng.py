"""pcapng files: several sections and interfaces, EPB/SPB/OPB packet blocks.

Each interface has its own link type and timestamp resolution. Enhanced
Packet Blocks (nearly every packet in practice) are decoded for a whole chunk
at once; the rare Simple and obsolete Packet Blocks go through a small Python
path. A new Section Header closes the records framed so far with the old
byte order and interface table, and framing goes on in the same chunk (a file
of many short sections, as ``cat a.pcapng b.pcapng`` makes, reads whole).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from trafficlm.capture.batch import RecordBatch
from trafficlm.capture.gather import words
from trafficlm.errors import CaptureError

SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK_LEN = 16 * 1024 * 1024
OPT_TSRESOL, OPT_TSOFFSET = 9, 14
NS = 1_000_000_000
INT64_MAX = 2**63 - 1
MAX_DECIMAL_EXPONENT = 18  # 10^-18 s; a uint64 count of those still spans 18 s
MAX_BINARY_SHIFT = 63
MAX_OFFSET_S = INT64_MAX // NS


@dataclass
class Interface:
    linktype: int
    snaplen: int
    tsresol: int = 0x06  # the pcapng default: microseconds
    tsoffset_s: int = 0

    def usable(self) -> str | None:
        """Why this interface's timestamps cannot be read, or None: a resolution finer
        than 10^-18 s or 2^-63 s, or an offset beyond what int64 nanoseconds hold, is no
        real interface (a hostile or corrupt file)."""
        if self.tsresol & 0x80 and self.tsresol & 0x7F > MAX_BINARY_SHIFT:
            return f"if_tsresol 0x{self.tsresol:02x} is not a usable resolution"
        if not self.tsresol & 0x80 and self.tsresol > MAX_DECIMAL_EXPONENT:
            return f"if_tsresol {self.tsresol} is not a usable resolution"
        if abs(self.tsoffset_s) > MAX_OFFSET_S:
            return f"if_tsoffset {self.tsoffset_s} s is out of range"
        return None

    def to_ns(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int64 nanoseconds since the epoch, whether each fits) for raw timestamps in
        this interface's units (64-bit, unsigned on disk). Checked before multiplying:
        numpy wraps silently, and a wrapped time would put packets in other flows."""
        raw = np.ascontiguousarray(raw, dtype=np.int64).view(np.uint64)
        offset_ns = self.tsoffset_s * NS
        room = INT64_MAX - max(offset_ns, 0)  # nanoseconds before the offset is added
        if self.tsresol & 0x80:
            shift = np.uint64(self.tsresol & 0x7F)
            seconds = raw >> shift
            ok = seconds < room // NS
            frac = (raw & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.float64)
            seconds = np.where(ok, seconds, 0).astype(np.int64)
            ns = seconds * NS + np.round(frac / float(2 ** int(shift)) * 1e9).astype(np.int64)
        elif self.tsresol <= 9:
            scale = 10 ** (9 - self.tsresol)
            ok = raw <= np.uint64(room // scale)
            ns = np.where(ok, raw, 0).astype(np.int64) * scale
        else:
            ns_unsigned = raw // np.uint64(10 ** (self.tsresol - 9))
            ok = ns_unsigned <= np.uint64(room)
            ns = np.where(ok, ns_unsigned, 0).astype(np.int64)
        return ns + offset_ns, ok


class PcapngFramer:
    """Turns successive chunks of a pcapng file into RecordBatches."""

    def __init__(self, path: str, header: bytes) -> None:
        self.path = path
        self.byteorder = "<"
        self.interfaces: list[Interface] = []
        self.last_ts_raw = 0
        self.pending_error: CaptureError | None = None

    header_len = 0

    def frame(self, chunk: bytes, base_offset: int) -> tuple[RecordBatch, int]:
        """Frame whole blocks of ``chunk``; return the packet records and bytes consumed."""
        buf = np.frombuffer(chunk, dtype=np.uint8)
        segments: list[RecordBatch] = []
        epb: list[int] = []
        slow: list[tuple[int, int, int, int, int, int]] = []
        off = 0
        end = len(chunk)
        while off + 12 <= end and self.pending_error is None:
            btype = struct.unpack_from(self.byteorder + "I", chunk, off)[0]
            if btype == SHB:
                if epb or slow:  # the records so far belong to the old section's interfaces
                    segments.append(self._segment(buf, epb, slow, base_offset))
                    epb, slow = [], []
                    if self.pending_error is not None:
                        break
                if not self._read_section_header(chunk, off, base_offset):
                    break
            blen = struct.unpack_from(self.byteorder + "I", chunk, off + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
                self._fail(f"corrupt block: length {blen}", base_offset + off)
                break
            if off + blen > end:
                break
            if btype == EPB:
                epb.append(off)
            elif btype == IDB:
                self._read_interface(chunk, off, blen, base_offset)
            elif btype in (SPB, OPB):
                record = self._slow_record(chunk, off, btype, blen, base_offset)
                if record is not None:
                    slow.append(record)
            if self.pending_error is None:
                off += blen
        if epb or slow or not segments:
            segments.append(self._segment(buf, epb, slow, base_offset))
        return _concat(buf, segments), off

    def _fail(self, reason: str, offset: int) -> None:
        self.pending_error = CaptureError(self.path, reason, offset)

    def _read_section_header(self, chunk: bytes, off: int, base_offset: int) -> bool:
        if off + 12 > len(chunk):
            return False
        magic = chunk[off + 8 : off + 12]
        if magic == b"\x4d\x3c\x2b\x1a":
            self.byteorder = "<"
        elif magic == b"\x1a\x2b\x3c\x4d":
            self.byteorder = ">"
        else:
            self._fail("corrupt section header: bad byte-order magic", base_offset + off)
            return False
        self.interfaces = []
        return True

    def _read_interface(self, chunk: bytes, off: int, blen: int, base_offset: int) -> None:
        if blen < 20:
            self._fail("corrupt interface description block", base_offset + off)
            return
        linktype, _, snaplen = struct.unpack_from(self.byteorder + "HHI", chunk, off + 8)
        iface = Interface(linktype=linktype, snaplen=snaplen)
        for code, value in self._options(chunk, off + 16, off + blen - 4):
            if code == OPT_TSRESOL and len(value) >= 1:
                iface.tsresol = value[0]
            elif code == OPT_TSOFFSET and len(value) >= 8:
                iface.tsoffset_s = struct.unpack_from(self.byteorder + "q", value)[0]
        problem = iface.usable()
        if problem:
            self._fail(f"interface description block: {problem}", base_offset + off)
            return
        self.interfaces.append(iface)

    def _options(self, chunk: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
        options = []
        pos = start
        while pos + 4 <= end:
            code, length = struct.unpack_from(self.byteorder + "HH", chunk, pos)
            if code == 0:
                break
            options.append((code, bytes(chunk[pos + 4 : min(pos + 4 + length, end)])))
            pos += 4 + ((length + 3) & ~3)
        return options

    def _slow_record(
        self, chunk: bytes, off: int, btype: int, blen: int, base_offset: int
    ) -> tuple[int, int, int, int, int, int] | None:
        """(data_off, iface, ts_raw, caplen, wirelen, block offset) of an SPB or OPB."""
        if btype == SPB:
            if blen < 16 or not self.interfaces:
                self._fail("corrupt simple packet block", base_offset + off)
                return None
            wirelen = struct.unpack_from(self.byteorder + "I", chunk, off + 8)[0]
            snap = self.interfaces[0].snaplen or MAX_BLOCK_LEN
            caplen = min(wirelen, blen - 16, snap)
            return off + 12, 0, self.last_ts_raw, caplen, wirelen, off
        if blen < 32:
            self._fail("corrupt packet block", base_offset + off)
            return None
        iface, _, hi, lo, caplen, wirelen = struct.unpack_from(
            self.byteorder + "HHIIII", chunk, off + 8
        )
        if iface >= len(self.interfaces) or caplen > blen - 32:
            self._fail("corrupt packet block: bad interface or length", base_offset + off)
            return None
        self.last_ts_raw = _signed64((hi << 32) | lo)
        return off + 28, iface, self.last_ts_raw, caplen, wirelen, off

    def _segment(self, buf: np.ndarray, epb: list[int], slow: list, base_offset: int
                 ) -> RecordBatch:
        """The records of one section's run of blocks, in file order, cut before the first
        block that is corrupt or whose time does not fit (``pending_error`` says which)."""
        offs = np.asarray(epb, dtype=np.int64)
        fields = words(buf, offs + 8, 5, self.byteorder)
        blen = words(buf, offs + 4, 1, self.byteorder)[:, 0]
        # data_off, interface, raw time (uint64 bits), caplen, wirelen, block offset
        cols = np.stack([offs + 28, fields[:, 0], (fields[:, 1] << 32) | fields[:, 2],
                         fields[:, 3], fields[:, 4], offs], axis=1)
        bad = (fields[:, 0] >= len(self.interfaces)) | (fields[:, 3] > blen - 32)
        if slow:
            cols = np.concatenate([cols, np.asarray(slow, dtype=np.int64).reshape(-1, 6)])
            bad = np.concatenate([bad, np.zeros(len(slow), dtype=bool)])
            order = np.argsort(cols[:, 5], kind="stable")
            cols, bad = cols[order], bad[order]
        cols = self._cut(cols, bad, "corrupt enhanced packet block: bad interface or length",
                         base_offset)
        ts_ns, linktype, fits = self._times(cols[:, 1], cols[:, 2])
        keep = len(self._cut(cols, ~fits, "packet timestamp out of range for its interface",
                             base_offset))
        if keep:
            self.last_ts_raw = int(cols[keep - 1, 2])
        return RecordBatch(buf=buf, data_off=cols[:keep, 0], caplen=cols[:keep, 3],
                           wirelen=np.maximum(cols[:keep, 4], cols[:keep, 3]),
                           ts_ns=ts_ns[:keep], linktype=linktype[:keep],
                           file_offset=cols[:keep, 5] + base_offset)

    def _cut(self, cols: np.ndarray, bad: np.ndarray, reason: str, base_offset: int
             ) -> np.ndarray:
        if not bad.any():
            return cols
        first = int(np.argmax(bad))
        self._fail(reason, base_offset + int(cols[first, 5]))
        return cols[:first]

    def _times(self, iface: np.ndarray, raw_ts: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nanoseconds, link type, whether the time fits) per record, by its interface."""
        ts_ns = np.zeros(len(iface), dtype=np.int64)
        linktype = np.zeros(len(iface), dtype=np.int32)
        fits = np.ones(len(iface), dtype=bool)
        for index, interface in enumerate(self.interfaces):
            mine = iface == index
            if mine.any():
                ts_ns[mine], fits[mine] = interface.to_ns(raw_ts[mine])
                linktype[mine] = interface.linktype
        return ts_ns, linktype, fits


def _signed64(value: int) -> int:
    """A uint64 as the int64 with the same bits (how the columns hold raw times)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _concat(buf: np.ndarray, segments: list[RecordBatch]) -> RecordBatch:
    """Segments over the same buffer, already in file order, as one batch."""
    if len(segments) == 1:
        return segments[0]
    return RecordBatch(buf=buf, **{
        name: np.concatenate([getattr(segment, name) for segment in segments])
        for name in ("data_off", "caplen", "wirelen", "ts_ns", "linktype", "file_offset")})
