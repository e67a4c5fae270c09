"""``trafficlm adapt``: a site adapter fitted on a network's own normal traffic."""

from __future__ import annotations

import argparse
from pathlib import Path

from trafficlm.commands.options import warn
from trafficlm.errors import ExitCode
from trafficlm.model_files import DEFAULT_MODEL_DIR


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "adapt", help="fit a site adapter on the site's normal traffic",
        description="Fit a LoRA adapter (pooler and head; the encoder untouched) on "
                    "captures of a site's normal traffic (no labels needed), rehearsing the "
                    "model's attack classes. The adapter decides only for flows near the "
                    "site's own traffic, which are then never unlike training; every other "
                    "flow keeps the model's verdict and open set. "
                    "Flows the model calls attacks with high confidence, the rest of "
                    "their attack episode and one-off bursts of alerts are kept out and "
                    "listed in the adapter's ADAPTER.md. Reads at most 2,000,000 flows "
                    "(the rest counted, not read) and fits at most 10,000 distinct ones. Load "
                    "the result with 'triage --adapter DIR' or adapter = DIR in the sensor.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE|DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the adapter directory to write")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="the base model (default: the bundled model)")
    parser.add_argument("--feedback", type=Path, metavar="LOG",
                        help="an analyst feedback log (trafficlm feedback / review): false "
                             "positives fit as the site's benign traffic, true positives as "
                             "examples of their class")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.adapt import adapt

    report = adapt(args.model, args.captures, args.out, args.feedback, say=warn)
    alerts = report["held_back_false_alerts"]
    warn(f"adapter written to {args.out} in {report['seconds']:.0f} s: on the "
         f"{report['flows_held_back']:,} held-back site flows, {alerts['base']:,} false "
         f"alert(s) before, {alerts['adapted']:,} after; see {args.out / 'ADAPTER.md'}")
    return ExitCode.OK
