"""The ``trafficlm`` command line: one entry point, one module per sub-command.

Exit codes: 0 success; 1 failure (nothing could be processed, or a bad
model/config); 2 usage error; 3 output produced but some input was skipped or
cut short (each skip is named on stderr).
"""

from __future__ import annotations

import argparse
import sys

from trafficlm import __version__
from trafficlm.commands import adapt, flows, review, sensor, testbed, tokenize, train, triage
from trafficlm.errors import ExitCode, TrafficLMError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trafficlm",
        description="Network anomaly detection with a traffic foundation model.",
        epilog="exit codes: 0 ok, 1 failure, 2 usage, 3 partial (some input skipped)",
    )
    parser.add_argument("--version", action="version", version=f"trafficlm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    triage.add_parser(commands)
    flows.add_parser(commands)
    tokenize.add_parser(commands)
    testbed.add_parser(commands)
    train.add_parser(commands)
    sensor.add_parser(commands)
    review.add_parser(commands)
    adapt.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TrafficLMError as err:
        print(f"trafficlm: error: {err}", file=sys.stderr)
        return int(err.exit_code)
    except BrokenPipeError:  # `trafficlm flows x.pcap | head`
        sys.stderr.close()
        return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
