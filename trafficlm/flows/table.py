"""The bidirectional flow table: packet batches in, completed flows out.

Flows are keyed by the canonical 5-tuple (lower endpoint first), so both
directions meet in one flow; the initiator is the sender of the flow's first
packet, unless that packet is a SYN-ACK (the capture started mid-handshake),
in which case its receiver is. A flow ends on the idle timeout, the active
timeout, FIN from both sides or RST (after a short linger for the last ACKs),
a new SYN on a closed 5-tuple (port reuse), eviction at the cap, or the end
of input.

Each batch is processed columnar: packets are grouped by key with one sort,
and Python runs once per distinct key in the batch (not per packet) to find
or allocate its slot. Only keys whose packets split into several flows inside
one batch (port reuse, long gaps) take a per-packet path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from trafficlm.capture.batch import PacketBatch, PacketStatus, TcpFlag
from trafficlm.flows.config import FlowConfig
from trafficlm.flows.context import SessionContext
from trafficlm.flows.records import (
    FLOW_COLUMNS,
    TCP_FLAG_NAMES,
    EndReason,
    FlowBatch,
    compute_flow_ids,
    empty_columns,
)
from trafficlm.hashing import mix64

NS = 1_000_000_000
INITIAL_SLOTS = 4096
KEY_WORDS = 5  # a_hi, a_lo, b_hi, b_lo, ports+proto


@dataclass
class FlowTableStats:
    packets: int = 0  # decodable IP packets given to the table
    flows_created: int = 0
    flows_emitted: int = 0
    end_reasons: Counter = field(default_factory=Counter)

    context_evicted: int = 0  # flows the session context forgot inside its window

    @property
    def evicted(self) -> int:
        return self.end_reasons[EndReason.EVICTED.name.lower()]


@dataclass
class _Sorted:
    """One batch's IP packets, grouped by flow key (stable, so arrival order within a key)."""

    keys: np.ndarray  # [n, 5] uint64
    src_is_low: np.ndarray
    ts: np.ndarray
    flags: np.ndarray
    rows: np.ndarray  # index into the PacketBatch
    group_starts: np.ndarray

    @property
    def pure_syn(self) -> np.ndarray:
        return (self.flags & (TcpFlag.SYN | TcpFlag.ACK)) == TcpFlag.SYN


@dataclass
class _Plan:
    """Which slot each run of packets goes to, decided by the per-key loop."""

    seg_starts: list[int] = field(default_factory=list)
    seg_slots: list[int] = field(default_factory=list)
    new_slots: list[int] = field(default_factory=list)
    new_first: list[int] = field(default_factory=list)
    finished: list[tuple[int, EndReason]] = field(default_factory=list)


