"""Delay, jitter, reordering and loss for one host's outgoing packets, in user space.

The kernels this testbed runs on may lack ``sch_netem`` (this project's CI
machine has no netem, fq or codel), so the wide profile does what netem does
with parts every kernel here has: an iptables rule queues each packet the host
sends out of ``eth0`` to NFQUEUE, and this process gives each one its verdict
after the drawn delay. Packets keep their order unless the reorder draw lets
one go at once (it overtakes those still held, as netem's ``reorder`` does);
a lost packet gets a DROP verdict before it reaches the wire, so the capture
sees what a tap behind a lossy link sees. The queue is bound with
``fail-open``, and the iptables rule with ``--queue-bypass``: when this
process is gone or its queue is full, packets pass undelayed instead of
vanishing. It exits by itself after ``--lifetime`` seconds.

It speaks the nfnetlink queue protocol directly (``NETLINK_NETFILTER``), so it
needs no C extension: ``python -m trafficlm.training.testbed.impairment
--queue N --delay-ms D --jitter-ms J --loss P --reorder R --seed S --lifetime T``.
"""

from __future__ import annotations

import argparse
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN, CFG_MASK, CFG_FLAGS = 1, 2, 3, 4, 5
CMD_BIND = 1
COPY_META = 1
FLAG_FAIL_OPEN = 1
ATTR_PACKET_HDR, ATTR_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
QUEUE_MAXLEN = 8192  # packets held at most; beyond it the kernel lets them pass (fail-open)


@dataclass(frozen=True)
class Impairment:
    """What one host's link does to the packets it sends."""

    delay_ms: float
    jitter_ms: float
    loss: float  # probability, 0..1
    reorder: float  # probability that a packet skips the queue


def _attribute(kind: int, data: bytes) -> bytes:
    body = struct.pack("=HH", 4 + len(data), kind) + data
    return body + b"\0" * (-len(body) % 4)


def _message(kind: int, queue: int, attributes: bytes, flags: int, seq: int) -> bytes:
    payload = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + attributes
    return struct.pack("=IHHII", 16 + len(payload), (NFNL_SUBSYS_QUEUE << 8) | kind,
                       flags, seq, 0) + payload


class QueueSocket:
    """One bound nfnetlink queue: packet ids in, verdicts out."""

    def __init__(self, queue: int) -> None:
        self.queue = queue
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self.seq = 0
        self._configure(_attribute(CFG_CMD, struct.pack("!BBH", CMD_BIND, 0, socket.AF_INET)))
        self._configure(_attribute(CFG_PARAMS, struct.pack("!IB", 0, COPY_META)))
        self._configure(_attribute(CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN)))
        self._configure(_attribute(CFG_FLAGS, struct.pack("!I", FLAG_FAIL_OPEN))
                        + _attribute(CFG_MASK, struct.pack("!I", FLAG_FAIL_OPEN)))

    def _configure(self, attributes: bytes) -> None:
        """Send one config message and wait for the kernel's acknowledgement."""
        self.seq += 1
        self.sock.send(_message(MSG_CONFIG, self.queue, attributes,
                                NLM_F_REQUEST | NLM_F_ACK, self.seq))
        reply = self.sock.recv(65536)
        _, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", reply, 16)
            if error:
                raise OSError(-error, f"nfqueue {self.queue}: configuration refused")

    def packet_ids(self) -> list[int]:
        """The ids of the packets in one read from the socket."""
        data = self.sock.recv(1 << 20)
        ids, offset = [], 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET:
                packet_id = _packet_id(data[offset + 20:offset + length])
                if packet_id is not None:
                    ids.append(packet_id)
            offset += (length + 3) & ~3
        return ids

    def verdict(self, packet_id: int, verdict: int) -> None:
        self.seq += 1
        self.sock.send(_message(MSG_VERDICT, self.queue, _attribute(
            ATTR_VERDICT_HDR, struct.pack("!II", verdict, packet_id)), NLM_F_REQUEST, self.seq))


def _packet_id(attributes: bytes) -> int | None:
    offset = 0
    while offset + 4 <= len(attributes):
        length, kind = struct.unpack_from("=HH", attributes, offset)
        if length < 4:
            return None
        if kind & 0x3FFF == ATTR_PACKET_HDR:
            return struct.unpack_from("!I", attributes, offset + 4)[0]
        offset += (length + 3) & ~3
    return None


class DelayLine:
    """Release times for packets, in order unless a reorder draw lets one jump ahead."""

    def __init__(self, impairment: Impairment, rng: random.Random) -> None:
        self.impairment, self.rng = impairment, rng
        self.held: list[tuple[float, int, int]] = []
        self.last_release = 0.0
        self.count = 0

    def admit(self, packet_id: int, now: float) -> int | None:
        """Hold a packet; NF_DROP when the loss draw says so (the caller drops it now)."""
        imp = self.impairment
        if self.rng.random() < imp.loss:
            return NF_DROP
        if self.rng.random() < imp.reorder:
            release = now
        else:
            delay = max(0.0, self.rng.gauss(imp.delay_ms, imp.jitter_ms)) / 1000.0
            release = max(now + delay, self.last_release)
            self.last_release = release
        self.count += 1
        heapq.heappush(self.held, (release, self.count, packet_id))
        return None

    def due(self, now: float) -> list[int]:
        ready = []
        while self.held and self.held[0][0] <= now:
            ready.append(heapq.heappop(self.held)[2])
        return ready

    def wait(self, now: float) -> float:
        return max(0.0, self.held[0][0] - now) if self.held else 0.5


def serve(queue: QueueSocket, line: DelayLine, lifetime: float) -> None:
    """Hold and release packets until the lifetime is up; then release what is held."""
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        now = time.monotonic()
        readable, _, _ = select.select([queue.sock], [], [], min(line.wait(now), end - now))
        now = time.monotonic()
        if readable:
            for packet_id in queue.packet_ids():
                if line.admit(packet_id, now) == NF_DROP:
                    queue.verdict(packet_id, NF_DROP)
        for packet_id in line.due(time.monotonic()):
            queue.verdict(packet_id, NF_ACCEPT)
    for packet_id in line.due(float("inf")):
        queue.verdict(packet_id, NF_ACCEPT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lifetime", type=float, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    queue = QueueSocket(args.queue)
    print(f"impairment: queue {args.queue} bound", flush=True)
    line = DelayLine(Impairment(args.delay_ms, args.jitter_ms, args.loss, args.reorder),
                     random.Random(args.seed))
    serve(queue, line, args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
