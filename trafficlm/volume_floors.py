"""Flows a volume verdict needs before it is alerted on: the floors under the session rules.

Kept apart from ``session_rules`` (which needs polars) so that ``trafficlm
triage --help`` and the sensor's config check can show and check them
without loading the table machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

DOS_WORD = "DoS"  # in every denial-of-service verdict: "DoS Slowloris", CIC-IDS2017's "DDoS"
SCAN_WORDS = ("Scan", "Fingerprint")  # PortScan, UDPScan, ServiceScan, OS Fingerprinting
BRUTE_FORCE_WORDS = ("Patator", "Brute Force")  # SSH-Patator, Web Attack – Brute Force, ...
# DNS Tunnel, ICMP Tunnel, C2 Beacon: a tunnel carries data over many messages, a beacon is
# periodic only from its third check-in
TUNNEL_WORDS = ("Tunnel", "Beacon")
UNKNOWN_WORD = "unlike training"  # "Unknown (unlike training)": an attack class of none


@dataclass(frozen=True)
class VolumeFloors:
    """Flows a volume verdict needs at one destination before it is alerted on; a denial of
    service may have packets instead, a scan needs hosts or ports probed from its source,
    flows unlike training need a second one at the same host.

    Floors, not the detector: the model (and its session context) decides
    what a flow is; these only keep one lone flow that looks like a flood,
    a scan or a guess from becoming an alert of its own. Triage sets them
    with ``--min-dos-flows`` etc., the sensor in ``configs/sensor.toml``.
    """

    dos: int = 10
    scan: int = 5  # distinct hosts, or distinct ports, one source probed
    brute_force: int = 5
    tunnel: int = 3
    # ... or packets a DoS verdict reaches instead: a flood from one host can be one flow
    # (ICMP echo requests under one id, BlackNurse's 10,000 unreachables in one flow)
    dos_packets: int = 1000
    # flows unlike training a host must see: the open set passes 1 benign flow in 1,000 of
    # the validation's, so in a large capture one odd flow is expected; two at one host
    # are a pattern (a lone FTP data channel or mis-dissected flow was alerted before)
    unknown: int = 2

    def by_word(self) -> tuple[tuple[str, int], ...]:
        """(word in the verdict, volume needed); the first word that matches counts."""
        return ((DOS_WORD, self.dos), *((word, self.scan) for word in SCAN_WORDS),
                *((word, self.brute_force) for word in BRUTE_FORCE_WORDS),
                *((word, self.tunnel) for word in TUNNEL_WORDS), (UNKNOWN_WORD, self.unknown))


DEFAULT_FLOORS = VolumeFloors()
