"""The yardstick: a dozen Zeek-style counting rules over a capture's flows.

A brute force, a scan or a flood is many flows doing the same thing, and a
site without any model already catches many of them by counting: Zeek's scan
detector (15 ports on one host, or 25 hosts on one port, in 5 minutes), its
SSH (30 guesses in 30 minutes) and FTP (20 rejected logins in 15 minutes)
guessing detectors, and rate rules any NIDS ships for floods and tunnels. The
model is only worth its cost where it finds more than these, so the corpus
tables score them on the same whole captures, family by family.

Every rule counts flows per key (a source, a source and a host, a host) in
windows of its length that overlap by half, and fires when one window reaches
its threshold. Failed logins are counted as connections (the flow table does
not parse FTP or SSH replies), which is kinder to the rules than Zeek is.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

WEB_PORTS = (80, 443, 8000, 8080, 8443)


@dataclass(frozen=True)
class CountingRule:
    """``verdict`` when ``count`` over the ``where`` flows of one ``keys`` group reaches
    ``threshold`` within ``window_s``; ``source`` says where the numbers come from."""

    verdict: str
    keys: tuple[str, ...]
    where: pl.Expr
    count: pl.Expr
    threshold: int
    window_s: int
    source: str


def _tcp_to(*ports: int) -> pl.Expr:
    return (pl.col("proto") == "TCP") & pl.col("dst_port").is_in(list(ports))


_UNANSWERED = (pl.col("packets_bwd") == 0) | (pl.col("rst_count") > 0)
_FLOWS = pl.len()

RULES = (
    CountingRule("PortScan", ("src_ip", "dst_ip"), _UNANSWERED & (pl.col("proto") != "ICMP"),
                 pl.col("dst_port").n_unique(), 15, 300, "Zeek Scan::port_scan_threshold"),
    CountingRule("PortScan", ("src_ip", "dst_port"), _UNANSWERED & (pl.col("proto") != "ICMP"),
                 pl.col("dst_ip").n_unique(), 25, 300, "Zeek Scan::addr_scan_threshold"),
    CountingRule("SSH-Patator", ("src_ip", "dst_ip"), _tcp_to(22), _FLOWS, 30, 1800,
                 "Zeek SSH::password_guesses_limit"),
    CountingRule("FTP-Patator", ("src_ip", "dst_ip"), _tcp_to(21), _FLOWS, 20, 900,
                 "Zeek FTP::bruteforce_threshold"),
    CountingRule("DoS Syn Flood", ("dst_ip",),
                 (pl.col("proto") == "TCP") & (pl.col("syn_count") > 0)
                 & (pl.col("payload_bytes_fwd") == 0) & (pl.col("packets_fwd") <= 3),
                 _FLOWS, 1000, 60, "half-open connections per victim and minute"),
    CountingRule("DoS UDP Flood", ("dst_ip",), pl.col("proto") == "UDP",
                 pl.col("packets_fwd").sum(), 10_000, 60, "UDP packets per victim and minute"),
    CountingRule("DoS ICMP Flood", ("dst_ip",), pl.col("proto") == "ICMP",
                 pl.col("packets_fwd").sum(), 5_000, 60, "ICMP packets per victim and minute"),
    CountingRule("DoS HTTP Flood", ("src_ip", "dst_ip"), _tcp_to(*WEB_PORTS), _FLOWS, 500, 60,
                 "web connections per client, server and minute"),
    CountingRule("DoS Slowloris", ("src_ip", "dst_ip"),
                 _tcp_to(*WEB_PORTS) & (pl.col("duration_s") >= 30)
                 & (pl.col("payload_bytes_fwd") < 2048), _FLOWS, 50, 300,
                 "long, nearly silent web connections per client and server"),
    CountingRule("DNS Tunnel", ("src_ip",),
                 (pl.col("proto") == "UDP") & (pl.col("dst_port") == 53)
                 & (pl.col("payload_bytes_fwd") >= 80 * pl.col("packets_fwd")),
                 _FLOWS, 100, 300, "queries of 80 bytes or more per client in 5 minutes"),
    CountingRule("ICMP Tunnel", ("src_ip", "dst_ip"),
                 (pl.col("proto") == "ICMP")
                 & (pl.col("payload_bytes_fwd") >= 200 * pl.col("packets_fwd")),
                 pl.col("packets_fwd").sum(), 100, 300,
                 "echo payloads of 200 bytes or more per pair in 5 minutes"),
    CountingRule("Web Attack \u2013 Brute Force", ("src_ip", "dst_ip"), _tcp_to(*WEB_PORTS),
                 _FLOWS, 100, 300, "web connections per client and server in 5 minutes"),
)


def rule_verdicts(frame: pl.DataFrame) -> set[str]:
    """The verdicts of the rules that fire on a capture's flow frame (flows_frame)."""
    verdicts = set()
    for rule in RULES:
        if rule.verdict not in verdicts and fires(rule, frame):
            verdicts.add(rule.verdict)
    return verdicts


def fires(rule: CountingRule, frame: pl.DataFrame) -> bool:
    """Whether one window of one key reaches the rule's threshold."""
    flows = frame.filter(rule.where)
    if flows.is_empty():
        return False
    half = max(1, rule.window_s // 2)
    counts = (flows.sort("start")
              .group_by_dynamic("start", every=f"{half}s", period=f"{rule.window_s}s",
                                group_by=list(rule.keys))
              .agg(rule.count.alias("n")))
    return bool((counts["n"] >= rule.threshold).any())
