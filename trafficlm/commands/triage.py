"""``trafficlm triage``: the suspicious sessions in captures, ranked, each with its reasons."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from trafficlm.commands.options import add_flow_options, flow_config, number, warn
from trafficlm.errors import ExitCode, TrafficLMError, UsageError
from trafficlm.model_files import DEFAULT_MODEL_DIR
from trafficlm.triage_limits import MAX_KEPT_FLOWS
from trafficlm.volume_floors import DEFAULT_FLOORS, VolumeFloors

if TYPE_CHECKING:
    import polars as pl

    from trafficlm.output import OutputFile
    from trafficlm.sessions import SessionTable
    from trafficlm.triage_scoring import FileScoring, KeptFlows

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
    parser.add_argument("--adapter", type=Path, metavar="DIR",
                        help="a site adapter for the model (made by 'trafficlm adapt')")
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
    parser.add_argument("--max-alerted-flows", type=number(int, 1), default=MAX_KEPT_FLOWS,
                        metavar="N", help="alerted flows kept for sessions (default "
                        f"{MAX_KEPT_FLOWS:,}); beyond N they are counted, not kept")
    floors = parser.add_argument_group(
        "floors", "flows a volume verdict needs at one destination before it is alerted on "
        "(a scan: hosts or ports probed from its source)")
    floors.add_argument("--min-dos-flows", type=number(int, 1), default=DEFAULT_FLOORS.dos,
                        metavar="N", help=f"denial of service (default {DEFAULT_FLOORS.dos})")
    floors.add_argument("--min-scan-targets", type=number(int, 1), default=DEFAULT_FLOORS.scan,
                        metavar="N", help="scans: distinct hosts or distinct ports probed "
                        f"(default {DEFAULT_FLOORS.scan})")
    floors.add_argument("--min-brute-force-flows", type=number(int, 1),
                        default=DEFAULT_FLOORS.brute_force, metavar="N",
                        help=f"brute force (default {DEFAULT_FLOORS.brute_force})")
    floors.add_argument("--min-tunnel-flows", type=number(int, 1), default=DEFAULT_FLOORS.tunnel,
                        metavar="N", help=f"tunnels and beacons (default {DEFAULT_FLOORS.tunnel})")
    floors.add_argument("--min-dos-packets", type=number(int, 1),
                        default=DEFAULT_FLOORS.dos_packets, metavar="N",
                        help="or packets a denial of service reaches instead of its flows (one "
                             f"host's ICMP flood can be one flow; default "
                             f"{DEFAULT_FLOORS.dos_packets})")
    floors.add_argument("--min-unknown-flows", type=number(int, 1),
                        default=DEFAULT_FLOORS.unknown, metavar="N",
                        help="flows unlike training at one host (one odd flow in a large "
                             f"capture is expected; default {DEFAULT_FLOORS.unknown})")
    scale = parser.add_argument_group("scale-out")
    scale.add_argument("--ray", metavar="ADDRESS",
                       help="score the files on the Ray cluster at ADDRESS (host:port), or "
                            "'local' to start one here; see README 'Many captures'")
    scale.add_argument("--workers", type=number(int, 1), metavar="N",
                       help="Ray workers (default: one per CPU of the cluster)")
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode | int:
    from trafficlm.extract import check_directory
    from trafficlm.output import OutputFile, refuse_inputs_as_outputs

    if args.workers is not None and args.ray is None:
        raise UsageError("--workers needs --ray (one process scores alone)")
    scoring = _scoring(args)  # a bad model directory fails before any work
    try:
        outputs = [p for p in (args.out, args.html, args.extract) if p]
        refuse_inputs_as_outputs(args.captures, outputs)
        extract_dir = check_directory(args.extract) if args.extract else None
        html = OutputFile(args.html) if args.html else None  # unwritable: fail now
        out = OutputFile(args.out)
        try:
            code, kept = _score_inputs(scoring, args, outputs)
            scoring.close()  # a local Ray cluster's workers go before sessions are built
            table = _report(kept, scoring, args, out, html)
        finally:
            for stream in (out, html):
                if stream is not None:
                    stream.close()
    finally:
        scoring.close()
    if extract_dir is not None and not _extract(table, extract_dir):
        code = max(code, ExitCode.PARTIAL)
    if args.fail_on_alert and table.sessions.height:
        return FAIL_ON_ALERT
    return code


def _scoring(args: argparse.Namespace) -> FileScoring:
    """Where the files are scored: here, or by workers on a Ray cluster."""
    from trafficlm.triage_scoring import LocalScoring, ScoringRecipe

    recipe = ScoringRecipe(model_dir=os.path.abspath(args.model),
                           adapter_dir=os.path.abspath(args.adapter) if args.adapter else None,
                           int8=args.int8,
                           threshold=args.threshold, fpr=args.fpr, flow=flow_config(args))
    if args.ray is None:
        return LocalScoring(recipe)
    try:
        from trafficlm.ray_scoring import RayScoring
    except ModuleNotFoundError as err:
        if err.name != "ray":
            raise
        raise TrafficLMError("--ray needs Ray: pip install 'trafficlm[ray]'") from None
    return RayScoring(recipe, args.ray, args.workers)


def _score_inputs(scoring: FileScoring, args: argparse.Namespace, outputs: list[str]
                  ) -> tuple[ExitCode, KeptFlows]:
    """Every input file scored; each file's problems on stderr as it finishes."""
    from trafficlm.commands.capture_loop import find_inputs, finish, warn_problems
    from trafficlm.triage_scoring import KeptFlows

    kept = KeptFlows(args.max_alerted_flows)
    found = find_inputs(args.captures, outputs)
    if not found.paths:
        return ExitCode.FAILURE, kept
    reports = [None] * len(found.paths)
    for index, result in scoring.scored(found.paths, kept.limit):
        kept.add(index, result.alerted, result.flows_scored, result.not_kept)
        reports[index] = result.report
        warn_problems(result.report)
    return finish(reports, found), kept


