"""Sessions as Suricata EVE JSON alerts, so Filebeat, Wazuh and Splunk ingest them unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from trafficlm.sessions import explanation

GID = 7781  # TrafficLM's generator id; signature ids are 7781000 + class index
SIGNATURE_BASE = 7_781_000
APP_PROTOCOLS = {80: "http", 443: "tls", 8080: "http", 22: "ssh", 21: "ftp", 53: "dns",
                 25: "smtp", 1883: "mqtt"}


def eve_alert(session: dict, labels: list[str], model: dict[str, list[str]],
              explanation: str) -> str:
    """One EVE line for one session."""
    verdict = session["verdict"]
    index = labels.index(verdict) if verdict in labels else len(labels)
    event = {
        "timestamp": _iso(session["first_seen"]),
        "flow_id": int(session["flow_id"]),
        "event_type": "alert",
        "src_ip": session["src_ip"], "src_port": int(session["src_port"]),
        "dest_ip": session["dst_ip"], "dest_port": int(session["top_dst_port"]),
        "proto": session["proto"],
        "alert": {
            "action": "allowed", "gid": GID, "signature_id": SIGNATURE_BASE + index, "rev": 1,
            "signature": f"TrafficLM {verdict}",
            "category": "Unknown Traffic" if index == len(labels) else "Attempted Attack",
            "severity": int(session["severity"]),
            "metadata": {**model, "flows": [str(session["flows"])]},
        },
        "flow": {"pkts_toserver": int(session["pkts_toserver"]),
                 "pkts_toclient": int(session["pkts_toclient"]),
                 "bytes_toserver": int(session["bytes_toserver"]),
                 "bytes_toclient": int(session["bytes_toclient"]),
                 "start": _iso(session["first_seen"])},
        "trafficlm": {"session_id": int(session["session_id"]), "flows": int(session["flows"]),
                      "sources": int(session.get("sources") or 1),
                      "destinations": int(session.get("destinations") or 1),
                      "dest_ports": int(session["dst_ports"]),
                      "attack_score": round(float(session["mean_attack_score"]), 4),
                      "confidence": round(float(session["mean_confidence"]), 4),
                      "unlike_training": round(float(session["share_unlike_training"]), 4),
                      "last_seen": _iso(session["last_seen"]), "explanation": explanation,
                      "evidence": list(session.get("evidence") or []),
                      "protocol_fields": session.get("protocol_fields"),
                      "content_hashes": [f"{h:016x}" for h in
                                         session.get("content_hashes") or []]},
    }
    app = APP_PROTOCOLS.get(int(session["top_dst_port"]))
    if app:
        event["app_proto"] = app
    return json.dumps(event, ensure_ascii=False)


def eve_lines(sessions: pl.DataFrame, labels: list[str], model: dict[str, list[str]]
              ) -> list[str]:
    """One EVE alert line per session row, each with its explanation; ``model``: the
    model's metadata (``TrafficModel.metadata``)."""
    return [eve_alert(row, labels, model, explanation(row))
            for row in sessions.iter_rows(named=True)]


def stats_event(stats: dict) -> str:
    """A stats event, as Suricata's eve.json interleaves them with alerts: what the run
    counted beside what it alerted (flows scored, sessions held back by rule), so a SIEM
    sees what was not alerted without reading stderr. Stamped with the time it is written."""
    return json.dumps({"timestamp": _iso(datetime.now(UTC)), "event_type": "stats",
                       "stats": stats}, ensure_ascii=False)


def _iso(moment: datetime) -> str:
    """Suricata's timestamp style: microseconds and a numeric UTC offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
