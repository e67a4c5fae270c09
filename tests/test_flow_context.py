"""Session context: what a flow's hosts did in the window before it, computed at flow start."""

from __future__ import annotations

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.flows import FlowBatch, FlowConfig, FlowTable
from trafficlm.flows.context import CONTEXT_COLUMNS, SessionContext
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer
from trafficlm.tokenizer.reference import encode_reference

from capture_files import Frame, ether, write_pcap
from conftest import REPO

S = 10**9
T0 = 1_700_000_000 * S
ATTACKER, SERVER, OTHER = "192.0.2.66", "198.51.100.20", "198.51.100.21"
MIXED = REPO / "pcaps" / "testbed-mixed.pcap"


def syn(src, dst, sport, dport):
    return bytes(ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S"))


def flows_of(tmp_path, timed_frames, config=None) -> FlowBatch:
    path = write_pcap(tmp_path / "c.pcap", [Frame(T0 + t, f) for t, f in timed_frames])
    table = FlowTable(config)
    out = [table.add(b) for b in read_packets(str(path), CaptureReport(str(path)))]
    out.append(table.flush())
    flows = FlowBatch.concat(out)
    return flows.select(np.argsort(flows.start_ns, kind="stable"))


def column(flows: FlowBatch, name: str) -> list[int]:
    return getattr(flows, name).tolist()


def test_a_port_scan_counts_the_ports_tried_before_each_probe(tmp_path):
    probes = [(k * 1000, syn(ATTACKER, SERVER, 40000, 1 + k)) for k in range(20)]
    flows = flows_of(tmp_path, probes)
    assert column(flows, "ctx_src_flows") == list(range(20))
    assert column(flows, "ctx_dst_ports") == list(range(20))
    assert column(flows, "ctx_pair_flows") == [0] * 20  # every probe is a new port
    assert column(flows, "ctx_port_hosts") == [0] * 20


def test_a_sweep_counts_hosts_on_one_port_and_a_flood_counts_its_sources(tmp_path):
    sweep = [(k * 1000, syn(ATTACKER, f"198.51.100.{10 + k}", 40000 + k, 22))
             for k in range(10)]
    flood = [(10**6 + k * 1000, syn(f"203.0.113.{k + 1}", SERVER, 1024 + k, 80))
             for k in range(30)]
    flows = flows_of(tmp_path, sweep + flood)
    assert column(flows, "ctx_port_hosts")[:10] == list(range(10))
    assert column(flows, "ctx_dst_sources")[10:] == list(range(30))
    assert column(flows, "ctx_src_flows")[10:] == [0] * 30  # each forged source sent one


def test_the_window_forgets_older_flows(tmp_path):
    frames = [(0, syn(ATTACKER, SERVER, 40000, 21)), (1 * S, syn(ATTACKER, SERVER, 40001, 21)),
              (90 * S, syn(ATTACKER, SERVER, 40002, 21))]
    flows = flows_of(tmp_path, frames, FlowConfig(context_window_s=60))
    assert column(flows, "ctx_pair_flows") == [0, 1, 0]


def test_regular_gaps_are_a_beacon_and_irregular_ones_are_not(tmp_path):
    beacon = [(k * 10 * S, syn(ATTACKER, SERVER, 41000 + k, 443)) for k in range(5)]
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.exponential(5 * S, 5)).astype(np.int64)
    browsing = [(int(t), syn(ATTACKER, OTHER, 42000 + k, 443)) for k, t in enumerate(times)]
    flows = flows_of(tmp_path, beacon + browsing)  # sorted by start
    to_server = flows.resp_lo == flows.resp_lo[0]
    beacon_values = flows.ctx_regularity[to_server].tolist()
    browsing_values = flows.ctx_regularity[~to_server].tolist()
    assert beacon_values[:2] == [0, 0]  # fewer than three flows: no regularity yet
    assert beacon_values[2:] == [1, 1, 1]  # identical gaps: the most regular bucket
    assert min(browsing_values[2:]) >= 4  # exponential gaps vary by ~100%


def test_history_is_capped_and_what_it_forgets_is_counted():
    context = SessionContext(window_s=60, max_hosts=4)
    n = 10
    columns = {"start_ns": np.arange(n, dtype=np.int64) * 1000,
               "init_hi": np.zeros(n, np.uint64), "init_lo": np.arange(n, dtype=np.uint64),
               "resp_hi": np.zeros(n, np.uint64), "resp_lo": np.full(n, 7, np.uint64),
               "resp_port": np.arange(n, dtype=np.int32),  # ten sources, ten services
               **{name: np.zeros(n, np.int32) for name in CONTEXT_COLUMNS}}
    context.assign(columns, np.arange(n))
    assert len(context.initiators) == 4 and len(context.services) == 4
    assert context.evicted == 2 * (n - 4)  # each forgotten host still had one flow in window


@pytest.mark.parametrize("chunk_bytes", [9000, 65536])
def test_batch_boundaries_do_not_change_the_context(chunk_bytes):
    from trafficlm.capture import reader

    def context(chunk: int | None) -> list[tuple]:
        original = reader.DEFAULT_CHUNK_BYTES
        try:
            reader.DEFAULT_CHUNK_BYTES = chunk or original
            flows = FlowBatch.concat(list(capture_flows(str(MIXED), CaptureReport(str(MIXED)))))
        finally:
            reader.DEFAULT_CHUNK_BYTES = original
        return sorted(zip(flows.flow_id.tolist(),
                          *(getattr(flows, name).tolist() for name in CONTEXT_COLUMNS),
                          strict=True))

    assert context(chunk_bytes) == context(None)


def test_context_tokens_match_the_reference_and_old_tokenizers_keep_their_ids():
    flows = FlowBatch.concat(list(capture_flows(str(MIXED), CaptureReport(str(MIXED)))))
    with_context = TrafficTokenizer(TokenizerConfig(context=True))
    plain = TrafficTokenizer()
    assert with_context.encode(flows).ids.tolist() == encode_reference(with_context, flows)
    assert with_context.vocab.tokens[:plain.vocab_size] == plain.vocab.tokens
    assert with_context.encode(flows).ids[:, 8:14].min() >= plain.vocab_size
    assert (flows.ctx_dst_ports > 500).any()  # the mixed capture holds a port scan
