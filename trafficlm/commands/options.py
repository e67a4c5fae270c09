"""What the sub-commands' parsers share: checked numbers, the flow-table flags, stderr.

Nothing here imports numpy, polars or torch: every parser is built on each
start, ``--help`` included (the work is imported by each command's ``run``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from trafficlm.flows import FlowConfig
from trafficlm.settings import declared_range, out_of_range


def number(kind: type, low: float | None = None, high: float | None = None,
           above: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` that takes a finite number in range, so a bad flag is a usage
    error naming the flag (exit 2), never a traceback or a NaN that breaks later. A flag
    that sets a settings field takes its range from the field (``declared_range``)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {kind.__name__}: {text!r}") from None
        problem = out_of_range(value, low, high, above)
        if problem:
            raise argparse.ArgumentTypeError(f"must be {problem}, not {text}")
        return value

    return parse


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    defaults = FlowConfig()

    def like(name: str, kind: type) -> Callable[[str], float]:
        return number(kind, *declared_range(FlowConfig, name))

    group = parser.add_argument_group("flow table")
    group.add_argument("--idle-timeout", type=like("idle_timeout_s", float),
                       default=defaults.idle_timeout_s, metavar="S",
                       help="end a flow after S seconds without packets")
    group.add_argument("--active-timeout", type=like("active_timeout_s", float),
                       default=defaults.active_timeout_s, metavar="S",
                       help="split flows longer than S seconds")
    group.add_argument("--max-flows", type=like("max_flows", int),
                       default=defaults.max_flows, metavar="N",
                       help="concurrent flows kept; older ones are emitted early and counted")


def flow_config(args: argparse.Namespace, **overrides: int) -> FlowConfig:
    return FlowConfig(idle_timeout_s=args.idle_timeout, active_timeout_s=args.active_timeout,
                      max_flows=args.max_flows, **overrides)


def warn(message: str) -> None:
    print(f"trafficlm: {message}", file=sys.stderr)
