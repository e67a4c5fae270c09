"""The file loop every command that reads captures shares: problems on stderr, the exit code."""

from __future__ import annotations

from collections.abc import Callable

from trafficlm.capture import CaptureReport, FoundCaptures, find_captures
from trafficlm.commands.options import warn
from trafficlm.errors import CaptureError, ExitCode
from trafficlm.flows import FlowBatch, FlowConfig
from trafficlm.pipeline import capture_flows
from trafficlm.progress import Progress


def each_capture_flows(inputs: list[str], config: FlowConfig,
                       consume: Callable[[FlowBatch, str], None],
                       outputs: list[str] | tuple = ()) -> ExitCode:
    """Feed every capture's flows to ``consume``; report problems on stderr; choose the exit code.

    ``outputs``: the run's own output files and folders, never read as inputs.
    """
    found = find_inputs(inputs, outputs)
    if not found.paths:
        return ExitCode.FAILURE
    progress = Progress(found.paths)
    reports: list[CaptureReport] = []
    try:
        for path in found.paths:
            report = CaptureReport(path)
            reports.append(report)
            try:
                for flows in capture_flows(path, report, config):
                    consume(flows, path)
                    progress.at(report.disk_bytes)
            except CaptureError as err:  # the file could not be opened or is not a capture
                report.error = err
            progress.file_done(path)
            warn_problems(report)
    finally:
        progress.close()
    return finish(reports, found)


def find_inputs(inputs: list[str], outputs: list[str] | tuple = ()) -> FoundCaptures:
    """The capture files below ``inputs``; what was passed over, and an empty result, are
    named on stderr."""
    found = find_captures(inputs, outputs)
    for line in found.skipped:
        warn(line)
    if not found.paths:
        warn(f"no capture files found in {', '.join(inputs)}")
    return found


def warn_problems(report: CaptureReport) -> None:
    for line in report.problems():
        warn(line)


def finish(reports: list[CaptureReport], found: FoundCaptures) -> ExitCode:
    """The run's one-line summary on stderr, and its exit code.

    OK when everything was read, PARTIAL when output was produced but some
    input was skipped or cut short, FAILURE when no capture could be read.
    """
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
