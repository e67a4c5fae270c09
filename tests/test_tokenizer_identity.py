"""Identity fields never reach the model: rewriting them in real captures changes no token id.

Each capture is rewritten with scapy: IP addresses (a consistent bijection,
so flows stay flows), MAC addresses, the IPv4 id (a bijection, so fragments
still match), TCP sequence and acknowledgement numbers, every checksum, the
TCP timestamp option values, and all timestamps shifted by a constant.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter, rdpcap

from trafficlm.capture import CaptureReport, read_records
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TrafficTokenizer

from conftest import corpus_path

SUPPORTED = {"ethernet", "linux_sll", "bsd_null", "raw_ip", "raw_ip4", "ppp"}
MAX_PACKETS = 1500
WANTED = 60


def new_address(address: str, rng_key: int) -> str:
    ip = ipaddress.ip_address(address)
    bits = 32 if ip.version == 4 else 128
    mapped = (int(ip) * 0x9E3779B1 + rng_key) % (1 << bits)  # odd multiplier: a bijection
    return str(ipaddress.ip_address(mapped) if ip.version == 4 else ipaddress.IPv6Address(mapped))


def rewrite(packet, rng: random.Random) -> None:
    packet.time = packet.time + 86_400 * 365  # a year later
    if Ether in packet:
        packet[Ether].src = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        packet[Ether].dst = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
    network = packet.getlayer(IP) or packet.getlayer(IPv6)
    if network is None:
        return
    network.src, network.dst = new_address(network.src, 7), new_address(network.dst, 7)
    if isinstance(network, IP):
        network.id ^= 0x5A5A
        network.chksum = rng.randrange(1 << 16)
    transport = network.payload
    if isinstance(transport, TCP):
        transport.seq, transport.ack = rng.randrange(1 << 32), rng.randrange(1 << 32)
        transport.chksum = rng.randrange(1 << 16)
        transport.options = [("Timestamp", (rng.randrange(1 << 32), rng.randrange(1 << 32)))
                             if name == "Timestamp" else (name, value)
                             for name, value in transport.options]
    elif isinstance(transport, UDP | ICMP):
        transport.chksum = rng.randrange(1 << 16)
    elif hasattr(transport, "cksum"):
        transport.cksum = rng.randrange(1 << 16)


def scapy_rebuilds_exactly(packets) -> bool:
    """Only captures scapy re-serialises byte for byte can show that *only* identities changed."""
    return all(bytes(p.__class__(bytes(p))) == bytes(p) for p in packets)


def token_multiset(path: str) -> Counter:
    batches = list(capture_flows(path, CaptureReport(path)))
    if not batches:
        return Counter()
    flows = FlowBatch.concat(batches)
    encoded = TrafficTokenizer().encode(flows)
    return Counter(tuple(ids[:n]) for ids, n in zip(encoded.ids.tolist(), encoded.lengths,
                                                     strict=True))


def linktype_of(path: str) -> int:
    records = next(read_records(path, CaptureReport(path)))
    return int(records.linktype[0])


@pytest.mark.slow
def test_rewriting_identity_fields_changes_no_token(manifest, tmp_path):
    rng = random.Random(2026)
    checked, kinds = 0, Counter()
    candidates = [r for r in manifest
                  if r["linktype"] in SUPPORTED and int(r["packets"]) <= MAX_PACKETS]
    for row in candidates:
        path = corpus_path(row)
        packets = rdpcap(path)
        if not packets or not scapy_rebuilds_exactly(packets):
            continue
        for packet in packets:
            rewrite(packet, rng)
        out = str(tmp_path / f"rewritten-{checked}.pcap")
        with PcapWriter(out, linktype=linktype_of(path), sync=True) as writer:
            writer.write(packets)
        original = token_multiset(path)
        assert original, path
        assert token_multiset(out) == original, row["path"]
        checked += 1
        kinds[row["linktype"]] += 1
        if checked >= WANTED:
            break
    assert checked >= 50, f"only {checked} captures could be rewritten"
    assert len(kinds) >= 4, kinds
