"""Flow table semantics: direction, timeouts, TCP endings, port reuse, the cap, batching."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.flows import EndReason, FlowBatch, FlowConfig, FlowTable
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows

from capture_files import Frame, ether, write_pcap
from conftest import CORPUS

S = 10**9
T0 = 1_700_000_000 * S
CLIENT, SERVER = "192.0.2.10", "198.51.100.20"


def tcp(src, dst, sport, dport, flags, payload=b""):
    return bytes(ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags)
                 / payload)


def c2s(flags, payload=b"", sport=50000):
    return tcp(CLIENT, SERVER, sport, 80, flags, payload)


def s2c(flags, payload=b"", dport=50000):
    return tcp(SERVER, CLIENT, 80, dport, flags, payload)


def run(tmp_path, timed_frames, config=None, chunk_bytes=None) -> tuple[FlowBatch, FlowTable]:
    path = write_pcap(tmp_path / "f.pcap", [Frame(T0 + t, f) for t, f in timed_frames])
    table = FlowTable(config)
    out = []
    report = CaptureReport(str(path))
    kwargs = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
    for batch in read_packets(str(path), report, **kwargs):
        out.append(table.add(batch))
    out.append(table.flush())
    return FlowBatch.concat(out), table


HANDSHAKE = [(0, c2s("S")), (1000, s2c("SA")), (2000, c2s("A")),
             (3000, c2s("PA", b"GET / HTTP/1.0\r\n\r\n")), (4000, s2c("PA", b"HTTP/1.0 200 OK")),
             (5000, c2s("FA")), (6000, s2c("FA")), (7000, c2s("A"))]


def test_a_tcp_connection_is_one_flow_with_directions_and_first_packets(tmp_path):
    flows, _ = run(tmp_path, HANDSHAKE)
    assert len(flows) == 1
    row = flows_frame(flows).row(0, named=True)
    assert (row["src_ip"], row["src_port"], row["dst_ip"], row["dst_port"]) == (
        CLIENT, 50000, SERVER, 80)
    assert (row["packets_fwd"], row["packets_bwd"]) == (5, 3)
    assert row["end_reason"] == "fin"
    assert (row["syn_count"], row["fin_count"]) == (2, 2)
    assert flows.n_stored[0] == 8
    assert flows.pkt_direction[0, :8].tolist() == [0, 1, 0, 0, 1, 0, 1, 0]
    assert flows.pkt_payload_cap[0, 3] == 18
    assert flows.payload[0, 3, :18].tobytes() == b"GET / HTTP/1.0\r\n\r\n"
    assert flows.payload[0, 3, 18:].max() == 0


def test_capture_starting_at_the_syn_ack_keeps_the_client_as_initiator(tmp_path):
    flows, _ = run(tmp_path, HANDSHAKE[1:])
    row = flows_frame(flows).row(0, named=True)
    assert (row["src_ip"], row["src_port"]) == (CLIENT, 50000)
    assert flows.pkt_direction[0, 0] == 1


def test_idle_timeout_splits_and_says_so(tmp_path):
    frames = [(0, c2s("A")), (1 * S, s2c("A")), (40 * S, c2s("A")), (41 * S, s2c("A"))]
    flows, _ = run(tmp_path, frames, FlowConfig(idle_timeout_s=30))
    assert len(flows) == 2
    assert flows.end_reason.tolist() == [EndReason.IDLE, EndReason.EOF]


def test_idle_timeout_also_splits_across_batches(tmp_path):
    frames = [(0, c2s("A"))] + [(t * S, c2s("A", sport=50001)) for t in range(1, 80, 2)] + [
        (80 * S, c2s("A"))]
    flows, _ = run(tmp_path, frames, FlowConfig(idle_timeout_s=30), chunk_bytes=200)
    first = flows.select(flows.init_port == 50000)
    assert sorted(first.end_reason.tolist()) == [EndReason.IDLE, EndReason.EOF]


def test_active_timeout_cuts_long_flows(tmp_path):
    frames = [(t * S, c2s("A")) for t in range(0, 100, 5)]
    flows, _ = run(tmp_path, frames, FlowConfig(idle_timeout_s=30, active_timeout_s=30))
    # a flow may last 30 s: 0-30, 35-65, 70-95
    assert (flows.packets_fwd + flows.packets_bwd).tolist() == [7, 7, 6]
    assert flows.end_reason.tolist() == [EndReason.ACTIVE, EndReason.ACTIVE, EndReason.EOF]


def test_rst_ends_a_flow_and_a_new_syn_on_the_same_ports_starts_another(tmp_path):
    frames = [(0, c2s("S")), (1000, s2c("RA")), (2 * S, c2s("S")), (2 * S + 1000, s2c("SA")),
              (2 * S + 2000, c2s("A"))]
    flows, _ = run(tmp_path, frames)
    assert len(flows) == 2
    assert sorted(flows.end_reason.tolist()) == [EndReason.RST, EndReason.EOF]
    assert sorted((flows.packets_fwd + flows.packets_bwd).tolist()) == [2, 3]


def test_closed_flows_are_emitted_after_the_linger_while_reading(tmp_path):
    frames = [*HANDSHAKE, (20 * S, tcp("203.0.113.1", SERVER, 1234, 53, "A"))]
    path = write_pcap(tmp_path / "f.pcap", [Frame(T0 + t, f) for t, f in frames])
    table = FlowTable(FlowConfig(closed_timeout_s=5))
    emitted = [table.add(b) for b in read_packets(str(path), CaptureReport(str(path)))]
    assert sum(len(f) for f in emitted) == 1  # before flush: the closed connection only
    assert len(table) == 1


def test_the_flow_cap_evicts_oldest_and_counts_them(tmp_path):
    frames = [(i * 1000, tcp(CLIENT, SERVER, 20000 + i, 80, "S")) for i in range(200)]
    flows, table = run(tmp_path, frames, FlowConfig(max_flows=16))
    assert len(flows) == 200
    assert table.stats.evicted >= 200 - 16
    assert flows.end_reason.tolist().count(EndReason.EVICTED) == table.stats.evicted
    assert (flows.packets_fwd == 1).all()


def test_udp_both_directions_meet_in_one_flow(tmp_path):
    query = bytes(ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=5555, dport=53) / b"q")
    answer = bytes(ether() / IP(src=SERVER, dst=CLIENT) / UDP(sport=53, dport=5555) / b"a")
    flows, _ = run(tmp_path, [(0, query), (1000, answer)])
    row = flows_frame(flows).row(0, named=True)
    assert (row["proto"], row["src_port"], row["dst_port"]) == ("UDP", 5555, 53)
    assert (row["packets_fwd"], row["packets_bwd"]) == (1, 1)


@pytest.mark.parametrize("name", ["chrissanders-packets/ppa1e__gnutella.pcap",
                                  "doup123-attacker/test.pcap"])
@pytest.mark.parametrize("chunk_bytes", [9000, 65536])
def test_batch_boundaries_do_not_change_flows(name, chunk_bytes):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus capture missing: {path}")

    def rows(chunk: int | None) -> list[tuple]:
        from trafficlm.capture import reader
        report = CaptureReport(str(path))
        original = reader.DEFAULT_CHUNK_BYTES
        try:
            if chunk:
                reader.DEFAULT_CHUNK_BYTES = chunk
            frames = [flows_frame(f) for f in capture_flows(str(path), report)]
        finally:
            reader.DEFAULT_CHUNK_BYTES = original
        return sorted(tuple(r) for f in frames for r in f.iter_rows())

    assert rows(chunk_bytes) == rows(None)


def test_flow_ids_are_stable_across_runs(tmp_path):
    first, _ = run(tmp_path, HANDSHAKE)
    second, _ = run(tmp_path, HANDSHAKE)
    assert first.flow_id.tolist() == second.flow_id.tolist()
    assert 0 < first.flow_id[0] < 2**53
