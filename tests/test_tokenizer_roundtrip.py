"""decode(encode(flow)) shows what scapy sees in the same packets."""

from __future__ import annotations

from collections import defaultdict

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch, FlowConfig
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TrafficTokenizer, decode
from trafficlm.tokenizer import vocab as V

from conftest import corpus_path

CAPTURES = ["chrissanders-packets/ppa1e__torrential-slowness.pcap",  # TCP, IPv4
            "zeek-traces/ftp__ipv6.pcap",  # TCP, IPv6
            "suricata-verify/dns__dns-udp-eve-txt__input.pcap",  # UDP
            "chrissanders-packets/ppa1e__dns.cap"]  # UDP, many flows
NO_SPLITS = FlowConfig(idle_timeout_s=1e9, active_timeout_s=1e9)


def scapy_view(packet) -> tuple[tuple, tuple, int, int, bytes]:
    """(src endpoint, dst endpoint, flags, IP payload length, L4 payload) as scapy dissects it."""
    ip = packet.getlayer(IP) or packet.getlayer(IPv6)
    l4 = ip.payload
    ip_payload = ip.len - ip.ihl * 4 if isinstance(ip, IP) else ip.plen
    header = l4.dataofs * 4 if isinstance(l4, TCP) else 8
    payload = bytes(l4)[header:ip_payload]
    flags = int(l4.flags) & 0xFF if isinstance(l4, TCP) else 0
    return (ip.src, l4.sport), (ip.dst, l4.dport), flags, ip_payload, payload


@pytest.mark.parametrize("name", CAPTURES)
def test_decoded_tokens_match_scapy(manifest, name):
    path = corpus_path({"path": name})
    by_conversation = defaultdict(list)
    for packet in rdpcap(path):
        if (TCP in packet or UDP in packet) and (IP in packet or IPv6 in packet):
            view = scapy_view(packet)
            by_conversation[tuple(sorted([view[0], view[1]]))].append(view)
    flows = FlowBatch.concat(list(capture_flows(path, CaptureReport(path), NO_SPLITS)))
    tokenizer = TrafficTokenizer()
    encoded = tokenizer.encode(flows)
    table = flows_frame(flows)
    compared = 0
    for row, record in enumerate(table.iter_rows(named=True)):
        if record["proto"] not in ("TCP", "UDP"):
            continue
        src = (record["src_ip"], record["src_port"])
        theirs = by_conversation[tuple(sorted([src, (record["dst_ip"], record["dst_port"])]))]
        ours = decode(tokenizer.vocab, encoded.ids[row]).packets
        cut = encoded.lengths[row] == tokenizer.config.max_length  # the last packet may be cut
        expected = min(len(theirs), tokenizer.config.packets)
        assert len(ours) <= expected if cut else len(ours) == expected, (record, len(theirs))
        for index, (mine, (sender, _, flags, ip_payload, payload)) in enumerate(
                zip(ours, theirs, strict=False)):
            if cut and index == len(ours) - 1:
                assert payload.startswith(mine.payload)
                continue
            assert mine.direction == ("fwd" if sender == src else "bwd")
            assert mine.length == V.Vocabulary().tokens[
                tokenizer.vocab["length"].base + V.one_length_bucket(ip_payload)].split(":")[1]
            if record["proto"] == "TCP":
                assert mine.fields["tcp_flags"] == V.flag_text(flags)
            assert mine.payload == payload[: tokenizer.config.payload_bytes]
            assert mine.truncated == (len(payload) > tokenizer.config.payload_bytes)
            compared += 1
    assert compared >= 4
