"""Classic libpcap files: microsecond and nanosecond, both byte orders.

The only sequential work is following record lengths from one record to the
next; that loop touches one integer per record and everything else is read
for all records at once with numpy.
"""

from __future__ import annotations

import struct

import numpy as np

from trafficlm.capture.batch import RecordBatch
from trafficlm.capture.gather import words
from trafficlm.errors import CaptureError

GLOBAL_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
# Wireshark refuses records above 256 KiB as corrupt; so do we.
MAX_RECORD_LEN = 262_144

# magic bytes as they appear in the file -> (struct byte order, ns per tick)
MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


class PcapFramer:
    """Turns successive chunks of a pcap file into RecordBatches."""

    def __init__(self, path: str, header: bytes) -> None:
        self.path = path
        if len(header) < GLOBAL_HEADER_LEN:
            raise CaptureError(path, "pcap global header is cut short", 0)
        self.byteorder, self.tick_ns = MAGICS[header[:4]]
        self.snaplen, network = struct.unpack_from(self.byteorder + "II", header, 16)
        # the upper 16 bits may carry FCS information (LINKTYPE_* spec)
        self.linktype = network & 0xFFFF
        self._caplen = struct.Struct(self.byteorder + "I")
        self.pending_error: CaptureError | None = None

    @property
    def header_len(self) -> int:
        return GLOBAL_HEADER_LEN

    def frame(self, chunk: bytes, base_offset: int) -> tuple[RecordBatch, int]:
        """Frame the whole records in ``chunk``; return them and the bytes consumed.

        A corrupt record length stops framing there: the records before it are
        returned and ``pending_error`` says where it broke.
        """
        offsets, consumed = self._walk(chunk, base_offset)
        buf = np.frombuffer(chunk, dtype=np.uint8)
        offs = np.asarray(offsets, dtype=np.int64)
        hdr = words(buf, offs, 4, self.byteorder)
        ts_ns = hdr[:, 0] * 1_000_000_000 + hdr[:, 1] * self.tick_ns
        batch = RecordBatch(
            buf=buf,
            data_off=offs + RECORD_HEADER_LEN,
            caplen=hdr[:, 2],
            wirelen=np.maximum(hdr[:, 3], hdr[:, 2]),
            ts_ns=ts_ns,
            linktype=np.full(len(offs), self.linktype, dtype=np.int32),
            file_offset=offs + base_offset,
        )
        return batch, consumed

    def _walk(self, chunk: bytes, base_offset: int) -> tuple[list[int], int]:
        offsets: list[int] = []
        append = offsets.append
        unpack = self._caplen.unpack_from
        end = len(chunk)
        off = 0
        while off + RECORD_HEADER_LEN <= end:
            caplen = unpack(chunk, off + 8)[0]
            if caplen > MAX_RECORD_LEN:
                self.pending_error = CaptureError(
                    self.path,
                    f"corrupt record: captured length {caplen} exceeds {MAX_RECORD_LEN}",
                    base_offset + off,
                )
                break
            nxt = off + RECORD_HEADER_LEN + caplen
            if nxt > end:
                break
            append(off)
            off = nxt
        return offsets, off
