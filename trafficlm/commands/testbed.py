"""``trafficlm testbed``: labelled traffic from real tools in network namespaces."""

from __future__ import annotations

import argparse
from pathlib import Path

from trafficlm.commands.options import warn
from trafficlm.errors import ExitCode


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("testbed", help="make labelled traffic with real tools",
                                 description="Labelled traffic from real servers, clients and "
                                             "attack tools in network namespaces (root).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run scenarios and write captures + labels")
    run.add_argument("--out", type=Path, required=True, metavar="DIR")
    run.add_argument("--scenarios", type=lambda s: [n for n in s.split(",") if n],
                     metavar="A,B,...", help="scenario names (default: all; see 'testbed list')")
    run.add_argument("--seconds", type=float, default=20.0,
                     help="length of each step in seconds (default 20)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--force", action="store_true", help="write into a non-empty --out")
    run.add_argument("--no-install", action="store_true",
                     help="do not apt-get install missing tools; skip what needs them")
    run.add_argument("--no-mixed", action="store_true", help="skip the mixed capture")
    run.set_defaults(run=_run)
    listing = actions.add_parser("list", help="list the scenarios")
    listing.set_defaults(run=_list)


def _run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.runner import RunOptions, run_testbed

    options = RunOptions(out=args.out, scenarios=args.scenarios, seconds=args.seconds,
                         seed=args.seed, force=args.force, install=not args.no_install,
                         mixed=not args.no_mixed)
    manifest = run_testbed(options, say=warn)
    failed = [s["name"] for s in manifest["steps"] if s["status"] != "ok"]
    labels = sorted({label for s in manifest["steps"] for label in s["flows"]})
    warn(f"wrote {len(manifest['steps'])} captures to {args.out}; labels: {', '.join(labels)}")
    if failed or manifest["skipped"]:
        warn(f"failed: {', '.join(failed) or 'none'}; "
             f"skipped: {', '.join(manifest['skipped']) or 'none'}")
        return ExitCode.PARTIAL
    return ExitCode.OK


def _list(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.scenarios import SCENARIOS

    for scenario in SCENARIOS.values():
        print(f"{scenario.name:<18} {scenario.label:<32} {scenario.description}")
    return ExitCode.OK
