"""The tokenizer: same ids as the reference encoder, readable decode, provenance, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.cli import main
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import (
    TokenizerConfig,
    TokenizerError,
    TrafficTokenizer,
    decode,
)
from trafficlm.tokenizer import vocab as V
from trafficlm.tokenizer.layout import Slot
from trafficlm.tokenizer.reference import encode_reference

from conftest import REPO, corpus_path

DEMO = str(REPO / "pcaps" / "loopback-http.pcap")


def flows_of(path: str) -> FlowBatch | None:
    batches = list(capture_flows(path, CaptureReport(path)))
    return FlowBatch.concat(batches) if batches else None


@pytest.mark.parametrize("config", [TokenizerConfig(),
                                    TokenizerConfig(packets=3, payload_bytes=8, max_length=40),
                                    TokenizerConfig(packets=16, payload_bytes=0, max_length=512),
                                    TokenizerConfig(query_window=16, context=True)])
def test_vectorised_encoder_matches_the_reference_on_the_corpus(manifest, config):
    tokenizer = TrafficTokenizer(config)
    checked = 0
    for row in manifest[::3]:
        flows = flows_of(corpus_path(row))
        if flows is None:
            continue
        encoded = tokenizer.encode(flows)
        assert encoded.ids.tolist() == encode_reference(tokenizer, flows), row["path"]
        assert (encoded.lengths == (encoded.ids != V.PAD).sum(axis=1)).all()
        checked += len(flows)
    assert checked > 1000


def test_the_query_window_shows_an_injection_on_a_deep_page_at_its_real_offsets(manifest):
    """DVWA's page (/dvwa/vulnerabilities/sqli/) leaves 13 bytes of the query in the first
    48; with the window the request shows its head, then 32 bytes from the '?', and
    provenance names where each came from."""
    path = next(corpus_path(r) for r in manifest if r["path"].endswith("dvwa_sqlinjection.pcapng"))
    flows = flows_of(path)
    plain = TrafficTokenizer(TokenizerConfig())
    windowed = TrafficTokenizer(TokenizerConfig(query_window=16))
    request = next((row, p) for row in range(len(flows)) for p in range(int(flows.n_stored[row]))
                   if bytes(flows.payload[row, p, :4]) == b"GET ")
    stored = bytes(flows.payload[request][:int(flows.pkt_payload_cap[request])])
    query = stored.index(b"?")
    assert query > 16
    shown = {}
    for name, tokenizer in (("plain", plain), ("windowed", windowed)):
        prov = tokenizer.provenance(flows)
        ids = tokenizer.encode(flows).ids[request[0]]
        here = (prov.slot[request[0]] == Slot.PAYLOAD) & (prov.packet[request[0]] == request[1])
        offsets = prov.byte_offset[request[0]][here]
        assert bytes(int(i) - tokenizer.vocab["byte"].base for i in ids[here]) == bytes(
            stored[o] for o in offsets)
        shown[name] = offsets.tolist()
    assert shown["plain"] == list(range(48))
    assert shown["windowed"] == [*range(16), *range(query, query + 32)]
    # the tautology's '=' (%3D) is past the first 48 bytes: only the window shows it
    assert b"%3D" in bytes(stored[o] for o in shown["windowed"])
    assert b"%3D" not in bytes(stored[o] for o in shown["plain"])


def test_every_sequence_is_closed_and_cut_at_the_maximum_length():
    tokenizer = TrafficTokenizer(TokenizerConfig(max_length=64))
    encoded = tokenizer.encode(flows_of(DEMO))
    assert (encoded.ids[:, 0] == V.CLS).all()
    assert (encoded.lengths == 64).all()
    assert (encoded.ids[:, -1] == V.SEP).all()


def test_decode_shows_what_the_flow_carried():
    tokenizer = TrafficTokenizer()
    flows = flows_of(DEMO)
    encoded = tokenizer.encode(flows)
    for row in range(len(flows)):
        flow = decode(tokenizer.vocab, encoded.ids[row])
        assert flow.proto == "TCP" and flow.service == "registered-other" and flow.closed
        assert [p.direction for p in flow.packets[:3]] == ["fwd", "bwd", "fwd"]
        assert [p.fields["tcp_flags"] for p in flow.packets[:3]] == ["S", "SA", "A"]
        request = flow.packets[3]
        assert request.payload.startswith(b"GET /") and request.truncated
        assert len(request.payload) == 48


def test_provenance_points_at_packets_fields_and_bytes():
    tokenizer = TrafficTokenizer()
    flows = flows_of(DEMO)
    encoded, where = tokenizer.encode(flows), tokenizer.provenance(flows)
    row = 0
    flags = np.flatnonzero(where.slot[row] == Slot.TCP_FLAGS)
    assert where.packet[row, flags].tolist()[:4] == [0, 1, 2, 3]
    request = (where.packet[row] == 3) & (where.slot[row] == Slot.PAYLOAD)
    assert where.byte_offset[row, request].tolist() == list(range(48))
    data = bytes((encoded.ids[row, request] - tokenizer.vocab["byte"].base).tolist())
    assert data.startswith(b"GET /")
    assert where.slot[row, encoded.lengths[row] - 1] == Slot.SEP


def test_identical_flows_share_a_content_hash(manifest):
    tokenizer = TrafficTokenizer()
    flows = flows_of(corpus_path({"path": "doup123-attacker/test.pcap"}))
    encoded = tokenizer.encode(flows)
    unique_ids = np.unique(encoded.ids, axis=0)
    assert len(np.unique(encoded.content_hash)) == len(unique_ids) < len(flows)


def test_icmp_errors_show_no_quoted_header(manifest):
    tokenizer = TrafficTokenizer()
    flows = flows_of(corpus_path({"path": "chrissanders-packets/icmp_traceroute.pcapng"}))
    icmp = flows.select(flows.proto == 1)
    where = tokenizer.provenance(icmp)
    errors = np.isin(icmp.pkt_icmp_type[:, 0], (3, 11))
    assert errors.any()
    assert not (where.slot[errors] == Slot.PAYLOAD).any()


def test_save_and_load_round_trip(tmp_path):
    tokenizer = TrafficTokenizer(TokenizerConfig(packets=4, payload_bytes=16, max_length=128,
                                                 query_window=6))
    tokenizer.save_pretrained(tmp_path)
    loaded = TrafficTokenizer.from_pretrained(tmp_path)
    assert loaded.config == tokenizer.config
    flows = flows_of(DEMO)
    assert (loaded.encode(flows).ids == tokenizer.encode(flows).ids).all()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format_version=99), "tokenizer format 99"),
    (lambda d: d["tokens"].reverse(), "vocabulary differs"),
    (lambda d: d.pop("packets"), "missing or bad tokenizer setting"),
])
def test_a_mismatched_tokenizer_is_refused_by_name(tmp_path, change, message):
    TrafficTokenizer().save_pretrained(tmp_path)
    path = tmp_path / "tokenizer_config.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    with pytest.raises(TokenizerError, match=message) as err:
        TrafficTokenizer.from_pretrained(tmp_path)
    assert str(path) in str(err.value)


def test_missing_tokenizer_directory(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer here"):
        TrafficTokenizer.from_pretrained(tmp_path / "nothing")


def test_tokenize_command_jsonl_and_flow_filter(capsys):
    assert main(["tokenize", DEMO, "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 24 and all(line["ids"][0] == V.CLS for line in lines)
    wanted = lines[5]["flow_id"]
    assert main(["tokenize", DEMO, "--flow", str(wanted)]) == 0
    table = capsys.readouterr().out
    assert table.count("\nflow ") + table.startswith("flow ") == 1
    assert f"flow {wanted}" in table and "tcp flags SA" in table and "payload 48 bytes" in table
    assert main(["tokenize", DEMO, "--flow", "1"]) == 1


@pytest.mark.parametrize("context", [False, True])
def test_provenance_read_back_from_ids_is_the_encoders(context):
    from trafficlm.tokenizer.provenance import provenance_of_ids

    tokenizer = TrafficTokenizer(TokenizerConfig(context=context))
    flows = flows_of(str(REPO / "pcaps" / "testbed-mixed.pcap"))
    recorded = tokenizer.provenance(flows)
    read_back = provenance_of_ids(tokenizer.vocab, tokenizer.encode(flows).ids)
    for name in ("slot", "packet", "byte_offset"):
        assert (getattr(read_back, name) == getattr(recorded, name)).all(), name
    assert (recorded.slot == Slot.PAYLOAD).any() and (recorded.packet >= 3).any()
