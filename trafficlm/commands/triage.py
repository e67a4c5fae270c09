"""``trafficlm triage``: the suspicious sessions in captures, ranked, each with its reasons."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from trafficlm.commands.common import add_flow_options, each_capture_flows, flow_config, warn
from trafficlm.errors import ExitCode
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR
from trafficlm.output import open_output

FAIL_ON_ALERT = 4


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("triage", help="rank the suspicious sessions in captures",
                                 description="Score every flow with the traffic model and "
                                             "report the suspicious sessions.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="a model directory (default: the bundled model)")
    parser.add_argument("--format", choices=("table", "eve", "jsonl"), default="table")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--fail-on-alert", action="store_true",
                        help=f"exit {FAIL_ON_ALERT} when any session is alerted")
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode | int:
    from trafficlm.detect import scored_frame
    from trafficlm.model import TrafficModel

    model = TrafficModel(args.model)  # a bad model directory fails before any work
    out = sys.stdout if args.out is None else open_output(args.out)
    frames: list[pl.DataFrame] = []

    def score(flows: FlowBatch, path: str) -> None:
        frames.append(scored_frame(model, flows, path))

    try:
        code = each_capture_flows(args.captures, flow_config(args), score)
        alerts = _report(frames, model, args.format, out)
    finally:
        if out is not sys.stdout:
            out.close()
    if args.fail_on_alert and alerts:
        return FAIL_ON_ALERT
    return code


def _report(frames: list[pl.DataFrame], model, fmt: str, out) -> int:
    from trafficlm.eve import eve_lines
    from trafficlm.sessions import build_sessions, explanation

    if not frames:
        warn("0 flows, nothing to triage")
        return 0
    flows = pl.concat(frames, how="vertical_relaxed")
    table = build_sessions(flows)
    rows = list(table.sessions.iter_rows(named=True))
    warn(f"{flows.height} flows scored, {table.flows.height} alerted, {len(rows)} session(s)")
    if fmt == "eve":
        out.writelines(line + "\n" for line in
                       eve_lines(table.sessions, model.labels, model.directory.name))
        return len(rows)
    for rank, row in enumerate(rows, 1):
        reason = explanation(row)
        if fmt == "jsonl":
            out.write(pl.DataFrame([row]).with_columns(pl.lit(reason).alias("explanation"))
                      .write_ndjson())
        else:
            out.write(f"{rank:>3}  sev {row['severity']}  {row['verdict']:<30} "
                      f"{row['src_ip']} -> {row['dst_ip']}  {reason}\n")
    if not rows and fmt == "table":
        out.write("no suspicious sessions\n")
    return len(rows)
