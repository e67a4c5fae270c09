"""``trafficlm testbed``: labelled traffic from real tools in network namespaces."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trafficlm.commands.options import warn
from trafficlm.errors import ExitCode


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("testbed", help="make labelled traffic with real tools",
                                 description="Labelled traffic from real servers, clients and "
                                             "attack tools in network namespaces (root).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run scenarios and write captures + labels")
    _run_options(run, default_profile="lab")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--force", action="store_true", help="write into a non-empty --out")
    run.set_defaults(run=_run)
    many = actions.add_parser("many", help="one run per seed under --out; resumable")
    _run_options(many, default_profile="wide")
    many.add_argument("--seeds", required=True, metavar="1-24",
                      help="seeds as numbers and ranges (1-24,30); each run goes to OUT/seedN")
    many.set_defaults(run=_many)
    summary = actions.add_parser("summary", help="flows per label and conditions of runs")
    summary.add_argument("runs", nargs="+", type=Path, metavar="DIR",
                         help="run directories, or a directory of them (as 'many' makes)")
    summary.add_argument("--markdown", action="store_true",
                         help="one Markdown table instead of JSON")
    summary.set_defaults(run=_summary)
    diversity = actions.add_parser("diversity",
                                   help="distinct token sequences per 1,000 benign flows")
    diversity.add_argument("runs", nargs="+", type=Path, metavar="DIR",
                           help="run directories, or a directory of them (as 'many' makes)")
    diversity.set_defaults(run=_diversity)
    listing = actions.add_parser("list", help="list the scenarios")
    listing.set_defaults(run=_list)


def _run_options(parser: argparse.ArgumentParser, default_profile: str) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--profile", choices=("lab", "wide"), default=default_profile,
                        help="lab: the small fixed lab; wide: hosts, links, stacks, server "
                             f"programs and attack tools drawn from the seed "
                             f"(default {default_profile})")
    parser.add_argument("--scenarios", type=lambda s: [n for n in s.split(",") if n],
                        metavar="A,B,...",
                        help="scenario (wide: slot) names (default: all; see 'testbed list')")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="length of each step in seconds (default 20)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get install missing tools; skip what needs them")
    parser.add_argument("--no-mixed", action="store_true", help="skip the mixed capture")


def _options(args: argparse.Namespace):
    from trafficlm.training.testbed.runner import RunOptions

    return RunOptions(out=args.out, scenarios=args.scenarios, seconds=args.seconds,
                      seed=getattr(args, "seed", 0), force=getattr(args, "force", False),
                      install=not args.no_install, mixed=not args.no_mixed,
                      profile=args.profile)


def _many(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.many import parse_seeds, run_many, summarise

    runs = run_many(_options(args), parse_seeds(args.seeds), say=warn)
    print(json.dumps(summarise(runs), indent=1))
    return ExitCode.OK


def _complete_runs(paths: list[Path]) -> list[Path]:
    from trafficlm.training.testbed.many import is_complete

    runs = [d for path in paths for d in ([path] if (path / "manifest.json").exists()
                                          else sorted(path.glob("*/")))]
    complete = [r for r in runs if is_complete(r)]
    for run in sorted(set(runs) - set(complete)):
        warn(f"{run}: not a complete testbed run; left out")
    return complete


def _summary(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.many import summarise, summary_markdown

    complete = _complete_runs(args.runs)
    summary = summarise(complete)
    print(summary_markdown(summary) if args.markdown and complete else json.dumps(summary,
                                                                                indent=1))
    return ExitCode.OK if complete else ExitCode.PARTIAL


def _diversity(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.diversity import benign_diversity

    complete = _complete_runs(args.runs)
    print(json.dumps(benign_diversity(complete), indent=1))
    return ExitCode.OK


def _run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.testbed.runner import run_testbed

    manifest = run_testbed(_options(args), say=warn)
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
    from trafficlm.training.testbed.wide_scenarios import ATTACK_SLOTS, SITE_BENIGN, WIDE_BENIGN

    print("lab profile:")
    for scenario in SCENARIOS.values():
        print(f"  {scenario.name:<18} {scenario.label:<32} {scenario.description}")
    print("wide profile (one variant per slot, drawn per seed):")
    for scenario in WIDE_BENIGN:
        print(f"  {scenario.name:<18} {scenario.label:<32} {scenario.description}")
    for slot, variants in ATTACK_SLOTS.items():
        print(f"  {slot:<18} {variants[0].label:<32} {', '.join(v.name for v in variants)}")
    print("site scenarios (wide profile, only when named in --scenarios):")
    for scenario in SITE_BENIGN:
        print(f"  {scenario.name:<18} {scenario.label:<32} {scenario.description}")
    return ExitCode.OK
