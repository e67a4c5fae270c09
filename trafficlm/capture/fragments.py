"""IP fragments: later fragments carry no ports, so they borrow the first fragment's.

Fragments are rare outside attacks, so this runs a small Python loop over the
fragment rows only. The table is bounded; what falls out of it is counted.
"""

from __future__ import annotations

import numpy as np

from trafficlm.capture.batch import PacketBatch, PacketStatus

DEFAULT_CAPACITY = 65_536


class FragmentPorts:
    """Remembers (src, dst, id, proto) -> ports of first fragments, oldest dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._ports: dict[tuple, tuple[int, int]] = {}
        self.evicted = 0  # first fragments forgotten to stay within capacity
        self.orphans = 0  # later fragments whose first fragment was never seen

    def apply(self, batch: PacketBatch) -> None:
        """Fill in the ports of later fragments in ``batch`` (in place)."""
        is_fragment = (batch.status == PacketStatus.OK) & (
            batch.more_fragments | (batch.frag_offset > 0))
        rows = np.flatnonzero(is_fragment)
        if len(rows) == 0:
            return
        keys = zip(batch.src_hi[rows].tolist(), batch.src_lo[rows].tolist(),
                   batch.dst_hi[rows].tolist(), batch.dst_lo[rows].tolist(),
                   batch.ip_id[rows].tolist(), batch.proto[rows].tolist(), strict=True)
        firsts = (batch.frag_offset[rows] == 0).tolist()
        for row, key, first in zip(rows.tolist(), keys, firsts, strict=True):
            if first:
                self._remember(key, (int(batch.sport[row]), int(batch.dport[row])))
            elif (ports := self._ports.get(key)) is not None:
                batch.sport[row], batch.dport[row] = ports
            else:
                self.orphans += 1

    def _remember(self, key: tuple, ports: tuple[int, int]) -> None:
        self._ports.pop(key, None)
        self._ports[key] = ports
        if len(self._ports) > self.capacity:
            del self._ports[next(iter(self._ports))]
            self.evicted += 1
