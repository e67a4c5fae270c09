"""IP fragments: later fragments carry no ports, so they borrow the first fragment's.

Keys are 64-bit hashes of (source, destination, IP id, protocol), computed for
the whole batch at once; the table is a plain dict updated in bulk. It is
bounded, and what falls out of it is counted. Within one batch a later
fragment may find a first fragment that arrived after it, which joins
out-of-order fragments too.
"""

from __future__ import annotations

from itertools import islice

import numpy as np

from trafficlm.capture.batch import PacketBatch, PacketStatus
from trafficlm.hashing import mix64

DEFAULT_CAPACITY = 65_536


class FragmentPorts:
    """Remembers the ports of first fragments; oldest forgotten first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._ports: dict[int, int] = {}
        self.evicted = 0  # first fragments forgotten to stay within capacity
        self.orphans = 0  # later fragments whose first fragment was never seen

    def apply(self, batch: PacketBatch) -> None:
        """Fill in the ports of later fragments in ``batch`` (in place)."""
        fragment = (batch.status == PacketStatus.OK) & (
            batch.more_fragments | (batch.frag_offset > 0))
        rows = np.flatnonzero(fragment)
        if len(rows) == 0:
            return
        keys = _keys(batch, rows)
        first = batch.frag_offset[rows] == 0
        ports = (batch.sport[rows].astype(np.int64) << 16) | batch.dport[rows]
        self._ports.update(zip(keys[first].tolist(), ports[first].tolist(), strict=True))
        self._bound()
        later = rows[~first]
        get = self._ports.get
        found = np.array([get(k, -1) for k in keys[~first].tolist()], dtype=np.int64)
        known = found >= 0
        self.orphans += int((~known).sum())
        batch.sport[later[known]] = found[known] >> 16
        batch.dport[later[known]] = found[known] & 0xFFFF

    def _bound(self) -> None:
        excess = len(self._ports) - self.capacity
        if excess > 0:
            for key in list(islice(self._ports, excess)):
                del self._ports[key]
            self.evicted += excess


def _keys(batch: PacketBatch, rows: np.ndarray) -> np.ndarray:
    h = np.zeros(len(rows), np.uint64)
    for column in (batch.src_hi, batch.src_lo, batch.dst_hi, batch.dst_lo, batch.ip_id,
                   batch.proto):
        h = mix64(h ^ column[rows].astype(np.uint64))
    return h
