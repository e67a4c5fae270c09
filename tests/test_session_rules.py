"""Which sessions become alerts: volume verdicts need flows, a DoS victim's collateral folds in."""

from __future__ import annotations

from trafficlm.model import BENIGN, UNKNOWN
from trafficlm.sensor.live_sessions import LiveSessions
from trafficlm.session_rules import COLLATERAL, TOO_FEW
from trafficlm.sessions import build_sessions, explanation
from trafficlm.volume_floors import VolumeFloors

from scored_rows import T0, scored_flows

VICTIM = "10.9.0.10"


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
    assert table.held_back.is_empty()
    flood = table.sessions.row(0, named=True)  # one attack, one alert, keyed by its victim
    assert table.sessions.height == 1 and flood["dst_ip"] == VICTIM
    assert (flood["flows"], flood["sources"]) == (12, 12)
    assert "12 flow(s) from 12 hosts (e.g. 198.51.100.0) to 10.9.0.10" in explanation(flood)
    # the same twelve flows spread over hours are separate bursts, each too small
    slow = [(src, dst, i * 3600.0, label, unlike) for i, (src, dst, _, label, unlike)
            in enumerate(spoofed)]
    assert build_sessions(scored_flows(slow)).sessions.is_empty()


def test_a_flood_of_one_flow_counts_its_packets():
    """One host's ICMP flood can be one flow of thousands of packets (one echo id, or
    BlackNurse's unreachables): a DoS verdict may reach the packet floor instead."""
    import polars as pl

    def flood(flows: int, packets: int) -> pl.DataFrame:
        rows = [("10.9.0.20", VICTIM, i, "DoS ICMP Flood", False) for i in range(flows)]
        return scored_flows(rows).with_columns(pl.lit(packets).alias("packets_fwd"),
                                               pl.lit(0).alias("packets_bwd"))

    one = build_sessions(flood(1, 10_000))
    assert one.sessions.height == 1 and one.sessions["packets"][0] == 10_000
    few = build_sessions(flood(2, 400))
    assert few.sessions.is_empty()
    assert few.held_back["reason"][0] == ("2 flow(s) at 10.9.0.10, fewer than the 10 a DoS "
                                          "ICMP Flood needs (800 packets, fewer than 1000)")
    assert build_sessions(flood(2, 400), floors=VolumeFloors(dos_packets=800)).sessions.height
    # only a denial of service counts packets: a scan's are no volume
    probes = scored_flows([("10.9.0.20", VICTIM, 0, "PortScan", False)]).with_columns(
        pl.lit(10_000).alias("packets_fwd"))
    assert build_sessions(probes).sessions.is_empty()


def test_a_scan_is_counted_at_its_scanner_not_at_the_host_it_probed():
    """A traceroute's ICMP errors come from each router on the path once: called scans, they
    are one flow from each of eight hosts to one, which is no scan by any of them."""
    routers = [(f"203.0.113.{i}", VICTIM, i * 0.2, "UDPScan", False) for i in range(8)]
    table = build_sessions(scored_flows(routers))
    assert table.sessions.is_empty() and table.held_back.height == 8
    assert "1 host(s) or port(s) probed from 203.0.113.0, fewer than the 5 a UDPScan needs" in \
        table.held_back.sort("src_ip")["reason"][0]
    scanner = [("10.9.0.66", f"10.9.0.{i}", i * 0.2, "UDPScan", False) for i in range(5)]
    assert build_sessions(scored_flows(scanner)).sessions["flows"].to_list() == [5]


def test_a_scan_needs_hosts_or_ports_not_flows():
    """A Windows host retrying a resolver that never answers sends dozens of flows to one
    port of one host: called a UDP scan, it is no scan by Zeek's count (ports of a host,
    or hosts); five ports of one host, or one port of five hosts, are."""
    import polars as pl

    def probes(hosts: int, ports: int, flows: int) -> pl.DataFrame:
        rows = [("10.9.0.20", f"10.9.0.{100 + i % hosts}", i * 0.5, "UDPScan", False)
                for i in range(flows)]
        return scored_flows(rows).with_columns(
            (1000 + pl.int_range(pl.len()) % ports).cast(pl.Int64).alias("dst_port"))

    retries = build_sessions(probes(1, 1, 30))
    assert retries.sessions.is_empty()
    assert retries.held_back["reason"][0] == (
        "1 host(s) or port(s) probed from 10.9.0.20, fewer than the 5 a UDPScan needs")
    assert build_sessions(probes(1, 5, 5)).sessions["dst_ports"].to_list() == [5]
    assert build_sessions(probes(5, 1, 5)).sessions["destinations"].to_list() == [5]
    assert build_sessions(probes(1, 4, 30), floors=VolumeFloors(scan=4)).sessions.height == 1


