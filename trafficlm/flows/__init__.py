"""Flow assembly: bidirectional 5-tuple flows from columnar packet batches.

Names are loaded on first use (PEP 562), so ``from trafficlm.flows import
FlowConfig`` costs no numpy import: the command line builds its options from
it before it knows whether it will read a packet.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trafficlm.flows.config import FlowConfig
    from trafficlm.flows.records import EndReason, FlowBatch
    from trafficlm.flows.table import FlowTable, FlowTableStats

_MODULE_OF = {"EndReason": "records", "FlowBatch": "records", "FlowConfig": "config",
              "FlowTable": "table", "FlowTableStats": "table"}
__all__ = ["EndReason", "FlowBatch", "FlowConfig", "FlowTable", "FlowTableStats"]


def __getattr__(name: str) -> object:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