class FlowTable:
    """Assembles flows from packet batches, incrementally; bounded by ``max_flows``."""

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        self.stats = FlowTableStats()
        self._capacity = min(INITIAL_SLOTS, self.config.max_flows)
        self._cols = empty_columns(self._capacity, self.config.packets_per_flow,
                                   self.config.payload_bytes)
        self._in_use = np.zeros(self._capacity, bool)
        self._pinned = np.zeros(self._capacity, bool)
        self._free = list(range(self._capacity - 1, -1, -1))
        self._slot_key: list[bytes | None] = [None] * self._capacity
        self._slots: dict[bytes, int] = {}
        self._pending: list[FlowBatch] = []
        self.context = SessionContext(self.config.context_window_s)
        self.now_ns = np.iinfo(np.int64).min

    def __len__(self) -> int:
        """Flows currently open."""
        return len(self._slots)

    def add(self, batch: PacketBatch) -> FlowBatch:
        """Account ``batch``'s packets; return the flows that completed meanwhile."""
        ip_rows = np.flatnonzero(batch.status == PacketStatus.OK)
        step = max(1, self.config.max_flows // 4)  # so eviction always finds unpinned slots
        for start in range(0, len(ip_rows), step):
            self._add_rows(batch, ip_rows[start : start + step])
        if len(ip_rows):
            self.now_ns = max(self.now_ns, int(batch.ts_ns[ip_rows].max()))
        self._expire(self.now_ns)
        return self._take_pending()

    def expire(self, now_ns: int) -> FlowBatch:
        """Emit flows that timed out by ``now_ns`` (the live sensor calls this on a clock)."""
        self.now_ns = max(self.now_ns, now_ns)
        self._expire(self.now_ns)
        return self._take_pending()

    def flush(self) -> FlowBatch:
        """Emit every open flow (end of input)."""
        slots = np.flatnonzero(self._in_use)
        self._emit(slots, np.full(len(slots), EndReason.EOF))
        return self._take_pending()

    # -- one sub-batch -------------------------------------------------------

    def _add_rows(self, batch: PacketBatch, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self.stats.packets += len(rows)
        packets = _sort_by_key(batch, rows)
        plan = self._plan(packets)
        self._initialise(plan, packets, batch)
        self._accumulate(plan, packets, batch)
        finished = np.array([slot for slot, _ in plan.finished], dtype=np.int64)
        reasons = np.array([reason for _, reason in plan.finished], dtype=np.uint8)
        self._pinned[:] = False
        self._emit(finished, reasons)

    def _plan(self, p: _Sorted) -> _Plan:
        """Find or create the slot of every key in the batch (Python runs per key)."""
        plan = _Plan()
        starts = p.group_starts
        ends = np.append(starts[1:], len(p.ts))
        first_ts = p.ts[starts]
        last_ts = np.maximum.reduceat(p.ts, starts)
        needs_walk = self._groups_needing_walk(p, starts)
        key_bytes = p.keys[starts].tobytes()
        width = KEY_WORDS * 8
        first_syn = p.pure_syn[starts].tolist()
        for g, (pos, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            key = key_bytes[g * width : (g + 1) * width]
            slot = self._slots.get(key)
            if slot is not None:
                reason = self._split_reason(slot, int(first_ts[g]), first_syn[g])
                if reason is not None:
                    plan.finished.append((slot, reason))
                    del self._slots[key]
                    slot = None
            walk = needs_walk[g] or (slot is not None and int(last_ts[g])
                                     - int(self._cols["start_ns"][slot])
                                     > self.config.active_timeout_s * NS)
            if walk:
                self._walk_group(p, key, slot, pos, end, plan)
            else:
                if slot is None:
                    slot = self._new_flow(key, pos, plan)
                plan.seg_starts.append(pos)
                plan.seg_slots.append(slot)
                self._pinned[slot] = True
        return plan

    def _groups_needing_walk(self, p: _Sorted, starts: np.ndarray) -> list[bool]:
        """Keys whose packets in this batch may split into several flows."""
        n = len(p.ts)
        marker = np.zeros(n, np.int64)
        marker[starts] = 1
        group_of = np.cumsum(marker) - 1
        gap = np.zeros(n, bool)
        same_group = group_of[1:] == group_of[:-1]
        gap[1:] = (np.diff(p.ts) > self.config.idle_timeout_s * NS) & same_group
        closes = ((p.flags & (TcpFlag.FIN | TcpFlag.RST)) != 0).astype(np.int64)
        closes_before = np.cumsum(closes) - closes
        closes_before -= closes_before[starts][group_of]
        reuse = p.pure_syn & (closes_before > 0)
        span = np.maximum.reduceat(p.ts, starts) - p.ts[starts]
        too_long = span > self.config.active_timeout_s * NS
        flagged = np.bincount(group_of, weights=(gap | reuse), minlength=len(starts)) > 0
        return (flagged | too_long).tolist()

    def _split_reason(self, slot: int, ts: int, pure_syn: bool) -> EndReason | None:
        """Why a known flow cannot take a packet at ``ts`` (None: it can)."""
        return self._why_split(ts, *self._slot_state(slot), pure_syn)

    def _slot_state(self, slot: int) -> tuple[int, int, bool]:
        """(start, last seen, seen a FIN or RST) of the flow in ``slot``."""
        cols = self._cols
        closed = bool(cols["rst_count"][slot] or cols["fin_fwd"][slot] or cols["fin_bwd"][slot])
        return int(cols["start_ns"][slot]), int(cols["last_ns"][slot]), closed

    def _why_split(self, ts: int, start: int, last: int, closed: bool,
                   pure_syn: bool) -> EndReason | None:
        """The one rule for where a flow ends: idle gap, active limit, new SYN after close."""
        cfg = self.config
        if ts - last > cfg.idle_timeout_s * NS:
            return EndReason.IDLE
        if ts - start > cfg.active_timeout_s * NS:
            return EndReason.ACTIVE
        if pure_syn and closed:
            return EndReason.FIN
        return None

    def _walk_group(self, p: _Sorted, key: bytes, slot: int | None, pos: int, end: int,
                    plan: _Plan) -> None:
        """Packet by packet through one key's run, splitting it where flows end."""
        ts = p.ts[pos:end].tolist()
        syn = p.pure_syn[pos:end].tolist()
        closes = ((p.flags[pos:end] & (TcpFlag.FIN | TcpFlag.RST)) != 0).tolist()
        start_ts, last, closed = (ts[0], ts[0], False) if slot is None else self._slot_state(slot)
        for i in range(end - pos):
            reason = None
            if slot is not None:
                reason = self._why_split(ts[i], start_ts, last, closed, syn[i])
            if reason is not None:
                plan.finished.append((slot, reason))
                del self._slots[key]
                slot = None
            if slot is None:
                slot = self._new_flow(key, pos + i, plan)
                start_ts, last, closed = ts[i], ts[i], False
            if i == 0 or slot != plan.seg_slots[-1]:
                plan.seg_starts.append(pos + i)
                plan.seg_slots.append(slot)
                self._pinned[slot] = True
            last = max(last, ts[i])
            closed = closed or closes[i]

    def _new_flow(self, key: bytes, first_pos: int, plan: _Plan) -> int:
        slot = self._allocate()
        self._slots[key] = slot
        self._slot_key[slot] = key
        self._in_use[slot] = True
        plan.new_slots.append(slot)
        plan.new_first.append(first_pos)
        self.stats.flows_created += 1
        return slot

    def _allocate(self) -> int:
        if not self._free:
            if self._capacity < self.config.max_flows:
                self._grow(min(self._capacity * 2, self.config.max_flows))
            else:
                self._evict_oldest(max(1, self._capacity // 16))
        return self._free.pop()

    def _grow(self, capacity: int) -> None:
        old = self._capacity
        bigger = empty_columns(capacity, self.config.packets_per_flow, self.config.payload_bytes)
        for name, column in self._cols.items():
            bigger[name][:old] = column
        self._cols = bigger
        self._in_use = np.concatenate([self._in_use, np.zeros(capacity - old, bool)])
        self._pinned = np.concatenate([self._pinned, np.zeros(capacity - old, bool)])
        self._slot_key.extend([None] * (capacity - old))
        self._free.extend(range(capacity - 1, old - 1, -1))
        self._capacity = capacity

    def _evict_oldest(self, count: int) -> None:
        """Emit the ``count`` least recently seen flows that this batch does not touch."""
        last = np.where(self._in_use & ~self._pinned, self._cols["last_ns"],
                        np.iinfo(np.int64).max)
        victims = np.argpartition(last, count - 1)[:count]
        victims = victims[self._in_use[victims] & ~self._pinned[victims]]
        self._emit(victims, np.full(len(victims), EndReason.EVICTED))

    # -- columnar updates ----------------------------------------------------

    def _initialise(self, plan: _Plan, p: _Sorted, batch: PacketBatch) -> None:
        """Endpoints (initiator first) and start time of the flows created by this batch."""
        if not plan.new_slots:
            return
        slots = np.asarray(plan.new_slots, dtype=np.int64)
        first = np.asarray(plan.new_first, dtype=np.int64)
        cols = self._cols
        flags = p.flags[first]
        synack = (flags & (TcpFlag.SYN | TcpFlag.ACK)) == (TcpFlag.SYN | TcpFlag.ACK)
        init_is_low = p.src_is_low[first] ^ synack
        keys = p.keys[first]
        ports_proto = keys[:, 4]
        low_port = (ports_proto >> np.uint64(24)).astype(np.int32)
        high_port = ((ports_proto >> np.uint64(8)) & np.uint64(0xFFFF)).astype(np.int32)
        for side, (mine, other) in (("init", (0, 2)), ("resp", (2, 0))):
            # words 0-1 hold the lower endpoint's address, 2-3 the higher's
            cols[f"{side}_hi"][slots] = np.where(init_is_low, keys[:, mine], keys[:, other])
            cols[f"{side}_lo"][slots] = np.where(init_is_low, keys[:, mine + 1], keys[:, other + 1])
        cols["init_port"][slots] = np.where(init_is_low, low_port, high_port)
        cols["resp_port"][slots] = np.where(init_is_low, high_port, low_port)
        cols["proto"][slots] = (ports_proto & np.uint64(0xFF)).astype(np.uint8)
        cols["ip_version"][slots] = batch.ip_version[p.rows[first]]
        cols["start_ns"][slots] = p.ts[first]
        cols["last_ns"][slots] = p.ts[first]
        cols["init_is_low"][slots] = init_is_low
        self.context.assign(cols, slots)
        self.stats.context_evicted = self.context.evicted

    def _accumulate(self, plan: _Plan, p: _Sorted, batch: PacketBatch) -> None:
        """Add the batch's packets to their flows' counters and first-packet rows."""
        cols, n = self._cols, len(p.ts)
        seg_starts = np.asarray(plan.seg_starts, dtype=np.int64)
        seg_slots = np.asarray(plan.seg_slots, dtype=np.int64)
        marker = np.zeros(n, np.int64)
        marker[seg_starts] = 1
        seg_of = np.cumsum(marker) - 1
        slot_of = seg_slots[seg_of]
        backward = p.src_is_low != cols["init_is_low"][slot_of]
        stored_before = (cols["packets_fwd"] + cols["packets_bwd"])[slot_of]
        rank = np.arange(n) - seg_starts[seg_of] + stored_before
        self._store_first_packets(slot_of, rank, backward, p, batch)

        rows = p.rows
        wire = batch.wirelen[rows]
        payload = batch.payload_len[rows].astype(np.int64)
        fin = (p.flags & TcpFlag.FIN) != 0
        # packets are grouped by segment, so one reduceat sums every counter at once
        values = np.stack([~backward, backward, wire * ~backward, wire * backward,
                           payload * ~backward, payload * backward, fin & ~backward,
                           fin & backward, *((p.flags >> bit) & 1
                                             for bit in range(len(TCP_FLAG_NAMES)))], axis=1)
        sums = np.add.reduceat(values.astype(np.int64), seg_starts, axis=0)
        for i, name in enumerate(("packets_fwd", "packets_bwd", "bytes_fwd", "bytes_bwd",
                                  "payload_bytes_fwd", "payload_bytes_bwd")):
            cols[name][seg_slots] += sums[:, i]
        cols["fin_fwd"][seg_slots] |= sums[:, 6] > 0
        cols["fin_bwd"][seg_slots] |= sums[:, 7] > 0
        for bit, flag in enumerate(TCP_FLAG_NAMES):
            cols[f"{flag}_count"][seg_slots] += sums[:, 8 + bit].astype(np.int32)
        last = np.maximum.reduceat(p.ts, seg_starts)
        cols["last_ns"][seg_slots] = np.maximum(cols["last_ns"][seg_slots], last)

    def _store_first_packets(self, slot_of, rank, backward, p: _Sorted, batch: PacketBatch) -> None:
        cfg, cols = self.config, self._cols
        keep = rank < cfg.packets_per_flow
        slots, ranks, rows = slot_of[keep], rank[keep], p.rows[keep]
        at = (slots, ranks)
        cols["pkt_ts_ns"][at] = batch.ts_ns[rows]
        cols["pkt_direction"][at] = backward[keep]
        cols["pkt_ip_len"][at] = batch.ip_len[rows]
        cols["pkt_ip_payload_len"][at] = batch.ip_payload_len[rows]
        cols["pkt_ttl"][at] = batch.ttl[rows]
        cols["pkt_tcp_flags"][at] = batch.tcp_flags[rows]
        cols["pkt_tcp_window"][at] = batch.tcp_window[rows]
        cols["pkt_tcp_options"][at] = batch.tcp_options[rows]
        cols["pkt_udp_len"][at] = batch.udp_len[rows]
        cols["pkt_icmp_type"][at] = batch.icmp_type[rows]
        cols["pkt_icmp_code"][at] = batch.icmp_code[rows]
        cols["pkt_fragment"][at] = batch.more_fragments[rows] | (batch.frag_offset[rows] > 0)
        cols["pkt_payload_len"][at] = batch.payload_len[rows]
        captured = np.minimum(batch.payload_cap[rows], cfg.payload_bytes)
        cols["pkt_payload_cap"][at] = captured
        if cfg.payload_bytes:
            cols["payload"][at] = _payload_prefixes(batch, rows, captured, cfg.payload_bytes)

    # -- emitting ------------------------------------------------------------

    def _expire(self, now: int) -> None:
        cfg, cols = self.config, self._cols
        closed = (cols["rst_count"] > 0) | (cols["fin_fwd"] & cols["fin_bwd"])
        idle = cols["last_ns"] < now - cfg.idle_timeout_s * NS
        active = cols["start_ns"] < now - cfg.active_timeout_s * NS
        lingered = closed & (cols["last_ns"] < now - cfg.closed_timeout_s * NS)
        due = self._in_use & (idle | active | lingered)
        slots = np.flatnonzero(due)
        reasons = np.where(idle[slots], EndReason.IDLE,
                           np.where(lingered[slots], EndReason.FIN, EndReason.ACTIVE))
        self._emit(slots, reasons.astype(np.uint8))

    def _emit(self, slots: np.ndarray, reasons: np.ndarray) -> None:
        """Copy the flows out of ``slots`` into a pending FlowBatch and free the slots."""
        if len(slots) == 0:
            return
        cfg = self.config
        columns = {name: column[slots] for name, column in self._cols.items()}
        closed_by_fin = columns["fin_fwd"] & columns["fin_bwd"]
        reasons = np.where(columns["rst_count"] > 0, EndReason.RST,
                           np.where(closed_by_fin & (reasons != EndReason.EVICTED),
                                    EndReason.FIN, reasons))
        columns["end_reason"] = reasons.astype(np.uint8)
        total = columns["packets_fwd"] + columns["packets_bwd"]
        stored = np.minimum(total, cfg.packets_per_flow).astype(np.int32)
        self._pending.append(FlowBatch(compute_flow_ids(columns), stored, columns))
        for reason in columns["end_reason"].tolist():
            self.stats.end_reasons[EndReason(reason).name.lower()] += 1
        self.stats.flows_emitted += len(slots)
        self._release(slots)

    def _release(self, slots: np.ndarray) -> None:
        # first-packet rows are overwritten before they are read again (n_stored says how many)
        for name, (_, per_packet, _) in FLOW_COLUMNS.items():
            if not per_packet:
                self._cols[name][slots] = 0
        self._in_use[slots] = False
        for slot in slots.tolist():
            key = self._slot_key[slot]
            if self._slots.get(key) == slot:
                del self._slots[key]
            self._slot_key[slot] = None
        self._free.extend(slots.tolist())

    def _take_pending(self) -> FlowBatch:
        pending, self._pending = self._pending, []
        if not pending:
            return empty_flow_batch(self.config)
        return pending[0] if len(pending) == 1 else FlowBatch.concat(pending)


def empty_flow_batch(config: FlowConfig) -> FlowBatch:
    """A FlowBatch with no rows, with the columns ``config`` implies."""
    return FlowBatch(np.zeros(0, np.uint64), np.zeros(0, np.int32),
                     empty_columns(0, config.packets_per_flow, config.payload_bytes))


def _payload_prefixes(batch: PacketBatch, rows: np.ndarray, captured: np.ndarray,
                      width: int) -> np.ndarray:
    """The first ``width`` payload bytes of each row, zero past what was captured."""
    padded = np.concatenate([batch.buf, np.zeros(width, np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    data = windows[np.minimum(batch.payload_off[rows], len(batch.buf))]
    data *= np.arange(width) < captured[:, None]
    return data


def _sort_by_key(batch: PacketBatch, rows: np.ndarray) -> _Sorted:
    """Canonical keys of ``rows`` and a stable grouping of the rows by key."""
    src_hi, src_lo, dst_hi, dst_lo = (batch.src_hi[rows], batch.src_lo[rows],
                                      batch.dst_hi[rows], batch.dst_lo[rows])
    sport, dport = batch.sport[rows], batch.dport[rows]
    src_is_low = (src_hi < dst_hi) | ((src_hi == dst_hi) & (
        (src_lo < dst_lo) | ((src_lo == dst_lo) & (sport <= dport))))
    low_port = np.where(src_is_low, sport, dport).astype(np.uint64)
    high_port = np.where(src_is_low, dport, sport).astype(np.uint64)
    keys = np.stack([
        np.where(src_is_low, src_hi, dst_hi), np.where(src_is_low, src_lo, dst_lo),
        np.where(src_is_low, dst_hi, src_hi), np.where(src_is_low, dst_lo, src_lo),
        (low_port << np.uint64(24)) | (high_port << np.uint64(8))
        | batch.proto[rows].astype(np.uint64),
    ], axis=1)
    hashed = np.zeros(len(rows), np.uint64)
    for word in range(KEY_WORDS):
        hashed = mix64(hashed ^ keys[:, word])
    order = np.argsort(hashed, kind="stable")
    hashed, keys = hashed[order], keys[order]
    same_hash = hashed[1:] == hashed[:-1]
    if (same_hash & (keys[1:] != keys[:-1]).any(axis=1)).any():  # a 64-bit collision
        by_key = np.lexsort(keys.T[::-1])
        order, keys = order[by_key], keys[by_key]
        same_hash = (keys[1:] == keys[:-1]).all(axis=1)
    starts = np.flatnonzero(np.concatenate([[True], ~same_hash]))
    return _Sorted(
        keys=np.ascontiguousarray(keys), src_is_low=src_is_low[order], ts=batch.ts_ns[rows][order],
        flags=batch.tcp_flags[rows][order].astype(np.int64), rows=rows[order], group_starts=starts,
    )
