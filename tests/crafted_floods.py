"""Attack captures built in the test, packet by packet but columnar: a spoofed-source SYN
flood and a one-port sweep of a /24.

Spoofed sources come from 198.18.0.0/15 (RFC 2544's benchmarking range, the one
the testbed owns); victims and scanners from 10.203.0.0/24, the testbed's own
net. The bytes go only into a file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

ETHERNET = bytes.fromhex("020000000001" "020000000002" "0800")
SYN = 0x02
BENCHMARK_NET = 0xC6120000  # 198.18.0.0/15
VICTIM, SCANNER = 0x0ACB000A, 0x0ACB0042  # 10.203.0.10, 10.203.0.66


def tcp_frames(src: np.ndarray, dst: np.ndarray, sport: np.ndarray, dport: np.ndarray,
               flags: np.ndarray) -> np.ndarray:
    """Ethernet + IPv4 + TCP (20-byte headers, no payload) frames, one row each."""
    n = len(src)
    ip = np.zeros((n, 20), np.uint8)
    ip[:, 0], ip[:, 3], ip[:, 8], ip[:, 9] = 0x45, 40, 64, 6
    ip[:, 12:16] = src.astype(">u4").view(np.uint8).reshape(n, 4)
    ip[:, 16:20] = dst.astype(">u4").view(np.uint8).reshape(n, 4)
    tcp = np.zeros((n, 20), np.uint8)
    tcp[:, 0:2] = sport.astype(">u2").view(np.uint8).reshape(n, 2)
    tcp[:, 2:4] = dport.astype(">u2").view(np.uint8).reshape(n, 2)
    tcp[:, 4:8] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)
    tcp[:, 12], tcp[:, 13], tcp[:, 14] = 0x50, flags, 0x20
    link = np.broadcast_to(np.frombuffer(ETHERNET, np.uint8), (n, 14))
    return np.hstack([link, ip, tcp])


def write_frames(path: Path, frames: np.ndarray, ts_ns: np.ndarray) -> Path:
    """A nanosecond pcap of equal-length frames, written in one piece."""
    n, size = frames.shape
    headers = np.zeros((n, 4), "<u4")
    headers[:, 0], headers[:, 1] = ts_ns // 1_000_000_000, ts_ns % 1_000_000_000
    headers[:, 2] = headers[:, 3] = size
    records = np.hstack([headers.view(np.uint8).reshape(n, 16), frames])
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
                     + records.tobytes())
    return path


def spoofed_syn_flood(path: Path, packets: int = 200_000, seconds: float = 20.0,
                      seed: int = 0) -> Path:
    """SYNs to port 80 of the victim from random benchmark-range sources and ports, none
    answered (the victim's backlog is full, as in the flood's steady state)."""
    rng = np.random.default_rng(seed)
    src = BENCHMARK_NET + rng.integers(0, 1 << 17, packets)
    sport = rng.integers(1024, 65536, packets)
    frames = tcp_frames(src, np.full(packets, VICTIM), sport, np.full(packets, 80),
                        np.full(packets, SYN))
    start = 1_700_000_000 * 1_000_000_000
    return write_frames(path, frames, start + np.sort(rng.integers(0, int(seconds * 1e9),
                                                                   packets)))


def host_sweep(path: Path, hosts: int = 256, port: int = 445, seed: int = 0) -> Path:
    """One scanner's SYN to one port of every address of 10.203.1.0/24, in random order,
    20 ms apart; none answers (most addresses of a swept net hold no host)."""
    rng = np.random.default_rng(seed)
    targets = 0x0ACB0100 + rng.permutation(hosts)
    frames = tcp_frames(np.full(hosts, SCANNER), targets, rng.integers(40000, 60000, hosts),
                        np.full(hosts, port), np.full(hosts, SYN))
    start = 1_700_000_000 * 1_000_000_000
    return write_frames(path, frames, start + np.arange(hosts, dtype=np.int64) * 20_000_000)