def test_payload_verdicts_need_one_flow():
    table = build_sessions(scored_flows([("10.9.0.66", VICTIM, 0, "Web Attack \u2013 XSS",
                                          False)]))
    assert table.sessions["verdict"].to_list() == ["Web Attack \u2013 XSS"]


def test_one_flow_unlike_training_is_held_back_and_two_at_a_host_are_alerted():
    """The open set passes one benign flow in 1,000: one odd flow in a capture is expected,
    a second at the same host (from any source) is worth an analyst's look."""
    lone = build_sessions(scored_flows([("10.9.0.21", VICTIM, 0.0, BENIGN, True)]))
    assert lone.sessions.is_empty()
    assert lone.held_back["reason"][0] == (
        f"1 flow(s) at {VICTIM}, fewer than the 2 a {UNKNOWN} needs")
    pair = build_sessions(scored_flows([("10.9.0.21", VICTIM, 0.0, BENIGN, True),
                                        ("10.9.0.22", VICTIM, 9.0, BENIGN, True)]))
    assert pair.sessions["verdict"].to_list() == [UNKNOWN] * 2
    assert build_sessions(scored_flows([("10.9.0.21", VICTIM, 0.0, BENIGN, True)]),
                          floors=VolumeFloors(unknown=1)).sessions.height == 1


def test_unknown_flows_to_a_dos_victim_during_the_attack_are_its_collateral():
    attack = [("10.9.0.66", VICTIM, i * 0.5, "DoS Slowloris", False) for i in range(20)]
    during = [("10.9.0.20", VICTIM, 3.0, BENIGN, True)]
    after = [("10.9.0.21", VICTIM, 600.0 + i, BENIGN, True) for i in range(2)]
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
    assert table.sessions["session_id"].to_list() == [1, 2]
    assert table.sessions["verdict"][0] == "Web Attack \u2013 Sql Injection"  # severity 1
    # the lone PortScan flow of another host is no scan of its own, whoever else scanned
    assert table.held_back["src_ip"].to_list() == ["10.9.0.20"]
    sizes = table.flows.group_by("session_id").len().sort("session_id")["len"].to_list()
    assert sizes == table.sessions.sort("session_id")["flows"].to_list()


def test_live_parts_of_a_flood_keep_its_volume_and_its_collateral():
    """The sensor reports an ongoing DoS every report_s: its small last part still counts
    the flows reported before, and an unknown flow to the victim during the reported part
    is still its collateral."""
    live = LiveSessions(gap_s=300, report_s=60, max_flows=1_000_000)
    live.add(scored_flows([("10.9.0.66", VICTIM, t, "DoS Slowloris", False)
                           for t in range(0, 61, 5)]))  # 13 flows
    first = live.due(at(61))
    assert first["flows"].to_list() == [13]
    live.add(scored_flows([("10.9.0.66", VICTIM, t, "DoS Slowloris", False)
                           for t in (65, 70, 75, 80)]
                          + [("10.9.0.20", VICTIM, 30, BENIGN, True)]))
    rest = live.due(at(80 + 301))
    assert rest["verdict"].to_list() == ["DoS Slowloris"] and rest["flows"].to_list() == [4]
    assert rest["session_id"].to_list() == [2]
    assert live.held_back == {COLLATERAL: 1} and len(live) == 0
    # the same flows offline, in one piece: one alert, the unknown flow its collateral
    whole = build_sessions(scored_flows(
        [("10.9.0.66", VICTIM, t, "DoS Slowloris", False) for t in range(0, 81, 5)]
        + [("10.9.0.20", VICTIM, 30, BENIGN, True)]))
    assert whole.sessions["flows"].to_list() == [17]
    assert whole.held_back["rule"].to_list() == [COLLATERAL]


def at(seconds: float) -> int:
    """T0 + seconds, in the nanoseconds the sensor's clock gives."""
    return int((T0.timestamp() + seconds) * 1_000_000_000)


