"""Deep protocol fields of alerted flows, read by tshark through pyshark when it is installed.

The model sees at most the first bytes of the first packets; an analyst
wants the HTTP request line, the user agent, the DNS names, the TLS server
name. tshark dissects only the requests of the alerted hosts (a display
filter), and each field is attached to the session whose flow carried it.
Without tshark the explanations simply go without these fields.
"""

from __future__ import annotations

import shutil
from collections import defaultdict

import polars as pl

REQUESTS = "(http.request || dns.flags.response == 0 || tls.handshake.type == 1)"
FIELDS = (("http", "request_method", "HTTP"), ("http", "request_uri", "URI"),
          ("http", "user_agent", "user-agent"), ("dns", "qry_name", "DNS query"),
          ("tls", "handshake_extensions_server_name", "TLS SNI"))
MAX_PER_SESSION = 5  # distinct values of each field kept per session
MAX_HOST_PAIRS = 64  # keeps the display filter (and tshark's work) bounded


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def deep_fields(capture: str, alerted: pl.DataFrame
                ) -> tuple[dict[int, dict[str, list[str]]], str | None]:
    """(session_id -> field name -> distinct values, from ``alerted`` flows of one capture;
    why tshark stopped early, if it did). A capture cut short mid-packet makes tshark exit
    with an error after it has read every whole packet: what it read is kept."""
    if not tshark_available() or alerted.is_empty():
        return {}, None
    import pyshark
    from pyshark.capture.capture import TSharkCrashException

    owners = {(r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"]): r["session_id"]
              for r in alerted.iter_rows(named=True)}
    pairs = alerted.select("src_ip", "dst_ip").unique().head(MAX_HOST_PAIRS)
    hosts = " || ".join(f"({_addr(a)}.src == {a} && {_addr(b)}.dst == {b})"
                        for a, b in pairs.iter_rows())
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    capture_file = pyshark.FileCapture(capture, display_filter=f"{REQUESTS} && ({hosts})",
                                       keep_packets=False)
    problem = None
    try:
        try:
            for packet in capture_file:
                session = owners.get(_four_tuple(packet))
                if session is not None:
                    _collect(packet, found[session])
        finally:
            capture_file.close()  # raises too when tshark exited with an error
    except TSharkCrashException as err:
        # pyshark keeps the dead tshark registered and would raise again on garbage collection
        capture_file._running_processes.clear()
        problem = f"{capture}: tshark stopped early ({_last_line(err)})"
    return {k: dict(v) for k, v in found.items()}, problem


def _last_line(err: Exception) -> str:
    """tshark's own complaint, from pyshark's three-line message."""
    lines = str(err).splitlines()
    return next((line.removeprefix("Last error line: ") for line in lines
                 if line.startswith("Last error line: ")), lines[0] if lines else repr(err))


def _addr(ip: str) -> str:
    return "ipv6" if ":" in ip else "ip"


def _four_tuple(packet) -> tuple | None:
    network = getattr(packet, "ip", None) or getattr(packet, "ipv6", None)
    transport = packet.transport_layer
    if network is None or transport is None:
        return None
    layer = packet[transport]
    return (network.src, int(layer.srcport), network.dst, int(layer.dstport))


def _collect(packet, fields: dict[str, list[str]]) -> None:
    layers = {layer.layer_name: layer for layer in packet.layers}
    for layer_name, field, title in FIELDS:
        layer = layers.get(layer_name)
        value = layer.get_field_value(field) if layer is not None else None
        if value and value not in fields[title] and len(fields[title]) < MAX_PER_SESSION:
            fields[title].append(str(value))


def describe(fields: dict[str, list[str]]) -> str:
    """'HTTP GET; URI /search?q=...; user-agent sqlmap/1.7' for an explanation."""
    return "; ".join(f"{title} {', '.join(values)}" for title, values in fields.items())
