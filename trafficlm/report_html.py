"""``triage --html``: one self-contained page an analyst can open or attach to a ticket.

No scripts, no external files: inline CSS and SVG charts (a session
timeline and the alerts per class), the top talkers, and every alert with
its explanation and evidence, escaped so a hostile payload stays text.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

import polars as pl

from trafficlm.sessions import explanation

STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.sev1{color:#b00;font-weight:bold}
.sev2{color:#c60}.sev3{color:#666}code{background:#f6f6f6;white-space:pre-wrap}
svg text{font:11px system-ui,sans-serif}"""
WIDTH, ROW = 900, 16


def html_report(flows_scored: int, sessions: pl.DataFrame, held_back: pl.DataFrame,
                captures: list[str]) -> str:
    """The page for one triage run: how many flows were scored, ``sessions`` alerted, and the
    sessions held back (``session_rules``), so the reader sees what was not alerted."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>TrafficLM triage</title>"
             f"<style>{STYLE}</style><h1>TrafficLM triage</h1>",
             f"<p>{len(captures)} capture(s): {escape(', '.join(captures))}<br>"
             f"{flows_scored} flows scored, {sessions.height} alerted session(s), "
             f"{held_back.height} held back.</p>"]
    if sessions.is_empty():
        parts.append("<p>No suspicious sessions.</p>")
    else:
        parts += ["<h2>Timeline</h2>", _timeline(sessions),
                  "<h2>Alerts per class</h2>", _class_bars(sessions),
                  "<h2>Top talkers</h2>", _talkers(sessions),
                  "<h2>Alerts</h2>", _alerts(sessions)]
    if not held_back.is_empty():
        parts += ["<h2>Held back (not alerted on their own)</h2>", _held_back(held_back)]
    return "".join(parts)


def _timeline(sessions: pl.DataFrame) -> str:
    first = sessions["first_seen"].min()
    span = max((sessions["last_seen"].max() - first).total_seconds(), 1e-3)
    rows = []
    for i, s in enumerate(sessions.iter_rows(named=True)):
        x = 220 + (s["first_seen"] - first).total_seconds() / span * (WIDTH - 240)
        w = max(2.0, (s["last_seen"] - s["first_seen"]).total_seconds() / span * (WIDTH - 240))
        y = 20 + i * ROW
        rows.append(f"<text x='4' y='{y + 11}'>#{s['session_id']} {escape(s['verdict'])}</text>"
                    f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='12' "
                    f"class='sev{s['severity']}' fill='{_colour(s['severity'])}'/>")
    height = 30 + sessions.height * ROW
    return (f"<svg width='{WIDTH}' height='{height}' role='img'>"
            f"<text x='220' y='12'>{_when(first)}</text>"
            f"<text x='{WIDTH - 180}' y='12'>+{span:.1f} s</text>{''.join(rows)}</svg>")


def _class_bars(sessions: pl.DataFrame) -> str:
    counts = sessions.group_by("verdict").agg(pl.len().alias("sessions"),
                                              pl.col("flows").sum()).sort("flows", descending=True)
    top = max(counts["flows"].max(), 1)
    bars = []
    for i, (verdict, n, flows) in enumerate(counts.iter_rows()):
        w = flows / top * (WIDTH - 360)
        bars.append(f"<text x='4' y='{i * ROW + 12}'>{escape(verdict)}</text>"
                    f"<rect x='220' y='{i * ROW + 2}' width='{w:.1f}' height='12' fill='#48c'/>"
                    f"<text x='{226 + w:.1f}' y='{i * ROW + 12}'>{flows} flows, {n} session(s)"
                    "</text>")
    return f"<svg width='{WIDTH}' height='{counts.height * ROW + 6}'>{''.join(bars)}</svg>"


def _talkers(sessions: pl.DataFrame) -> str:
    talkers = sessions.group_by("src_ip").agg(
        pl.col("flows").sum(), pl.len().alias("sessions"),
        pl.col("verdict").unique().sort().str.join(", ").alias("verdicts")).sort(
        "flows", descending=True).head(10)
    rows = "".join(f"<tr><td>{escape(ip)}</td><td>{flows}</td><td>{n}</td>"
                   f"<td>{escape(verdicts)}</td></tr>" for ip, flows, n, verdicts in
                   talkers.iter_rows())
    return ("<table><tr><th>source</th><th>alerted flows</th><th>sessions</th>"
            f"<th>verdicts</th></tr>{rows}</table>")


def _alerts(sessions: pl.DataFrame) -> str:
    rows = []
    for s in sessions.iter_rows(named=True):
        rows.append(f"<tr><td>{s['session_id']}</td><td class='sev{s['severity']}'>"
                    f"{s['severity']}</td><td>{escape(s['verdict'])}</td>"
                    f"<td>{escape(s['src_ip'])} → {escape(s['dst_ip'])}</td>"
                    f"<td>{_when(s['first_seen'])}</td>"
                    f"<td><code>{escape(explanation(s))}</code></td></tr>")
    return ("<table><tr><th>#</th><th>sev</th><th>verdict</th><th>hosts</th><th>first seen</th>"
            f"<th>explanation</th></tr>{''.join(rows)}</table>")


def _held_back(held_back: pl.DataFrame) -> str:
    rows = "".join(f"<tr><td>{escape(h['verdict'])}</td><td>{escape(h['src_ip'])} → "
                   f"{escape(h['dst_ip'])}</td><td>{h['flows']}</td>"
                   f"<td>{escape(h['reason'])}</td></tr>"
                   for h in held_back.iter_rows(named=True))
    return ("<table><tr><th>verdict</th><th>hosts</th><th>flows</th><th>why</th></tr>"
            f"{rows}</table>")


def _colour(severity: int) -> str:
    return {1: "#c22", 2: "#e80"}.get(severity, "#999")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
