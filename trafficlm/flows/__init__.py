"""Flow assembly: bidirectional 5-tuple flows from columnar packet batches."""

from trafficlm.flows.records import EndReason, FlowBatch
from trafficlm.flows.table import MAX_FLOWS, FlowConfig, FlowTable, FlowTableStats

__all__ = ["MAX_FLOWS", "EndReason", "FlowBatch", "FlowConfig", "FlowTable", "FlowTableStats"]
