"""Live capture from a network interface: an AF_PACKET socket with a TPACKET_V3 ring.

The kernel fills fixed-size blocks of a memory-mapped ring and hands them over
whole (when full, or after ``block_timeout_ms``), so one wake-up brings a
batch of frames with kernel timestamps and no system call per packet. Each
block becomes one :class:`RecordBatch`, the same container the capture-file
readers produce, so everything downstream is shared with offline triage.
The ring's size is fixed at start: memory never grows with the traffic, and
what the kernel could not fit is counted by it (``PACKET_STATISTICS``).
"""

from __future__ import annotations

import errno
import mmap
import os
import select
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from trafficlm.capture import linktype as lt
from trafficlm.capture.batch import RecordBatch
from trafficlm.errors import TrafficLMError
from trafficlm.live.bpf import attach_filter

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_IGNORE_OUTGOING = 23
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
TP_STATUS_USER = 1
BLOCK_STATUS_AT = 8  # tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1
BLOCK_HEADER = struct.Struct("=IIII")  # block_status, num_pkts, offset_to_first_pkt, blk_len
FRAME_HEADER = struct.Struct("=IIIIIIHH")  # next, sec, nsec, snaplen, len, status, mac, net
# ARPHRD_* hardware type -> the link type our decoder reads
HARDWARE_LINKTYPES = {1: lt.ETHERNET, 772: lt.ETHERNET, 65534: 101}
ARPHRD_LOOPBACK = 772


class LiveCaptureError(TrafficLMError):
    """The interface cannot be captured from, said in one line."""


@dataclass(frozen=True)
class RingConfig:
    block_kib: int = 1024  # a block is one batch; a power of two times the page size
    blocks: int = 32  # ring = blocks * block_kib
    block_timeout_ms: int = 50  # a partly filled block is handed over after this long
    promiscuous: bool = True


@dataclass
class KernelCounters:
    """What the kernel reports for the socket, summed since it opened."""

    packets: int = 0  # frames that passed the filter (including the dropped ones)
    drops: int = 0  # frames the ring had no room for
    errors: Counter = field(default_factory=Counter)  # socket errors by errno name


class RingCapture:
    """An open TPACKET_V3 ring on one interface; ``next_batch`` waits for the next block."""

    def __init__(self, iface: str, bpf: str = "", config: RingConfig | None = None) -> None:
        self.iface = iface
        self.config = config or RingConfig()
        self.hardware = _hardware_type(iface)
        self.linktype = HARDWARE_LINKTYPES.get(self.hardware, -1)
        self.counters = KernelCounters()
        self._sock = _open_socket(iface)
        try:
            self._configure(bpf)
        except BaseException:
            self._sock.close()
            raise
        self._block = 0

    def _configure(self, bpf: str) -> None:
        sock, cfg = self._sock, self.config
        if bpf:
            attach_filter(sock, bpf, self.linktype, self.iface)
        if self.hardware == ARPHRD_LOOPBACK:  # each loopback packet is seen going out and in
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        if cfg.promiscuous:
            index = socket.if_nametoindex(self.iface)
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                            struct.pack("=iHH8s", index, PACKET_MR_PROMISC, 0, b""))
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        self.block_size = cfg.block_kib * 1024
        request = struct.pack("=IIIIIII", self.block_size, cfg.blocks, 2048,
                              self.block_size // 2048 * cfg.blocks, cfg.block_timeout_ms, 0, 0)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
        self._ring = mmap.mmap(sock.fileno(), self.block_size * cfg.blocks,
                               mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN | select.POLLERR)

    def next_batch(self, timeout_ms: int = 200) -> RecordBatch | None:
        """The next filled block as records, or None if none came within ``timeout_ms``."""
        base = self._block * self.block_size
        status, count, first, length = BLOCK_HEADER.unpack_from(self._ring,
                                                                base + BLOCK_STATUS_AT)
        if not status & TP_STATUS_USER:
            events = self._poll.poll(timeout_ms)
            if any(event & select.POLLERR for _, event in events):
                self._take_socket_error(timeout_ms)
            status, count, first, length = BLOCK_HEADER.unpack_from(self._ring,
                                                                    base + BLOCK_STATUS_AT)
            if not status & TP_STATUS_USER:
                return None
        block = np.frombuffer(self._ring, np.uint8, length, base).copy()
        self._ring[base + BLOCK_STATUS_AT: base + BLOCK_STATUS_AT + 4] = b"\0\0\0\0"
        self._block = (self._block + 1) % self.config.blocks
        return self._records(block, count, first)

    def _take_socket_error(self, timeout_ms: int) -> None:
        """A link that went down leaves ENETDOWN pending on the socket, and poll() then
        returns at once until it is read: read it (which clears it), count it, and wait
        out the timeout so a flapping link never turns the loop into a busy spin."""
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.counters.errors[errno.errorcode.get(code, str(code))] += 1
        time.sleep(timeout_ms / 1000)

    def _records(self, block: np.ndarray, count: int, first: int) -> RecordBatch:
        """Walk the block's frame headers (one small unpack per frame) into columns."""
        raw = block.data
        offsets = np.empty(count, np.int64)
        fields = np.empty((count, 5), np.int64)  # sec, nsec, snaplen, len, mac
        at = first
        for i in range(count):
            following, sec, nsec, snaplen, wirelen, _, mac, _ = FRAME_HEADER.unpack_from(raw, at)
            offsets[i] = at
            fields[i] = (sec, nsec, snaplen, wirelen, mac)
            at += following
        return RecordBatch(
            buf=block, data_off=offsets + fields[:, 4], caplen=fields[:, 2],
            wirelen=fields[:, 3], ts_ns=fields[:, 0] * 1_000_000_000 + fields[:, 1],
            linktype=np.full(count, self.linktype, np.int32), file_offset=offsets)

    def read_counters(self) -> KernelCounters:
        """Add the kernel's counts since the last call (reading them resets them)."""
        packets, drops, _ = struct.unpack(
            "=III", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
        self.counters.packets += packets
        self.counters.drops += drops
        return self.counters

    def close(self) -> None:
        self._ring.close()
        self._sock.close()


def _hardware_type(iface: str) -> int:
    """The interface's ARPHRD type; a missing or down interface is an error now."""
    sysfs = f"/sys/class/net/{iface}"
    if not iface or "/" in iface or not os.path.isdir(sysfs):
        raise LiveCaptureError(f"{iface}: no such network interface")
    with open(f"{sysfs}/flags", encoding="ascii") as f:
        if not int(f.read(), 16) & 0x1:  # IFF_UP
            raise LiveCaptureError(f"{iface}: interface is down (ip link set {iface} up)")
    with open(f"{sysfs}/type", encoding="ascii") as f:
        hardware = int(f.read())
    if hardware not in HARDWARE_LINKTYPES:
        raise LiveCaptureError(f"{iface}: hardware type {hardware} is not one we decode "
                               "(Ethernet, loopback or raw IP)")
    return hardware


def _open_socket(iface: str) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise LiveCaptureError(f"{iface}: capturing needs the CAP_NET_RAW capability "
                               "(run as root, or setcap cap_net_raw+ep on the Python "
                               "interpreter)") from None
    try:
        sock.bind((iface, ETH_P_ALL))
    except OSError as err:
        sock.close()
        raise LiveCaptureError(f"{iface}: cannot bind a capture socket: "
                               f"{err.strerror or err}") from None
    return sock
