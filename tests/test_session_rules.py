"""Which sessions become alerts: volume verdicts need flows, a DoS victim's collateral folds in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from trafficlm.model import BENIGN, UNKNOWN
from trafficlm.session_rules import COLLATERAL, TOO_FEW
from trafficlm.sessions import build_sessions, explanation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VICTIM = "10.9.0.10"


def scored_flows(rows: list[tuple[str, str, float, str, bool]]) -> pl.DataFrame:
    """(source, destination, start in seconds after T0, model label, unlike training) per
    flow, with the other columns sessions read filled in plainly."""
    n = len(rows)
    src, dst, offset, label, unlike = (list(column) for column in zip(*rows, strict=True))
    start = [T0 + timedelta(seconds=s) for s in offset]
    return pl.DataFrame({
        "flow_id": list(range(1, n + 1)), "src_ip": src, "dst_ip": dst,
        "src_port": [40000 + i for i in range(n)], "dst_port": [80] * n,
        "proto": ["TCP"] * n, "start": start,
        "end": [s + timedelta(milliseconds=50) for s in start],
        "packets_fwd": [5] * n, "packets_bwd": [4] * n, "bytes_fwd": [400] * n,
        "bytes_bwd": [900] * n, "rst_count": [0] * n, "label": label,
        "confidence": [0.9] * n, "attack_score": [0.9 if x != BENIGN else 0.1 for x in label],
        "unlike_training": unlike, "evidence": [None] * n,
    }, schema_overrides={"start": pl.Datetime("ns", "UTC"), "end": pl.Datetime("ns", "UTC"),
                         "evidence": pl.List(pl.String)})


def test_two_flood_flows_are_held_back_with_their_reason():
    table = build_sessions(scored_flows([("10.9.0.20", VICTIM, 0, "DoS HTTP Flood", False),
                                         ("10.9.0.20", VICTIM, 19, "DoS HTTP Flood", False)]))
    assert table.sessions.is_empty() and table.flows.is_empty()
    held = table.held_back.row(0, named=True)
    assert held["rule"] == TOO_FEW and held["flows"] == 2
    assert "fewer than the 10 a DoS HTTP Flood needs" in held["reason"]


def test_a_flood_from_spoofed_sources_counts_at_its_destination():
    spoofed = [(f"198.51.100.{i}", VICTIM, i * 0.01, "DoS Syn Flood", False) for i in range(12)]
    table = build_sessions(scored_flows(spoofed))
    assert table.sessions.height == 12 and table.held_back.is_empty()
    # the same twelve flows spread over hours are separate bursts, each too small
    slow = [(src, dst, i * 3600.0, label, unlike) for i, (src, dst, _, label, unlike)
            in enumerate(spoofed)]
    assert build_sessions(scored_flows(slow)).sessions.is_empty()


def test_payload_verdicts_need_one_flow():
    table = build_sessions(scored_flows([("10.9.0.66", VICTIM, 0, "Web Attack \u2013 XSS",
                                          False)]))
    assert table.sessions["verdict"].to_list() == ["Web Attack \u2013 XSS"]


def test_unknown_flows_to_a_dos_victim_during_the_attack_are_its_collateral():
    attack = [("10.9.0.66", VICTIM, i * 0.5, "DoS Slowloris", False) for i in range(20)]
    during = [("10.9.0.20", VICTIM, 3.0, BENIGN, True)]
    after = [("10.9.0.21", VICTIM, 600.0, BENIGN, True)]
    table = build_sessions(scored_flows(attack + during + after))
    by_verdict = {row["verdict"]: row for row in table.sessions.iter_rows(named=True)}
    assert set(by_verdict) == {"DoS Slowloris", UNKNOWN}
    assert by_verdict[UNKNOWN]["src_ip"] == "10.9.0.21"  # after the attack: its own alert
    dos = by_verdict["DoS Slowloris"]
    assert (dos["collateral_flows"], dos["collateral_sources"]) == (1, 1)
    assert "1 flow(s) from 1 host(s) to 10.9.0.10 were unlike training" in explanation(dos)
    assert table.held_back["rule"].to_list() == [COLLATERAL]
    assert "DoS Slowloris from 10.9.0.66" in table.held_back["reason"][0]


def test_session_ids_follow_rank_and_flows_follow_their_session():
    rows = ([("10.9.0.66", VICTIM, i * 0.1, "PortScan", False) for i in range(6)]
            + [("10.9.0.66", VICTIM, 1.0, "Web Attack \u2013 Sql Injection", False)]
            + [("10.9.0.20", VICTIM, 2.0, "PortScan", False)])
    table = build_sessions(scored_flows(rows))
    assert table.sessions["session_id"].to_list() == [1, 2, 3]
    assert table.sessions["verdict"][0] == "Web Attack \u2013 Sql Injection"  # severity 1
    assert table.held_back.is_empty()  # 7 PortScan flows at the victim: the lone one counts
    sizes = table.flows.group_by("session_id").len().sort("session_id")["len"].to_list()
    assert sizes == table.sessions.sort("session_id")["flows"].to_list()
