"""From capture files to completed flows: the one path offline commands share.

A capture's flows are flushed even when the file breaks part-way, so an
error never costs the flows read before it.
"""

from __future__ import annotations

from collections.abc import Iterator

from trafficlm.capture import CaptureReport, read_packets
from trafficlm.errors import CaptureError
from trafficlm.flows import FlowBatch, FlowConfig, FlowTable


def capture_flows(path: str, report: CaptureReport,
                  config: FlowConfig | None = None) -> Iterator[FlowBatch]:
    """Completed flows of one capture, batch by batch; problems go into ``report``."""
    table = FlowTable(config)
    try:
        for packets in read_packets(path, report):
            flows = table.add(packets)
            if len(flows):
                yield flows
    except CaptureError as err:
        report.error = err
    flows = table.flush()
    report.flow_stats = table.stats
    if len(flows):
        yield flows
