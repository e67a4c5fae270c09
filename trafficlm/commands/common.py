"""What every command that reads captures shares: flow options, the file loop, exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from trafficlm.capture import CaptureReport, find_captures
from trafficlm.errors import CaptureError, ExitCode
from trafficlm.flows import FlowBatch, FlowConfig
from trafficlm.pipeline import capture_flows
from trafficlm.progress import Progress
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


def each_capture_flows(inputs: list[str], config: FlowConfig,
                       consume: Callable[[FlowBatch, str], None],
                       outputs: list[str] | tuple = ()) -> ExitCode:
    """Feed every capture's flows to ``consume``; report problems on stderr; choose the exit code.

    ``outputs``: the run's own output files and folders, never read as inputs.
    Exit code: OK when everything was read, PARTIAL when output was produced
    but some input was skipped or cut short, FAILURE when no capture could be read.
    """
    found = find_captures(inputs, outputs)
    for line in found.skipped:
        warn(line)
    paths = found.paths
    if not paths:
        warn(f"no capture files found in {', '.join(inputs)}")
        return ExitCode.FAILURE
    progress = Progress(paths)
    reports: list[CaptureReport] = []
    try:
        for path in paths:
            report = CaptureReport(path)
            reports.append(report)
            try:
                for flows in capture_flows(path, report, config):
                    consume(flows, path)
                    progress.at(report.disk_bytes)
            except CaptureError as err:  # the file could not be opened or is not a capture
                report.error = err
            progress.next_file(os.path.getsize(path) if os.path.isfile(path) else 0)
            for line in report.problems():
                warn(line)
    finally:
        progress.close()
    _summary(reports)
    code = _exit_code(reports)
    return ExitCode.PARTIAL if code == ExitCode.OK and found.skipped else code


def _summary(reports: list[CaptureReport]) -> None:
    packets = sum(r.packets for r in reports)
    flows = sum(r.flow_stats.flows_emitted for r in reports if r.flow_stats)
    evicted = sum(r.flow_stats.evicted for r in reports if r.flow_stats)
    skipped = sum(r.packets - r.ip_packets for r in reports)
    failed = sum(1 for r in reports if r.error)
    line = (f"{len(reports)} capture(s), {packets} packets, {flows} flows; "
            f"{skipped} packets not IP/unsupported/malformed")
    if evicted:
        line += f"; {evicted} flows emitted early at the --max-flows cap"
    if failed:
        line += f"; {failed} capture(s) with errors"
    warn(line)


def _exit_code(reports: list[CaptureReport]) -> ExitCode:
    read_something = [r for r in reports if r.packets or not r.error]
    if not read_something:
        return ExitCode.FAILURE
    if any(r.skipped_input for r in reports):
        return ExitCode.PARTIAL
    return ExitCode.OK


def warn(message: str) -> None:
    print(f"trafficlm: {message}", file=sys.stderr)
