"""Flow assembly: bidirectional 5-tuple flows from columnar packet batches."""

from trafficlm.flows.records import EndReason, FlowBatch
from trafficlm.flows.table import FlowConfig, FlowTable, FlowTableStats

__all__ = ["EndReason", "FlowBatch", "FlowConfig", "FlowTable", "FlowTableStats"]