def test_every_denial_of_service_verdict_is_high_severity_and_has_collateral():
    """CIC-IDS2017 names its distributed floods "DDoS": one predicate serves severity,
    volume and collateral, so it is treated as the DoS it is everywhere."""
    flood = [(f"198.51.100.{i}", VICTIM, i * 0.1, "DDoS", False) for i in range(12)]
    table = build_sessions(scored_flows([*flood, ("10.9.0.20", VICTIM, 0.5, BENIGN, True)]))
    assert set(table.sessions["severity"]) == {1}
    assert table.held_back["rule"].to_list() == [COLLATERAL]


def test_the_live_memory_of_reported_sessions_is_bounded_and_counts_what_it_forgets():
    live = LiveSessions(gap_s=300, report_s=60, max_flows=1_000_000, max_context=3)
    live.add(scored_flows([(f"10.9.1.{i}", VICTIM, i, "Web Attack \u2013 XSS", False)
                           for i in range(5)]))
    assert live.due(at(400)).height == 5
    assert live.context.height == 3 and live.context_evicted == 2
    assert live.context["src_ip"].to_list() == ["10.9.1.2", "10.9.1.3", "10.9.1.4"]  # newest


def test_the_floors_are_settings_not_constants():
    guesses = scored_flows([("10.9.0.66", VICTIM, i, "SSH-Patator", False) for i in range(6)])
    assert build_sessions(guesses).sessions.height == 1  # 6 >= the default 5
    strict = build_sessions(guesses, floors=VolumeFloors(brute_force=7))
    assert strict.sessions.is_empty()
    assert "fewer than the 7 a SSH-Patator needs" in strict.held_back["reason"][0]
    flood = scored_flows([("10.9.0.20", VICTIM, i, "DoS HTTP Flood", False) for i in range(3)])
    assert build_sessions(flood, floors=VolumeFloors(dos=3)).sessions.height == 1
    assert build_sessions(flood).sessions.is_empty()
    for floor, alerted in ((7, 0), (5, 1)):  # the sensor judges with the same floors
        live = LiveSessions(300.0, 60.0, 1000, floors=VolumeFloors(brute_force=floor))
        live.add(guesses)
        reported = live.take_all()
        assert (0 if reported is None else reported.height) == alerted
        assert live.held_back[TOO_FEW] == 1 - alerted


def test_one_scan_is_one_alert_whatever_its_probes_were_called():
    probes = [*(("10.9.0.66", VICTIM, i * 0.01, "PortScan", False) for i in range(30)),
              *(("10.9.0.66", VICTIM, 0.3 + i * 0.01, "OS Fingerprinting", False)
                for i in range(8)),
              *(("10.9.0.66", VICTIM, 0.4 + i * 0.01, "ServiceScan", False) for i in range(3)),
              ("10.9.0.67", VICTIM, 1.0, "OS Fingerprinting", False)]  # another host, alone
    table = build_sessions(scored_flows(probes))
    scan = table.sessions.row(0, named=True)
    assert table.sessions.height == 1 and scan["verdict"] == "PortScan"
    assert scan["flows"] == 41 and scan["src_ip"] == "10.9.0.66"
    # a fingerprinting verdict is a scan's: one lone probe is under the scan floor
    assert table.held_back["verdict"].to_list() == ["OS Fingerprinting"]
    assert table.held_back["rule"].to_list() == [TOO_FEW]


def test_a_floods_odd_flows_take_its_verdict_and_a_second_attack_keeps_its_own():
    syn = [(f"198.18.{i // 250}.{i % 250}", VICTIM, i * 0.01, "DoS Syn Flood", False)
           for i in range(200)]
    odd = [(f"198.19.0.{i}", VICTIM, 0.5 + i * 0.01, "DNS Tunnel", False) for i in range(25)]
    slow = [(f"198.20.0.{i}", VICTIM, 1.0 + i * 0.01, "DoS Slowloris", False)
            for i in range(60)]
    table = build_sessions(scored_flows(syn + odd + slow))
    verdicts = dict(zip(table.sessions["verdict"], table.sessions["flows"], strict=True))
    # 25 of 285 folded flows are the flood's noise; 60 of them (21%) are a second attack
    assert verdicts == {"DoS Syn Flood": 225, "DoS Slowloris": 60}
    table = build_sessions(scored_flows(syn[:50] + odd))  # 25 of 75: not noise
    assert set(table.sessions["verdict"]) == {"DoS Syn Flood", "DNS Tunnel"}
