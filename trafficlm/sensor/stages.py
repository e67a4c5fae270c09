"""The sensor's two feeding stages, each a thread joined by a bounded hand-off.

capture (ring blocks) -> record queue -> flows (flow table) -> pending flows
-> scoring (the main thread, see ``daemon``). Each hand-off has a cap; what
does not fit is dropped there and counted with its cause, so a slow model
costs scored flows, never memory, and never silently.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from trafficlm.capture import PacketStatus, RecordBatch
from trafficlm.capture.decode import decode
from trafficlm.capture.fragments import FragmentPorts
from trafficlm.flows import FlowBatch, FlowConfig, FlowTable
from trafficlm.live.afpacket import RingCapture
from trafficlm.sensor.metrics import Metrics

RECORD_QUEUE_BLOCKS = 64  # ring blocks waiting for the flow stage (64 x block size at most)
EXPIRE_EVERY_S = 1.0


class PendingFlows:
    """Completed flows waiting for the model, at most ``capacity``; the excess is shed.

    Identical token sequences are scored once anyway (``detect.score_flows``);
    this is the second line: when the model is behind, flows arriving at a
    full queue are not scored, and their flows and packets are counted.
    """

    def __init__(self, capacity: int, metrics: Metrics) -> None:
        self.capacity, self.metrics = capacity, metrics
        self._batches: deque[FlowBatch] = deque()
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def put(self, flows: FlowBatch, shed: bool = True) -> None:
        with self._lock:
            room = self.capacity - self._count if shed else len(flows)
            if room < len(flows):
                dropped = flows.select(np.arange(max(room, 0), len(flows)))
                self.metrics.add("flows_shed", len(dropped))
                self.metrics.add("packets_shed", int(dropped.packets_fwd.sum()
                                                     + dropped.packets_bwd.sum()))
                flows = flows.select(np.arange(max(room, 0)))
            if len(flows):
                self._batches.append(flows)
                self._count += len(flows)
            self.metrics.set("pending_flows", self._count)

    def take(self, limit: int) -> FlowBatch | None:
        """Up to ``limit`` flows, oldest first."""
        with self._lock:
            taken, count = [], 0
            while self._batches and count < limit:
                batch = self._batches.popleft()
                if count + len(batch) > limit:
                    keep = limit - count
                    self._batches.appendleft(batch.select(np.arange(keep, len(batch))))
                    batch = batch.select(np.arange(keep))
                taken.append(batch)
                count += len(batch)
            self._count -= count
            self.metrics.set("pending_flows", self._count)
        return FlowBatch.concat(taken) if taken else None


class CaptureStage(threading.Thread):
    """Ring blocks into the record queue; a full queue drops the block, counted."""

    def __init__(self, ring: RingCapture, records: queue.Queue, metrics: Metrics,
                 stop: threading.Event, say: Callable[[str], None] = print) -> None:
        super().__init__(name="capture", daemon=True)
        self.ring, self.records, self.metrics, self.stop = ring, records, metrics, stop
        self.say = say
        self._errors_said = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self._one(self.ring.next_batch(200))
        while self._one(self.ring.next_batch(0)):  # what the ring still holds
            pass

    def _one(self, batch: RecordBatch | None) -> bool:
        self.read_kernel_drops()
        if batch is None:
            return False
        self.metrics.add("packets_received", len(batch))
        self.metrics.add("bytes_received", int(batch.wirelen.sum()))
        try:
            self.records.put_nowait(batch)
        except queue.Full:
            self.metrics.add("packets_dropped", len(batch), "flow_stage_behind")
        self.metrics.set("pending_batches", self.records.qsize())
        return True

    def read_kernel_drops(self) -> None:
        counters = self.ring.read_counters()
        self.metrics.set_total("packets_kernel_dropped", counters.drops)
        for name, count in counters.errors.items():
            self.metrics.set_total("capture_errors", count, name)
        errors = sum(counters.errors.values())
        if errors > self._errors_said:
            self._errors_said = errors
            self.say(f"{self.ring.iface}: capture socket reported "
                     f"{', '.join(sorted(counters.errors))}; capturing again when the link is up")


class FlowStage(threading.Thread):
    """Record batches through the flow table; completed flows into the pending queue."""

    def __init__(self, config: FlowConfig, records: queue.Queue, pending: PendingFlows,
                 metrics: Metrics, capture_done: threading.Event) -> None:
        super().__init__(name="flows", daemon=True)
        self.table = FlowTable(config)
        self.fragments = FragmentPorts()
        self.records, self.pending, self.metrics = records, pending, metrics
        self.capture_done = capture_done

    def run(self) -> None:
        last_expiry = time.monotonic()
        while not (self.capture_done.is_set() and self.records.empty()):
            with contextlib.suppress(queue.Empty):
                self._add(self.records.get(timeout=0.2))
            if time.monotonic() - last_expiry >= EXPIRE_EVERY_S:
                self._hand_on(self.table.expire(time.time_ns()))
                last_expiry = time.monotonic()
        self._hand_on(self.table.flush(), shed=False)  # shutdown: every open flow is scored

    def _add(self, records: RecordBatch) -> None:
        self.metrics.set("pending_batches", self.records.qsize())
        packets = decode(records)
        self.fragments.apply(packets)
        statuses = np.bincount(packets.status, minlength=len(PacketStatus))
        for status in PacketStatus:
            if status != PacketStatus.OK and statuses[status]:
                self.metrics.add("packets_skipped", int(statuses[status]), status.name.lower())
        self._hand_on(self.table.add(packets))

    def _hand_on(self, flows: FlowBatch, shed: bool = True) -> None:
        self.metrics.set("open_flows", len(self.table))
        self.metrics.set_total("flows_evicted", self.table.stats.evicted)
        self.metrics.set_total("flows_context_evicted", self.table.stats.context_evicted)
        if len(flows):
            self.pending.put(flows, shed)