def _report(kept: KeptFlows, scoring: FileScoring, args: argparse.Namespace,
            out: OutputFile, html: OutputFile | None) -> SessionTable:
    """The sessions of the kept flows, written to every output asked for."""
    from trafficlm.report_html import html_report

    table = _sessions(kept, VolumeFloors(args.min_dos_flows, args.min_scan_targets,
                                         args.min_brute_force_flows, args.min_tunnel_flows,
                                         args.min_dos_packets, args.min_unknown_flows))
    _write(table.sessions, scoring.labels, scoring.model_metadata, args.format, out)
    if args.format == "eve":  # after the alerts, under the sensor's names for the counts
        from trafficlm.eve import stats_event

        out.write(stats_event(_run_stats(kept, table)) + "\n")
    if html is not None:
        html.write(html_report(kept.flows_scored, table.sessions, table.held_back,
                               args.captures))
    return table


def _run_stats(kept: KeptFlows, table: SessionTable) -> dict:
    """What the run counted: the sensor's stats event keys, so both read alike."""
    def by(column: str, frame: pl.DataFrame) -> dict[str, int]:
        return dict(frame[column].value_counts().iter_rows()) if frame.height else {}

    return {"flows_scored": kept.flows_scored, "alerted_flows_not_kept": kept.not_kept,
            "alerts": by("verdict", table.sessions),
            "sessions_held_back": by("rule", table.held_back)}


def _sessions(kept: KeptFlows, floors: VolumeFloors) -> SessionTable:
    """The sessions of every kept (alerted) flow, with their protocol fields."""
    from trafficlm.sessions import SessionTable, build_sessions

    if not kept.flows_scored:
        warn("0 flows, nothing to triage")
        return SessionTable.empty()
    if kept.not_kept:
        warn(f"{kept.not_kept} alerted flow(s) beyond --max-alerted-flows {kept.limit:,} "
             "were counted but not kept: sessions count only the flows kept")
    alerted = kept.frame()
    table = build_sessions(alerted, floors=floors) if alerted.height else SessionTable.empty()
    table.sessions = _with_protocol_fields(table.sessions, table.flows)
    warn(f"{kept.flows_scored} flows scored, {table.flows.height} alerted in "
         f"{table.sessions.height} session(s)")
    _warn_held_back(table.held_back)
    return table


def _extract(table: SessionTable, directory: Path) -> bool:
    """Each session's packets to ``directory``, after the report is safely written: a full
    disk here costs extracts, never the report. False when some could not be written."""
    from trafficlm.extract import extract_sessions
    from trafficlm.output import OutputError

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
    import polars as pl

    from trafficlm.deep_fields import deep_fields, describe, tshark_available

    found: dict[int, str] = {}
    if sessions.is_empty():  # no alert: the alerted flows may be an empty frame, columnless
        return sessions
    if tshark_available():
        for capture in alerted["capture"].unique().to_list():
            mine = alerted.filter(pl.col("capture") == capture)
            fields_of, problem = deep_fields(capture, mine)
            if problem:
                warn(f"{problem}; protocol fields come from the packets it read")
            for session, fields in fields_of.items():
                found[session] = describe(fields)
    return sessions.with_columns(
        pl.col("session_id").replace_strict(found, default=None, return_dtype=pl.String)
        .alias("protocol_fields"))


def _write(sessions: pl.DataFrame, labels: list[str], model: dict[str, list[str]], fmt: str,
           out: OutputFile) -> None:
    import polars as pl

    from trafficlm.eve import eve_lines
    from trafficlm.sessions import explanation

    if fmt == "eve":
        out.writelines(line + "\n" for line in
                       eve_lines(sessions, labels, model))
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
