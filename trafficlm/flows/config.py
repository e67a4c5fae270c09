"""Flow table settings, apart from the table so the command line can offer them (and their
ranges) without importing numpy: ``trafficlm --help`` stays fast."""

from __future__ import annotations

from dataclasses import dataclass

from trafficlm.settings import bounded, check_ranges

MAX_FLOWS = 4_194_304  # a cap on the table's memory (~12 GB at 2.8 KB a flow)
MAX_TIMEOUT_S = 1e9  # seconds; ~31 years, "never" for whole-capture flows


@dataclass(frozen=True)
class FlowConfig:
    """Flow table settings; the defaults follow CICFlowMeter/nfstream practice."""

    idle_timeout_s: float = bounded(120.0, 0, MAX_TIMEOUT_S, above=True)
    active_timeout_s: float = bounded(1800.0, 0, MAX_TIMEOUT_S, above=True)
    # linger after FIN+FIN or RST for the last ACKs
    closed_timeout_s: float = bounded(5.0, 0, MAX_TIMEOUT_S)
    # concurrent flows; ~2.8 KB each at the default P and B
    max_flows: int = bounded(65_536, 1, MAX_FLOWS)
    packets_per_flow: int = bounded(16, 1, 1024)  # P: first packets kept per flow
    payload_bytes: int = bounded(128, 0, 65_535)  # B: first payload bytes kept per packet
    # how far back a flow's session context looks (flows/context.py)
    context_window_s: float = bounded(60.0, 0, 86_400, above=True)

    def __post_init__(self) -> None:
        check_ranges("flow settings", self)
