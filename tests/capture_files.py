"""Writers for pcap and pcapng files in every variant the reader must accept.

Tests build captures from real packets (scapy-crafted or read from the
corpus) and write them byte by byte in the variant under test.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

PCAP_MAGIC_US, PCAP_MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D


@dataclass
class Frame:
    ts_ns: int
    data: bytes
    linktype: int = 1
    wirelen: int | None = None


def write_pcap(path: Path, frames: list[Frame], *, nanoseconds: bool = False,
               big_endian: bool = False, linktype: int = 1, compress: bool = False) -> Path:
    order = ">" if big_endian else "<"
    out = [struct.pack(order + "IHHiIII", PCAP_MAGIC_NS if nanoseconds else PCAP_MAGIC_US,
                       2, 4, 0, 0, 262144, linktype)]
    for frame in frames:
        seconds, rest = divmod(frame.ts_ns, 1_000_000_000)
        frac = rest if nanoseconds else rest // 1000
        wire = frame.wirelen or len(frame.data)
        out.append(struct.pack(order + "IIII", seconds, frac, len(frame.data), wire))
        out.append(frame.data)
    data = b"".join(out)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_section(frames: list[Frame], *, big_endian: bool = False,
                   tsresol: int | None = None, block: str = "epb") -> bytes:
    """One pcapng section: an interface per link type used, then the packets.

    ``tsresol`` is the if_tsresol byte (None: the default microseconds);
    ``block`` is "epb", "spb" (one interface only, no timestamps) or "opb".
    """
    order = ">" if big_endian else "<"
    out = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    interfaces: dict[int, int] = {}
    for frame in frames:
        if frame.linktype not in interfaces:
            interfaces[frame.linktype] = len(interfaces)
            options = b""
            if tsresol is not None:
                options = _option(order, 9, bytes([tsresol])) + _option(order, 0, b"")
            out.append(_block(order, 1, struct.pack(order + "HHI", frame.linktype, 0, 262144)
                              + options))
    for frame in frames:
        iface = interfaces[frame.linktype]
        raw = _ticks(frame.ts_ns, tsresol)
        wire = frame.wirelen or len(frame.data)
        if block == "spb":
            out.append(_block(order, 3, struct.pack(order + "I", wire) + frame.data))
        elif block == "opb":
            out.append(_block(order, 2, struct.pack(order + "HHIIII", iface, 0, raw >> 32,
                                                    raw & 0xFFFFFFFF, len(frame.data), wire)
                              + frame.data))
        else:
            out.append(_block(order, 6, struct.pack(order + "IIIII", iface, raw >> 32,
                                                    raw & 0xFFFFFFFF, len(frame.data), wire)
                              + frame.data))
    return b"".join(out)


def _ticks(ts_ns: int, tsresol: int | None) -> int:
    if tsresol is None:
        return ts_ns // 1000
    if tsresol & 0x80:
        return (ts_ns << (tsresol & 0x7F)) // 1_000_000_000
    return ts_ns // 10 ** (9 - tsresol)


def write_pcapng(path: Path, sections: list[bytes], compress: bool = False) -> Path:
    data = b"".join(sections)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def ether(**fields):
    """An Ethernet header with fixed local MACs.

    Scapy resolves a missing destination MAC with a live ARP request; tests
    must never send traffic, so every frame gets explicit addresses.
    """
    from scapy.layers.l2 import Ether

    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)
