"""What the same hosts did just before a flow began: its session context.

One failed FTP login is benign; the 1,400th from one host in minutes is a
brute force. A scan is one probe per port, a flood from forged sources is
one flow per source: no single flow shows them. So every flow carries, as
of the moment it began, counts over the flows that began in the previous
``window_s`` (Zeek's scan and guessing detectors count the same things):

- ``ctx_src_flows``: flows its initiator began;
- ``ctx_pair_flows``: ... of them to the same responder and port;
- ``ctx_dst_ports``: distinct ports the initiator tried on that responder;
- ``ctx_port_hosts``: distinct responders the initiator tried on that port;
- ``ctx_dst_sources``: distinct initiators that reached the responder's port;
- ``ctx_regularity``: how regular the gaps between its initiator's flows to
  that responder and port are (a beacon's are), as a bucket (see
  ``REGULARITY_EDGES``; 0: fewer than three flows).

Only what is known when a flow's first packet arrives goes in, and flows
are taken in the order they began: the flow table computes the context at
flow creation, so a pcap read offline and the same packets on a live link
give every flow the same context, whatever the batch boundaries.

State is bounded: at most ``MAX_HOSTS`` initiators and as many responder
ports are tracked, each with at most ``MAX_RECENT`` recent flows; the least
recently active are forgotten first, and forgetting anything still inside
the window is counted (``evicted``).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import OrderedDict, deque

import numpy as np

CONTEXT_COLUMNS = ("ctx_src_flows", "ctx_pair_flows", "ctx_dst_ports", "ctx_port_hosts",
                   "ctx_dst_sources", "ctx_regularity")
MAX_HOSTS = 65_536
MAX_RECENT = 4_096
REGULARITY_GAPS = 8  # the last gaps the regularity looks at
# coefficient of variation (std / mean) of those gaps, bucket k: below edge k-1 ... k
REGULARITY_EDGES = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
NS = 1_000_000_000


def regularity_bucket(starts: deque) -> int:
    """0 with fewer than three starts; else 1 + the bucket of the gaps' variation."""
    if len(starts) < 3:
        return 0
    # at most REGULARITY_GAPS + 1 starts: plain Python beats numpy here
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    mean = sum(gaps) / len(gaps)
    spread = math.sqrt(sum((gap - mean) ** 2 for gap in gaps) / len(gaps))
    return 1 + bisect.bisect_right(REGULARITY_EDGES, spread / mean if mean > 0 else 0.0)


class _Initiator:
    """One host's flows in the window, with the counts the context reads."""

    __slots__ = ("hosts_on_port", "pair_flows", "pair_starts", "ports_on_host", "recent")

    def __init__(self) -> None:
        self.recent: deque[tuple[int, int, int]] = deque()  # (start, responder, port)
        self.pair_flows: dict[tuple[int, int], int] = {}
        self.pair_starts: dict[tuple[int, int], deque] = {}
        self.ports_on_host: dict[int, int] = {}
        self.hosts_on_port: dict[int, int] = {}

    def expire(self, oldest: int) -> None:
        while self.recent and self.recent[0][0] < oldest:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        _, host, port = self.recent.popleft()
        pair = (host, port)
        left = self.pair_flows[pair] - 1
        if left:
            self.pair_flows[pair] = left
            return
        del self.pair_flows[pair], self.pair_starts[pair]
        _decrement(self.ports_on_host, host)
        _decrement(self.hosts_on_port, port)

    def add(self, start: int, host: int, port: int) -> bool:
        """Remember a flow; True when the cap made it forget one still in the window."""
        full = len(self.recent) >= MAX_RECENT
        if full:
            self._forget_oldest()
        pair = (host, port)
        if pair not in self.pair_flows:
            self.pair_flows[pair] = 0
            self.pair_starts[pair] = deque(maxlen=REGULARITY_GAPS + 1)
            self.ports_on_host[host] = self.ports_on_host.get(host, 0) + 1
            self.hosts_on_port[port] = self.hosts_on_port.get(port, 0) + 1
        self.pair_flows[pair] += 1
        self.pair_starts[pair].append(start)
        self.recent.append((start, host, port))
        return full


class _Service:
    """One responder port's initiators in the window."""

    __slots__ = ("recent", "sources")

    def __init__(self) -> None:
        self.recent: deque[tuple[int, int]] = deque()  # (start, initiator)
        self.sources: dict[int, int] = {}

    def expire(self, oldest: int) -> None:
        while self.recent and self.recent[0][0] < oldest:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        _decrement(self.sources, self.recent.popleft()[1])

    def add(self, start: int, source: int) -> bool:
        full = len(self.recent) >= MAX_RECENT
        if full:
            self._forget_oldest()
        self.sources[source] = self.sources.get(source, 0) + 1
        self.recent.append((start, source))
        return full


def _decrement(counts: dict, key) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


class SessionContext:
    """Per-host recent history, fed flows in the order they began."""

    def __init__(self, window_s: float = 60.0, max_hosts: int = MAX_HOSTS) -> None:
        self.window_ns = int(window_s * NS)
        self.max_hosts = max_hosts
        self.initiators: OrderedDict[int, _Initiator] = OrderedDict()
        self.services: OrderedDict[tuple[int, int], _Service] = OrderedDict()
        self.evicted = 0  # flows forgotten while still inside the window

    def assign(self, columns: dict[str, np.ndarray], slots: np.ndarray) -> None:
        """Write the context columns of the new flows in ``slots`` (their endpoints and
        start are set), taking them in the order they began."""
        order = slots[np.argsort(columns["start_ns"][slots], kind="stable")]
        initiators = _addresses(columns["init_hi"][order], columns["init_lo"][order])
        responders = _addresses(columns["resp_hi"][order], columns["resp_lo"][order])
        values = np.zeros((len(order), len(CONTEXT_COLUMNS)), np.int32)
        for row, (start, source, host, port) in enumerate(zip(
                columns["start_ns"][order].tolist(), initiators, responders,
                columns["resp_port"][order].tolist(), strict=True)):
            values[row] = self._one(start, source, host, port)
        for k, name in enumerate(CONTEXT_COLUMNS):
            columns[name][order] = values[:, k]

    def _one(self, start: int, source: int, host: int, port: int) -> tuple[int, ...]:
        oldest = start - self.window_ns
        mine = self._entry(self.initiators, source, _Initiator, oldest)
        service = self._entry(self.services, (host, port), _Service, oldest)
        pair = (host, port)
        earlier = (len(mine.recent), mine.pair_flows.get(pair, 0),
                   mine.ports_on_host.get(host, 0), mine.hosts_on_port.get(port, 0),
                   len(service.sources))
        self.evicted += mine.add(start, host, port) + service.add(start, source)
        return (*earlier, regularity_bucket(mine.pair_starts[pair]))

    def _entry(self, table: OrderedDict, key, kind, oldest: int):
        """The host's state, brought up to the window; the least recently active host
        is forgotten when the table is full."""
        entry = table.get(key)
        if entry is None:
            entry = table[key] = kind()
            if len(table) > self.max_hosts:
                _, gone = table.popitem(last=False)
                self.evicted += sum(1 for flow in gone.recent if flow[0] >= oldest)
        else:
            table.move_to_end(key)
            entry.expire(oldest)
        return entry


def _addresses(hi: np.ndarray, lo: np.ndarray) -> list[int]:
    """128-bit addresses as Python ints (dictionary keys)."""
    return [(h << 64) | low for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]
