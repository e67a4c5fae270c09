"""Triage on whole labelled captures: per manifest label, how many captures raise an alert.

The flow-level test split says how well flows are classified; an analyst
asks a coarser question of each capture: "did it alert, and as what?". Each
capture goes through the same scoring and sessions as ``trafficlm triage``.
An attack capture counts as detected when one of its sessions has a fitting
verdict: the class we have for its label (a port scan must be called a scan),
or, for labels no class of ours covers (malware, exploits), any alert: the
analyst is sent to the capture, and the class shown is the nearest we know.
Benign captures used in training are left out. The Zeek-style counting rules
(``counting_rules``) are scored on the same flows by the same measure: the
yardstick the model has to beat, family by family.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from trafficlm.capture import CaptureReport
from trafficlm.detect import scored_frame
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.model import TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sessions import SessionTable, build_sessions
from trafficlm.training.counting_rules import rule_verdicts
from trafficlm.training.datasets.manifest import ManifestCapture
from trafficlm.training.operating_points import operating_points

SCANS = ("PortScan", "ServiceScan", "UDPScan", "OS Fingerprinting")
FLOODS = ("DoS Syn Flood", "DoS UDP Flood", "DoS ICMP Flood", "DoS HTTP Flood")
SLOW_DOS = ("DoS Slowloris", "DoS Slowhttptest")
# manifest label -> the verdicts that fit it; a label not listed is fitted by any alert.
# The listed labels are the families the wide testbed stages (scans, brute force, floods,
# slow DoS, web attacks, tunnels): a model trained on the testbed alone is judged on them
# by the sim-to-real summary.
FITTING: dict[str, tuple[str, ...]] = {
    "dns_tunnel": ("DNS Tunnel",), "covert_channel_icmp": ("ICMP Tunnel",),
    "brute_force_ftp": ("FTP-Patator",), "brute_force_ssh": ("SSH-Patator",),
    "port_scan": SCANS, "recon_os_fingerprint": SCANS, "scan_vnc": SCANS,
    "dos_syn_flood": ("DoS Syn Flood",), "dos_udp_flood": ("DoS UDP Flood",),
    "dos_icmp_flood": ("DoS ICMP Flood",), "dos_icmp_blacknurse": ("DoS ICMP Flood",),
    "ddos_mixed": FLOODS,
    "dos_slowloris": SLOW_DOS, "ddos_slowloris": SLOW_DOS,
    "web_attack_sqli": ("Web Attack \u2013 Sql Injection",),
    "web_attack_path_traversal": ("Web Attack \u2013 Path Traversal",),
}
SKIPPED_LABELS = ("unknown",)
COUNTS = ("captures", "any_alert", "fitting_alert", "rules_any_alert", "rules_fitting_alert")


def read_capture(path: str) -> FlowBatch | None:
    """Every flow of one whole capture; None when it holds none."""
    batches = list(capture_flows(path, CaptureReport(path)))
    return FlowBatch.concat(batches) if batches else None


def capture_sessions(model: TrafficModel, path: str,
                     flows: FlowBatch | None = None) -> tuple[int, SessionTable]:
    """(flows read, the sessions triage would report) for one whole capture; ``flows``:
    the capture's flows, when already read."""
    flows = read_capture(path) if flows is None else flows
    if flows is None:
        return 0, SessionTable.empty()
    return len(flows), build_sessions(scored_frame(model, flows, path))


def capture_verdicts(model: TrafficModel, path: str,
                     flows: FlowBatch | None = None) -> dict[str, float]:
    """The verdicts of the sessions triage would alert on in one capture, each with its
    surest session's mean attack score (``operating_points`` replays a minimum on it)."""
    sessions = capture_sessions(model, path, flows)[1].sessions
    if sessions.is_empty():
        return {}
    top = sessions.group_by("verdict").agg(pl.col("mean_attack_score").max())
    return {verdict: round(float(score), 4) for verdict, score in top.iter_rows()}


def corpus_detection(model: TrafficModel, captures: list[ManifestCapture],
                     benign_labels: list[str], say=print) -> dict:
    """Per label: captures, share with any alert, share with a fitting alert; the same for
    the counting rules (``counting_rules``) on the same flows; and per capture, the verdicts
    of both (which benign capture alerted, and as what, is where a model's next fix is)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    verdicts_per_capture = []
    for capture in captures:
        if capture.label in SKIPPED_LABELS:
            continue
        flows = read_capture(capture.path)
        row = counts[capture.label]
        row["captures"] += 1
        scores = capture_verdicts(model, capture.path, flows)
        model_verdicts = set(scores)
        rules = rule_verdicts(flows_frame(flows)) if flows else set()
        for prefix, verdicts in (("", model_verdicts), ("rules_", rules)):
            row[f"{prefix}any_alert"] += bool(verdicts)
            row[f"{prefix}fitting_alert"] += _fits(capture.label, verdicts)
        verdicts_per_capture.append({"capture": capture.path, "label": capture.label,
                                     "benign": capture.label in benign_labels,
                                     "verdicts": sorted(model_verdicts), "scores": scores,
                                     "rules": sorted(rules)})
    benign = [counts[b] for b in benign_labels if b in counts]
    attacks = [row for label, row in counts.items() if label not in benign_labels]
    staged = [row for label, row in counts.items() if label in FITTING]
    summary = {
        "benign_captures": sum(r["captures"] for r in benign),
        "benign_with_any_alert": _share(benign, "any_alert"),
        "attack_captures": sum(r["captures"] for r in attacks),
        "attacks_with_fitting_alert": _share(attacks, "fitting_alert"),
        "attacks_with_any_alert": _share(attacks, "any_alert"),
        "attack_labels": len(attacks),
        "single_capture_labels": sum(r["captures"] == 1 for r in attacks),
        # sim-to-real: the attack families the testbed stages, recorded elsewhere
        "staged_captures": sum(r["captures"] for r in staged),
        "staged_with_fitting_alert": _share(staged, "fitting_alert"),
        "rules_benign_with_any_alert": _share(benign, "rules_any_alert"),
        "rules_attacks_with_fitting_alert": _share(attacks, "rules_fitting_alert"),
        "rules_staged_with_fitting_alert": _share(staged, "rules_fitting_alert"),
        # labels the rules find in more captures than the model does
        "rules_ahead": sorted(label for label, row in counts.items()
                              if row["rules_fitting_alert"] > row["fitting_alert"]),
    }
    say(f"corpus detection: {summary}")
    return {"summary": summary, "per_label": dict(sorted(counts.items())),
            "captures": verdicts_per_capture,
            "operating_points": _operating_points(verdicts_per_capture)}


def _operating_points(captures: list[dict]) -> list[dict]:
    """The table's captures replayed at stricter minimum session scores."""
    attacks = [(c["scores"], lambda verdicts, label=c["label"]: _fits(label, verdicts))
               for c in captures if not c["benign"]]
    benign = [c for c in captures if c["benign"]]
    return operating_points(attacks, [c["scores"] for c in benign], len(benign))


def _fits(label: str, verdicts: set[str]) -> bool:
    """A verdict of the label's fitting classes; any verdict for a label none fits."""
    fitting = FITTING.get(label)
    return bool(verdicts & set(fitting) if fitting else verdicts)


def _share(rows: list[dict[str, int]], key: str) -> float | None:
    total = sum(r["captures"] for r in rows)
    return round(sum(r[key] for r in rows) / total, 4) if total else None
