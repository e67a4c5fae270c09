"""``trafficlm triage``: the suspicious sessions in captures, ranked, each with its reasons."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from trafficlm.commands.common import (
    add_flow_options,
    each_capture_flows,
    flow_config,
    number,
    warn,
)
from trafficlm.errors import ExitCode
from trafficlm.flows import FlowBatch
from trafficlm.model_files import DEFAULT_MODEL_DIR
from trafficlm.output import OutputError, OutputFile, refuse_inputs_as_outputs

if TYPE_CHECKING:
    from trafficlm.sessions import SessionTable

FAIL_ON_ALERT = 4
SESSION_COLUMNS = ("session_id", "severity", "verdict", "src_ip", "dst_ip", "proto",
                   "first_seen", "last_seen", "flows", "dst_ports", "top_dst_port",
                   "mean_attack_score", "mean_confidence", "share_unlike_training", "packets",
                   "bytes_toserver", "bytes_toclient", "explanation")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("triage", help="rank the suspicious sessions in captures",
                                 description="Score every flow with the traffic model and "
                                             "report the suspicious sessions.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="a model directory (default: the bundled model)")
    cutoff = parser.add_mutually_exclusive_group()
    cutoff.add_argument("--threshold", type=number(float, 0, 1), metavar="X",
                        help="alert when 1 - P(benign) >= X (default: the likeliest class)")
    cutoff.add_argument("--fpr", type=number(float, 0, 1, above=True), metavar="X",
                        help="alert at this false-positive rate on the model's benign "
                             "validation flows (e.g. 0.001)")
    parser.add_argument("--format", choices=("table", "eve", "jsonl", "csv"), default="table")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    parser.add_argument("--extract", metavar="DIR",
                        help="write each alerted session's packets to DIR as a pcap")
    parser.add_argument("--int8", action="store_true",
                        help="score with int8 dynamic quantisation (faster on CPU)")
    parser.add_argument("--fail-on-alert", action="store_true",
                        help=f"exit {FAIL_ON_ALERT} when any session is alerted")
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode | int:
    from trafficlm.detect import AlertPolicy, scored_frame
    from trafficlm.extract import check_directory
    from trafficlm.model import TrafficModel
    from trafficlm.report_html import html_report

    model = TrafficModel(args.model)  # a bad model directory fails before any work
    if args.int8:
        model.quantize()
    policy = AlertPolicy.choose(model, args.threshold, args.fpr)
    outputs = [p for p in (args.out, args.html, args.extract) if p]
    refuse_inputs_as_outputs(args.captures, outputs)
    extract_dir = check_directory(args.extract) if args.extract else None
    html = OutputFile(args.html) if args.html else None  # unwritable: fail now
    out = OutputFile(args.out)
    frames: list[pl.DataFrame] = []

    def score(flows: FlowBatch, path: str) -> None:
        frames.append(scored_frame(model, flows, path, policy))

    try:
        code = each_capture_flows(args.captures, flow_config(args), score, outputs)
        table, flows = _sessions(frames)
        _write(table.sessions, model, args.format, out)
        if html is not None:
            html.write(html_report(flows, table.sessions, table.held_back, args.captures))
    finally:
        for stream in (out, html):
            if stream is not None:
                stream.close()
    if extract_dir is not None and not _extract(table, extract_dir):
        code = max(code, ExitCode.PARTIAL)
    if args.fail_on_alert and table.sessions.height:
        return FAIL_ON_ALERT
    return code


def _sessions(frames: list[pl.DataFrame]) -> tuple[SessionTable, pl.DataFrame]:
    """(the sessions of every scored flow, with their protocol fields; the scored flows)."""
    from trafficlm.sessions import SessionTable, build_sessions

    if not frames:
        warn("0 flows, nothing to triage")
        return SessionTable.empty(), pl.DataFrame()
    flows = pl.concat(frames, how="vertical_relaxed")
    table = build_sessions(flows)
    table.sessions = _with_protocol_fields(table.sessions, table.flows)
    warn(f"{flows.height} flows scored, {table.flows.height} alerted in "
         f"{table.sessions.height} session(s)")
    _warn_held_back(table.held_back)
    return table, flows


def _extract(table: SessionTable, directory: Path) -> bool:
    """Each session's packets to ``directory``, after the report is safely written: a full
    disk here costs extracts, never the report. False when some could not be written."""
    from trafficlm.extract import extract_sessions

    if table.sessions.is_empty():
        return True
    try:
        packets = extract_sessions(table.flows, table.sessions, directory)
    except OutputError as err:
        warn(f"error: {err}")
        return False
    warn(f"{packets} packets of {table.sessions.height} session(s) written to {directory}")
    return True


def _warn_held_back(held_back: pl.DataFrame) -> None:
    """How many sessions were not alerted on their own, by rule (see session_rules)."""
    from trafficlm.session_rules import RULES

    for (rule,), part in held_back.group_by("rule", maintain_order=True):
        verdicts = ", ".join(sorted(set(part["verdict"])))
        warn(f"{part.height} session(s) of {part['flows'].sum()} flow(s) held back: "
             f"{RULES[rule]} ({verdicts})")


def _with_protocol_fields(sessions: pl.DataFrame, alerted: pl.DataFrame) -> pl.DataFrame:
    """HTTP/DNS/TLS fields of each session's flows, when tshark is installed."""
    from trafficlm.deep_fields import deep_fields, describe, tshark_available

    found: dict[int, str] = {}
    if tshark_available():
        for capture in alerted["capture"].unique().to_list():
            mine = alerted.filter(pl.col("capture") == capture)
            for session, fields in deep_fields(capture, mine).items():
                found[session] = describe(fields)
    return sessions.with_columns(
        pl.col("session_id").replace_strict(found, default=None, return_dtype=pl.String)
        .alias("protocol_fields"))


def _write(sessions: pl.DataFrame, model, fmt: str, out: OutputFile) -> None:
    from trafficlm.eve import eve_lines
    from trafficlm.sessions import explanation

    if fmt == "eve":
        out.writelines(line + "\n" for line in
                       eve_lines(sessions, model.labels, model.directory.name))
        return
    if sessions.is_empty():
        if fmt == "table":
            out.write("no suspicious sessions\n")
        return
    rows = sessions.with_columns(pl.Series("explanation", [
        explanation(row) for row in sessions.iter_rows(named=True)]))
    if fmt == "jsonl":
        out.write(rows.write_ndjson())
    elif fmt == "csv":
        out.write(rows.select(SESSION_COLUMNS).write_csv())
    else:
        for rank, row in enumerate(rows.iter_rows(named=True), 1):
            out.write(f"{rank:>3}  sev {row['severity']}  {row['verdict']:<30} "
                      f"{row['src_ip']} -> {row['dst_ip']}  {row['explanation']}\n")
