"""Decoded header fields match scapy's dissection, under every supported link layer."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q
from scapy.layers.ppp import PPP, PPPoE

from trafficlm.capture import CaptureReport, PacketStatus, TcpOption, read_packets
from trafficlm.flows.frame import addresses

from capture_files import Frame, ether, write_pcap

T0 = 1_700_000_000 * 10**9


def decode_frames(tmp_path, frames: list[bytes], linktype: int):
    path = write_pcap(tmp_path / "t.pcap",
                      [Frame(T0 + i * 1000, f) for i, f in enumerate(frames)], linktype=linktype)
    report = CaptureReport(str(path))
    batches = list(read_packets(str(path), report))
    assert len(batches) == 1
    return batches[0], report


IPV4_TCP = IP(src="10.0.0.1", dst="10.0.0.2", ttl=61, options=[IPOption_Router_Alert()]) / TCP(
    sport=40000, dport=443, flags="S", window=29200,
    options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
             ("WScale", 7)]) / b"hello"
IPV6_UDP = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64) / IPv6ExtHdrHopByHop() / \
    IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(sport=5353, dport=53) / (b"q" * 30)

WRAPPERS = {
    "ethernet": (1, lambda ip, v: bytes(ether(type=0x800 if v == 4 else 0x86DD) / ip)),
    "802.1q": (1, lambda ip, v: bytes(ether() / Dot1Q(vlan=5) / ip)),
    "qinq": (1, lambda ip, v: bytes(ether() / Dot1AD(vlan=7) / Dot1Q(vlan=5) / ip)),
    "pppoe": (1, lambda ip, v: bytes(ether() / PPPoE(sessionid=3) / PPP(proto=0x21 if v == 4
                                                                      else 0x57) / ip)),
    "linux_sll": (113, lambda ip, v: struct.pack(">HHH8sH", 0, 1, 6, b"\0" * 8,
                                                  0x800 if v == 4 else 0x86DD) + bytes(ip)),
    "linux_sll2": (276, lambda ip, v: struct.pack(">HHIHBB8s", 0x800 if v == 4 else 0x86DD, 0,
                                                   1, 1, 0, 6, b"\0" * 8) + bytes(ip)),
    "null_le": (0, lambda ip, v: struct.pack("<I", 2 if v == 4 else 30) + bytes(ip)),
    "null_be": (0, lambda ip, v: struct.pack(">I", 2 if v == 4 else 24) + bytes(ip)),
    "loop": (108, lambda ip, v: struct.pack(">I", 2 if v == 4 else 28) + bytes(ip)),
    "raw101": (101, lambda ip, v: bytes(ip)),
    "raw12": (12, lambda ip, v: bytes(ip)),
    "raw14": (14, lambda ip, v: bytes(ip)),
    "ipv4_or_6": (None, lambda ip, v: bytes(ip)),
    "ppp": (9, lambda ip, v: b"\xff\x03" + struct.pack(">H", 0x21 if v == 4 else 0x57) + bytes(ip)),
    "ppp_compressed": (9, lambda ip, v: bytes([0x21 if v == 4 else 0x57]) + bytes(ip)),
    "ppp_hdlc": (50, lambda ip, v: b"\xff\x03" + struct.pack(">H", 0x21 if v == 4 else 0x57)
                 + bytes(ip)),
}


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("packet", [IPV4_TCP, IPV6_UDP], ids=["ipv4-tcp", "ipv6-udp"])
def test_fields_match_scapy_under_every_link_type(tmp_path, wrapper, packet):
    version = packet.version
    linktype, wrap = WRAPPERS[wrapper]
    if linktype is None:
        linktype = 228 if version == 4 else 229
    batch, _ = decode_frames(tmp_path, [wrap(packet, version)], linktype)
    assert batch.status.tolist() == [PacketStatus.OK]
    assert addresses(batch.src_hi, batch.src_lo).to_list() == [packet.src]
    assert addresses(batch.dst_hi, batch.dst_lo).to_list() == [packet.dst]
    l4 = packet[TCP] if version == 4 else packet[UDP]
    assert (batch.sport[0], batch.dport[0]) == (l4.sport, l4.dport)
    assert batch.proto[0] == (6 if version == 4 else 17)
    assert batch.ttl[0] == (packet.ttl if version == 4 else packet.hlim)
    assert batch.ip_len[0] == len(packet)
    payload = bytes(l4.payload)
    start = int(batch.payload_off[0])
    assert batch.buf[start : start + batch.payload_cap[0]].tobytes() == payload
    assert batch.payload_len[0] == len(payload)
    if version == 4:
        assert batch.tcp_flags[0] == int(l4.flags)
        assert batch.tcp_window[0] == l4.window
        assert TcpOption(int(batch.tcp_options[0])) == (
            TcpOption.MSS | TcpOption.SACK_PERMITTED | TcpOption.TIMESTAMP
            | TcpOption.WINDOW_SCALE)


def test_icmp_and_other_protocols(tmp_path):
    frames = [bytes(ether() / IP(src="1.1.1.1", dst="2.2.2.2") / ICMP(type=8, code=0) / b"ping"),
              bytes(ether() / IPv6(src="::1", dst="::2") / ICMPv6EchoRequest()),
              bytes(ether() / IP(src="1.1.1.1", dst="2.2.2.2") / GRE() / (b"x" * 8))]
    batch, _ = decode_frames(tmp_path, frames, 1)
    assert batch.status.tolist() == [PacketStatus.OK] * 3
    assert batch.proto.tolist() == [1, 58, 47]
    assert batch.icmp_type.tolist() == [8, 128, -1]
    assert batch.sport.tolist() == [0, 0, 0]


def test_non_ip_and_cut_headers_are_counted_not_fatal(tmp_path):
    arp = bytes.fromhex("ffffffffffff0000000000010806") + b"\0" * 28
    cut_ipv4 = bytes(ether() / IP(dst="10.0.0.9") / TCP())[:14 + 12]
    bad_ihl = bytearray(bytes(ether() / IP(dst="10.0.0.9") / UDP()))
    bad_ihl[14] = 0x42  # IHL of 2 words
    cut_tcp = bytes(ether() / IP(dst="10.0.0.9") / TCP())[:14 + 20 + 10]
    batch, report = decode_frames(tmp_path, [arp, cut_ipv4, bytes(bad_ihl), cut_tcp], 1)
    assert batch.status.tolist() == [PacketStatus.NON_IP] + [PacketStatus.MALFORMED] * 3
    assert report.status_counts["malformed"] == 3
    assert report.status_counts["non_ip"] == 1


def test_unsupported_link_type_is_reported_by_name(tmp_path):
    _, report = decode_frames(tmp_path, [b"\0" * 40, b"\0" * 40], 127)
    assert report.unsupported_linktypes == {"127 (IEEE802_11_RADIOTAP)": 2}
    assert report.skipped_input


@pytest.mark.parametrize("version", [4, 6])
def test_later_fragments_take_the_first_fragments_ports(tmp_path, version):
    if version == 4:
        whole = IP(src="10.1.1.1", dst="10.1.1.2", id=777) / UDP(sport=1111, dport=2222) / (
            b"A" * 3000)
        pieces = fragment(whole, fragsize=1000)
    else:
        whole = IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(id=99) / UDP(
            sport=1111, dport=2222) / (b"A" * 3000)
        pieces = fragment6(whole, 1280)
    assert len(pieces) >= 3
    batch, report = decode_frames(tmp_path, [bytes(ether() / p) for p in pieces], 1)
    assert batch.sport.tolist() == [1111] * len(pieces)
    assert batch.dport.tolist() == [2222] * len(pieces)
    assert (batch.frag_offset[1:] > 0).all() and batch.frag_offset[0] == 0
    assert report.fragments_orphaned == 0


def test_orphan_fragments_are_counted(tmp_path):
    whole = IP(src="10.1.1.1", dst="10.1.1.2", id=5) / UDP(sport=1, dport=2) / (b"B" * 3000)
    later = fragment(whole, fragsize=1000)[1:]
    batch, report = decode_frames(tmp_path, [bytes(ether() / p) for p in later], 1)
    assert report.fragments_orphaned == len(later)
    assert np.all(batch.sport == 0)
