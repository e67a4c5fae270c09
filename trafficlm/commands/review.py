"""``trafficlm feedback`` and ``trafficlm review``: an analyst's verdicts on alerts."""

from __future__ import annotations

import argparse
from pathlib import Path

from trafficlm.commands.options import warn
from trafficlm.errors import ExitCode

DEFAULT_PORT = 8731


def default_log(eve: Path) -> Path:
    return eve.with_name(eve.name + ".feedback.jsonl")


def add_parser(commands: argparse._SubParsersAction) -> None:
    feedback = commands.add_parser(
        "feedback", help="record a verdict on an alert in the feedback log",
        description="Append one line to an append-only, hash-chained feedback log: who, "
                    "when, the alert, its flows' content hashes, the verdict and a note.")
    feedback.add_argument("eve", type=Path, metavar="EVE_FILE")
    feedback.add_argument("--session", type=int, required=True, metavar="ID",
                          help="the alert's trafficlm.session_id")
    feedback.add_argument("--verdict", required=True,
                          choices=("false-positive", "true-positive"))
    feedback.add_argument("--class", dest="label", metavar="NAME",
                          help="what the alert really is (with true-positive)")
    feedback.add_argument("--note", default="", metavar="TEXT")
    _log_option(feedback)
    feedback.set_defaults(run=_feedback)
    review = commands.add_parser(
        "review", help="a local web page to read, filter and mark alerts",
        description="Serve a review page for an EVE file on 127.0.0.1 (by default); its "
                    "buttons append to the feedback log.")
    review.add_argument("eve", type=Path, metavar="EVE_FILE")
    _log_option(review)
    review.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    review.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    review.set_defaults(run=_review)


def _log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--feedback", type=Path, metavar="LOG",
                        help="the feedback log (default: EVE_FILE.feedback.jsonl)")


def _feedback(args: argparse.Namespace) -> ExitCode:
    from trafficlm.feedback import Mark, alert_for_session, append

    log = args.feedback or default_log(args.eve)
    record = append(log, alert_for_session(args.eve, args.session),
                    Mark(args.verdict, args.label, args.note))
    warn(f"recorded {args.verdict} for session {args.session} in {log} "
         f"(line hash {record['hash'][:12]})")
    return ExitCode.OK


def _review(args: argparse.Namespace) -> ExitCode:
    from trafficlm.review import serve

    server = serve(args.eve, args.feedback or default_log(args.eve), args.bind, args.port)
    host, port = server.server_address[:2]
    warn(f"reviewing {args.eve} at http://{host}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return ExitCode.OK
