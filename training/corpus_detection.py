"""Triage on whole labelled captures: per manifest label, how many captures raise an alert.

The flow-level test split says how well flows are classified; an analyst
asks a coarser question of each capture: "did it alert, and as what?". Each
capture goes through the same scoring and sessions as ``trafficlm triage``.
An attack capture counts as detected when one of its sessions has a fitting
verdict: the class we have for its label (a port scan must be called a scan),
or, for labels no class of ours covers (malware, exploits), any alert: the
analyst is sent to the capture, and the class shown is the nearest we know.
Benign captures used in training are left out.
"""

from __future__ import annotations

from collections import defaultdict

from trafficlm.capture import CaptureReport
from trafficlm.detect import scored_frame
from trafficlm.flows import FlowBatch
from trafficlm.model import TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sessions import build_sessions
from trafficlm.training.datasets.manifest import ManifestCapture

SCANS = ("PortScan", "ServiceScan", "UDPScan")
# manifest label -> the verdicts that fit it; a label not listed is fitted by any alert
FITTING: dict[str, tuple[str, ...]] = {
    "dns_tunnel": ("DNS Tunnel",),
    "brute_force_ftp": ("FTP-Patator",), "brute_force_ssh": ("SSH-Patator",),
    "port_scan": SCANS, "recon_os_fingerprint": SCANS, "scan_vnc": SCANS,
    "dos_syn_flood": ("DoS Syn Flood",),
    "dos_slowloris": ("DoS Slowloris", "DoS Slowhttptest"),
    "ddos_slowloris": ("DoS Slowloris", "DoS Slowhttptest"),
    "web_attack_sqli": ("Web Attack \u2013 Sql Injection",),
    "web_attack_path_traversal": ("Web Attack \u2013 Path Traversal",),
}
SKIPPED_LABELS = ("unknown",)


def capture_verdicts(model: TrafficModel, path: str) -> set[str]:
    """The verdicts of the sessions triage would alert on in one capture."""
    batches = list(capture_flows(path, CaptureReport(path)))
    if not batches:
        return set()
    frame = scored_frame(model, FlowBatch.concat(batches), path)
    return set(build_sessions(frame).sessions["verdict"].to_list())


def corpus_detection(model: TrafficModel, captures: list[ManifestCapture],
                     benign_labels: list[str], say=print) -> dict:
    """Per label: captures, share with any alert, share with a fitting alert."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"captures": 0, "any_alert": 0,
                                                             "fitting_alert": 0})
    for capture in captures:
        if capture.label in SKIPPED_LABELS:
            continue
        verdicts = capture_verdicts(model, capture.path)
        row = counts[capture.label]
        row["captures"] += 1
        row["any_alert"] += bool(verdicts)
        fitting = FITTING.get(capture.label)
        row["fitting_alert"] += bool(verdicts & set(fitting) if fitting else verdicts)
    benign = [counts[b] for b in benign_labels if b in counts]
    attacks = [row for label, row in counts.items() if label not in benign_labels]
    summary = {
        "benign_captures": sum(r["captures"] for r in benign),
        "benign_with_any_alert": _share(benign, "any_alert"),
        "attack_captures": sum(r["captures"] for r in attacks),
        "attacks_with_fitting_alert": _share(attacks, "fitting_alert"),
        "attacks_with_any_alert": _share(attacks, "any_alert"),
        "attack_labels": len(attacks),
        "single_capture_labels": sum(r["captures"] == 1 for r in attacks),
    }
    say(f"corpus detection: {summary}")
    return {"summary": summary, "per_label": dict(sorted(counts.items()))}


def _share(rows: list[dict[str, int]], key: str) -> float | None:
    total = sum(r["captures"] for r in rows)
    return round(sum(r[key] for r in rows) / total, 4) if total else None
