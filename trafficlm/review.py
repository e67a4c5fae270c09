"""The review page: an analyst reads alerts, filters them, and marks them, in a browser.

``trafficlm review EVE_FILE`` serves one self-contained page (no CDN, no
external font or script) on 127.0.0.1 unless told otherwise. The page
fetches the alerts as JSON and renders every string from traffic with
``textContent``, never as markup, so a hostile URI or user agent in an alert
cannot run in the analyst's browser; the server also sends a
Content-Security-Policy that allows only its own inline script and style.
Each alert shows its explanation, its evidence as a table of packet,
direction and field (the form the tokenizer's provenance gives it), and two
buttons that append a line to the feedback log through ``feedback.append``
(the same hash chain as ``trafficlm feedback``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from trafficlm.feedback import (
    FeedbackError,
    Mark,
    alert_for_session,
    alerts_of,
    append,
    read_log,
)

MAX_BODY = 16_384  # bytes a feedback POST may carry
EVIDENCE = re.compile(r"packet (\d+) \((fwd|bwd)\): (.*)")


@dataclass
class ReviewState:
    eve: Path
    log: Path
    token: str  # a per-run secret the page sends back, so other local pages cannot post

    def alerts(self) -> list[dict]:
        marked = {r["alert"]["session_id"]: r["verdict"] for r in read_log(self.log)}
        return [_view(alert, marked.get(alert.get("trafficlm", {}).get("session_id")))
                for alert in alerts_of(self.eve)]


def _view(alert: dict, verdict: str | None) -> dict:
    tl = alert.get("trafficlm", {})
    evidence = []
    for item in tl.get("evidence") or []:
        match = EVIDENCE.match(item)
        evidence.append({"packet": match[1], "direction": match[2], "field": match[3]}
                        if match else {"packet": "", "direction": "", "field": item})
    return {"session_id": tl.get("session_id"), "signature": alert["alert"]["signature"],
            "severity": alert["alert"]["severity"], "src_ip": alert.get("src_ip"),
            "dest_ip": alert.get("dest_ip"), "dest_port": alert.get("dest_port"),
            "proto": alert.get("proto"), "timestamp": alert.get("timestamp"),
            "flows": tl.get("flows"), "explanation": tl.get("explanation"),
            "protocol_fields": tl.get("protocol_fields"), "evidence": evidence,
            "verdict": verdict}


def handler_for(state: ReviewState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8",
                           PAGE.replace("__TOKEN__", state.token).encode("utf-8"))
            elif self.path == "/alerts":
                self._json(HTTPStatus.OK, state.alerts())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/feedback":
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            if self.headers.get("X-Review-Token") != state.token:
                self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong review token"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                record = self._mark(body)
            except (TypeError, ValueError, FeedbackError) as err:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
                return
            self._json(HTTPStatus.OK, {"recorded": record["hash"]})

        def _mark(self, body: dict) -> dict:
            alert = alert_for_session(state.eve, int(body.get("session_id")))
            mark = Mark(str(body.get("verdict")), body.get("class") or None,
                        str(body.get("note") or ""), "review page")
            return append(state.log, alert, mark)

        def _json(self, status: HTTPStatus, value: object) -> None:
            self._send(status, "application/json", json.dumps(value).encode("utf-8"))

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy",
                             "default-src 'self'; script-src 'unsafe-inline'; "
                             "style-src 'unsafe-inline'")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the terminal shows the address once; requests are the analyst's own

    return Handler


def serve(eve: Path, log: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server ready to ``serve_forever()``; port 0 picks a free one."""
    alerts_of(eve)  # a missing or broken EVE file is refused before anything listens
    read_log(log)  # so is a tampered log
    state = ReviewState(eve, log, secrets.token_urlsafe(16))
    return ThreadingHTTPServer((host, port), handler_for(state))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TrafficLM review</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
header { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; }
.alert { border: 1px solid #ccc; border-radius: 6px; padding: .6em 1em; margin: .8em 0; }
.sev1 { border-left: 6px solid #c0392b; } .sev2 { border-left: 6px solid #e67e22; }
.sev3 { border-left: 6px solid #f1c40f; }
table { border-collapse: collapse; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.marked { color: #2c7a2c; font-weight: bold; }
.hidden { display: none; }
</style></head><body>
<header><h1>TrafficLM review</h1>
<label>class <select id="f-class"><option value="">all</option></select></label>
<label>host <input id="f-host" placeholder="an address"></label>
<label>severity <select id="f-severity"><option value="">all</option>
<option>1</option><option>2</option><option>3</option></select></label>
<span id="count"></span></header>
<main id="alerts"></main>
<script>
const TOKEN = "__TOKEN__";
let alerts = [];
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function card(a) {
  const box = el("section", null, "alert sev" + a.severity);
  box.dataset.session = a.session_id;
  box.appendChild(el("h2", "#" + a.session_id + " " + a.signature));
  box.appendChild(el("p", a.src_ip + " \\u2192 " + a.dest_ip + ":" + a.dest_port + " " +
                  a.proto + ", " + a.flows + " flow(s), severity " + a.severity +
                  ", " + a.timestamp));
  box.appendChild(el("p", a.explanation, "explanation"));
  if (a.protocol_fields) box.appendChild(el("p", "seen by tshark: " + a.protocol_fields));
  if (a.evidence.length) {
    const table = el("table");
    const head = el("tr");
    ["packet", "direction", "field"].forEach(h => head.appendChild(el("th", h)));
    table.appendChild(head);
    a.evidence.forEach(e => {
      const row = el("tr");
      [e.packet, e.direction, e.field].forEach(v => row.appendChild(el("td", v)));
      table.appendChild(row);
    });
    box.appendChild(table);
  }
  const status = el("span", a.verdict ? "marked " + a.verdict : "", "marked");
  for (const verdict of ["false-positive", "true-positive"]) {
    const button = el("button", verdict);
    button.dataset.verdict = verdict;
    button.onclick = () => mark(a, verdict, status);
    box.appendChild(button);
  }
  box.appendChild(status);
  return box;
}
async function mark(a, verdict, status) {
  const body = {session_id: a.session_id, verdict: verdict,
                class: verdict === "true-positive" ? a.signature.replace(/^TrafficLM /, "") : null};
  const reply = await fetch("/feedback", {method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-Review-Token": TOKEN}});
  const answer = await reply.json();
  status.textContent = reply.ok ? "marked " + verdict : "not recorded: " + answer.error;
}
function render() {
  const cls = document.getElementById("f-class").value;
  const host = document.getElementById("f-host").value.trim();
  const sev = document.getElementById("f-severity").value;
  let shown = 0;
  document.querySelectorAll(".alert").forEach((box, i) => {
    const a = alerts[i];
    const ok = (!cls || a.signature === cls) && (!sev || String(a.severity) === sev) &&
               (!host || a.src_ip === host || a.dest_ip === host);
    box.classList.toggle("hidden", !ok);
    shown += ok;
  });
  document.getElementById("count").textContent = shown + " of " + alerts.length + " alert(s)";
}
async function load() {
  alerts = await (await fetch("/alerts")).json();
  const list = document.getElementById("alerts");
  alerts.forEach(a => list.appendChild(card(a)));
  const classes = [...new Set(alerts.map(a => a.signature))].sort();
  const select = document.getElementById("f-class");
  classes.forEach(c => select.appendChild(el("option", c)));
  ["f-class", "f-severity"].forEach(id => document.getElementById(id).onchange = render);
  document.getElementById("f-host").oninput = render;
  render();
}
load();
</script></body></html>
"""
