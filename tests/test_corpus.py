"""Every real capture in ../shared/corpus reads cleanly; flows agree with tshark."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict

import pytest

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.flows import FlowConfig
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows

from conftest import corpus_manifest, corpus_path

UNSUPPORTED = {"ieee802_11", "ieee802_11_radiotap"}


def test_every_corpus_capture_reads_without_exception(manifest):
    for row in manifest:
        path = corpus_path(row)
        report = CaptureReport(path)
        packets = sum(len(batch) for batch in read_packets(path, report))
        assert report.error is None, report.error
        assert not report.warnings, report.warnings
        assert packets == int(row["packets"]), path
        if row["linktype"] in UNSUPPORTED:
            assert report.unsupported_linktypes, path
            assert report.ip_packets == 0
        else:
            assert not report.unsupported_linktypes, path
            assert report.status_counts["malformed"] == 0, path


# Deliberate or known differences from `tshark -z conv`, each checked elsewhere:
KNOWN_DIFFERENCES = {
    # tunnels: tshark also counts the inner conversations; we keep the outer flow (GRE, VXLAN,
    # ERSPAN, MPLS are not decapsulated yet)
    "suricata-verify/vxlan-decoder-03__vxlan.pcap": "tunnel",
    "suricata-verify/bug-5633-gre-02__gre-sample.pcap": "tunnel",
    "suricata-verify/bug-5437-02__input.pcap": "tunnel",
    "zeek-traces/tunnels__vxlan-encapsulated-http.pcap": "tunnel",
    "zeek-traces/tunnels__gre-within-gre.pcap": "tunnel",
    "zeek-traces/mixed-vlan-mpls.pcap": "tunnel",
    # later IP fragments: tshark counts only the first fragment in a UDP conversation
    "zeek-traces/dns-edns-ecs.pcap": "fragments",
    # port reuse: a new SYN after FIN/RST starts a new flow here; tshark keeps one stream
    "suricata-verify/rdp-protocol__RDP-003.pcap": "port reuse",
    "suricata-verify/issue-3341-tcphdr-01__urgent11_cve_2019_12260.pcap": "port reuse",
    "chrissanders-packets/activeosfingerprinting.pcapng": "port reuse",
    "chrissanders-packets/nowebaccess2.pcapng": "port reuse",
    "chrissanders-packets/ppa1e__evilprogram.pcap": "port reuse",
    "chrissanders-packets/ppa1e__gnutella.pcap": "port reuse",
    "zeek-traces/pop3__pop3.pcap": "port reuse",
    # tshark 4.0 splits these SNMP request/response pairs into two UDP conversations
    "suricata-verify/snmp-v2c-get__SNMPv2c_get_requests.pcap": "tshark udp split",
    "suricata-verify/snmp-v3-encrypted__SNMPv3.pcap": "tshark udp split",
    "zeek-traces/snmp__snmpwalk-short.pcap": "tshark udp split",
}
CONV_LINE = re.compile(
    r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+\d+\s+\d+\s*\S*\s+\d+\s+\d+\s*\S*\s+(\d+)\s")
NO_TIMEOUTS = FlowConfig(idle_timeout_s=1e9, active_timeout_s=1e9)


def tshark_conversations(path: str) -> dict[tuple, list[int]]:
    """(proto, endpoint, endpoint) -> packet count of each tshark conversation."""
    out = subprocess.run(
        ["tshark", "-n", "-q", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
         "-r", path, "-z", "conv,tcp", "-z", "conv,udp"],
        capture_output=True, text=True, check=True).stdout
    conversations: dict[tuple, list[int]] = defaultdict(list)
    proto = None
    for line in out.splitlines():
        if "Conversations" in line:
            proto = "TCP" if "TCP" in line else "UDP"
        elif (m := CONV_LINE.match(line)) and proto:
            ends = sorted([(m[1], int(m[2])), (m[3], int(m[4]))])
            conversations[(proto, *ends)].append(int(m[5]))
    return conversations


def our_conversations(path: str, config: FlowConfig) -> dict[tuple, list[int]]:
    conversations: dict[tuple, list[int]] = defaultdict(list)
    for flows in capture_flows(path, CaptureReport(path), config):
        for r in flows_frame(flows).iter_rows(named=True):
            if r["proto"] in ("TCP", "UDP"):
                ends = sorted([(r["src_ip"], r["src_port"]), (r["dst_ip"], r["dst_port"])])
                conversations[(r["proto"], *ends)].append(r["packets_fwd"] + r["packets_bwd"])
    return conversations


def tshark_sample() -> list[dict[str, str]]:
    """Every capture of every link type but Ethernet, and every 6th Ethernet one."""
    rows = [r for r in corpus_manifest() if r["linktype"] not in UNSUPPORTED]
    ethernet = [r for r in rows if r["linktype"] == "ethernet"]
    return [r for r in rows if r["linktype"] != "ethernet"] + ethernet[::6]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_flows_and_packet_counts_agree_with_tshark(manifest):
    compared, by_linktype = 0, defaultdict(int)
    for row in tshark_sample():
        if row["path"] in KNOWN_DIFFERENCES:
            continue
        path = corpus_path(row)
        theirs = tshark_conversations(path)
        ours = our_conversations(path, NO_TIMEOUTS)
        # same conversations, same number of flows each, same packets in each
        assert {k: sorted(v) for k, v in ours.items()} == {
            k: sorted(v) for k, v in theirs.items()}, path
        compared += 1
        by_linktype[(row["linktype"], row["format"])] += 1
    assert compared >= 20
    assert len(by_linktype) >= 6, by_linktype


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_timeouts_only_split_flows_never_lose_packets(manifest):
    path = corpus_path({"path": "chrissanders-packets/ppa1e__gnutella.pcap"})
    theirs = tshark_conversations(path)
    ours = our_conversations(path, FlowConfig())
    assert {k: sum(v) for k, v in ours.items()} == {k: sum(v) for k, v in theirs.items()}
    assert sum(map(len, ours.values())) > sum(map(len, theirs.values()))


def test_later_fragments_join_their_flow(manifest):
    """tshark counts a fragmented DNS answer once; its flow holds both fragments."""
    path = corpus_path({"path": "zeek-traces/dns-edns-ecs.pcap"})
    ours = our_conversations(path, NO_TIMEOUTS)
    assert ours[("UDP", ("172.217.40.76", 56680), ("193.24.227.238", 53))] == [2]
