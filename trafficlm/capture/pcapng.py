"""pcapng files: several sections and interfaces, EPB/SPB/OPB packet blocks.

Each interface has its own link type and timestamp resolution. Enhanced
Packet Blocks (nearly every packet in practice) are decoded for a whole chunk
at once; the rare Simple and obsolete Packet Blocks go through a small Python
path. Framing stops at a new Section Header so one batch never mixes byte
orders or interface tables.
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


@dataclass
class Interface:
    linktype: int
    snaplen: int
    tsresol: int = 0x06  # the pcapng default: microseconds
    tsoffset_s: int = 0

    def to_ns(self, raw: np.ndarray) -> np.ndarray:
        """Timestamps in this interface's units -> int64 nanoseconds since the epoch."""
        raw = raw.astype(np.int64)
        if self.tsresol & 0x80:
            shift = self.tsresol & 0x7F
            seconds = raw >> shift
            frac = (raw & ((1 << shift) - 1)).astype(np.float64) / float(1 << shift)
            ns = seconds * 1_000_000_000 + np.round(frac * 1e9).astype(np.int64)
        elif self.tsresol <= 9:
            ns = raw * 10 ** (9 - self.tsresol)
        else:
            ns = raw // 10 ** (self.tsresol - 9)
        return ns + self.tsoffset_s * 1_000_000_000


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
        epb: list[int] = []
        slow: list[tuple[int, int, int, int, int, int]] = []
        off = 0
        end = len(chunk)
        while off + 12 <= end:
            btype = struct.unpack_from(self.byteorder + "I", chunk, off)[0]
            if btype == SHB:
                if epb or slow:
                    break  # a new section starts a new batch
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
            if self.pending_error is not None:
                break
            off += blen
        batch = self._epb_batch(chunk, np.asarray(epb, dtype=np.int64), base_offset)
        if slow:
            batch = _merge(batch, self._slow_batch(batch.buf, slow, base_offset))
        return batch, off

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
        self.last_ts_raw = (hi << 32) | lo
        return off + 28, iface, self.last_ts_raw, caplen, wirelen, off

    def _epb_batch(self, chunk: bytes, offs: np.ndarray, base_offset: int) -> RecordBatch:
        buf = np.frombuffer(chunk, dtype=np.uint8)
        fields = words(buf, offs + 8, 5, self.byteorder)
        iface, caplen = fields[:, 0], fields[:, 3]
        blen = words(buf, offs + 4, 1, self.byteorder)[:, 0]
        bad = (iface >= len(self.interfaces)) | (caplen > blen - 32)
        if bad.any():
            first = int(np.argmax(bad))
            self._fail("corrupt enhanced packet block: bad interface or length",
                       base_offset + int(offs[first]))
            offs, fields, iface = offs[:first], fields[:first], iface[:first]
        raw_ts = (fields[:, 1] << 32) | fields[:, 2]
        if len(raw_ts):
            self.last_ts_raw = int(raw_ts[-1])
        return self._records(buf, offs + 28, iface, raw_ts, fields[:, 3], fields[:, 4], offs,
                             base_offset)

    def _slow_batch(self, buf: np.ndarray, slow: list, base_offset: int) -> RecordBatch:
        cols = np.asarray(slow, dtype=np.int64).reshape(-1, 6)
        return self._records(buf, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], cols[:, 4],
                             cols[:, 5], base_offset)

    def _records(self, buf, data_off, iface, raw_ts, caplen, wirelen, block_off, base_offset):
        ts_ns = np.zeros(len(data_off), dtype=np.int64)
        linktype = np.zeros(len(data_off), dtype=np.int32)
        for index, interface in enumerate(self.interfaces):
            mine = iface == index
            if mine.any():
                ts_ns[mine] = interface.to_ns(raw_ts[mine])
                linktype[mine] = interface.linktype
        return RecordBatch(
            buf=buf,
            data_off=data_off,
            caplen=caplen,
            wirelen=np.maximum(wirelen, caplen),
            ts_ns=ts_ns,
            linktype=linktype,
            file_offset=block_off + base_offset,
        )


def _merge(a: RecordBatch, b: RecordBatch) -> RecordBatch:
    """Two batches over the same buffer, as one in file order."""
    order = np.argsort(np.concatenate([a.file_offset, b.file_offset]), kind="stable")
    return RecordBatch(
        buf=a.buf,
        **{
            name: np.concatenate([getattr(a, name), getattr(b, name)])[order]
            for name in ("data_off", "caplen", "wirelen", "ts_ns", "linktype", "file_offset")
        },
    )
