"""Sessions on a live link: alerted flows are held until their session is ready to report.

Offline, triage sees the whole capture and builds each session once. Live,
a session is reported when its hosts have been quiet for ``gap_s`` (it
closed), or when it has been open ``report_s`` (so an ongoing scan alerts
while it runs; its later flows make the next report). The reported rows come
from the same ``build_sessions`` as triage, so both speak alike. The held
flows are capped: past ``max_flows`` the sessions that began first are
reported early, and counted, as are the sessions ``session_rules`` holds back.
Those rules see every held flow and the sessions reported in the last
``gap_s``, so a session reported in parts is judged as offline triage judges
it whole.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from trafficlm.session_folding import with_session_keys
from trafficlm.session_rules import CONTEXT_COLUMNS
from trafficlm.sessions import alerted_flows, build_sessions
from trafficlm.volume_floors import DEFAULT_FLOORS, VolumeFloors

KEY = ("session_src", "session_dst", "verdict")  # see session_folding
NS = 1_000_000_000
CONTEXT_SESSIONS = 10_000  # reported sessions remembered for the rules of later parts


class LiveSessions:
    def __init__(self, gap_s: float, report_s: float, max_flows: int,
                 max_context: int = CONTEXT_SESSIONS,
                 floors: VolumeFloors = DEFAULT_FLOORS) -> None:
        self.gap_s, self.report_s, self.max_flows = gap_s, report_s, max_flows
        self.floors = floors
        self.max_context = max_context
        self.held: pl.DataFrame | None = None
        self._keyed = False  # whether the held flows carry their session keys
        self.next_id = 1
        self.reported_early = 0
        self.held_back: Counter[str] = Counter()  # sessions not alerted on their own, by rule
        self.context: pl.DataFrame | None = None  # sessions reported lately (_remember)
        self.context_evicted = 0

    def __len__(self) -> int:
        return 0 if self.held is None else self.held.height

    def add(self, scored: pl.DataFrame) -> None:
        """Keep the alerted flows of a scored frame (see ``detect.scored_frame``)."""
        alerted = alerted_flows(scored)
        if alerted.is_empty():
            return
        # the held flows may carry the keys of the last ``due``; new ones get theirs at the next
        self.held = alerted if self.held is None else pl.concat([self.held, alerted],
                                                                how="diagonal_relaxed")
        self._keyed = False

    def due(self, now_ns: int) -> pl.DataFrame | None:
        """Sessions ready to report now (closed, open too long, or over the flow cap)."""
        if self.held is None:
            return None
        self._key_held()
        spans = self.held.group_by(KEY).agg(pl.col("start").min().alias("first"),
                                            pl.col("end").max().alias("last"), pl.len(),
                                            (pl.col("packets_fwd") + pl.col("packets_bwd"))
                                            .sum().alias("packets"),
                                            pl.col("src_ip").n_unique().alias("sources"),
                                            pl.col("dst_ip").n_unique().alias("destinations"),
                                            pl.col("dst_port").n_unique().alias("dst_ports"))
        now = pl.lit(now_ns).cast(pl.Datetime("ns", "UTC"))
        ready = spans.filter(((now - pl.col("last")).dt.total_seconds() >= self.gap_s)
                             | ((now - pl.col("first")).dt.total_seconds() >= self.report_s))
        ready = pl.concat([ready, self._over_cap(spans.join(ready, on=list(KEY), how="anti"),
                                                 self.held.height - ready["len"].sum())])
        waiting = spans.join(ready, on=list(KEY), how="anti").select(
            pl.col("session_src").alias("src_ip"), pl.col("session_dst").alias("dst_ip"),
            "verdict", pl.col("first").alias("first_seen"), pl.col("last").alias("last_seen"),
            pl.col("len").alias("flows"), "packets", "sources", "destinations", "dst_ports")
        return self._take(ready.select(KEY), waiting)

    def _key_held(self) -> None:
        """Key the held flows as offline triage would key them together, so a spoofed
        flood is one span (one report each ``report_s``), not one per spoofed source.
        Only after new flows came: keying 100,000 held flows takes ~0.2 s."""
        if self._keyed:
            return
        self._keyed = True
        self.held = with_session_keys(self.held.drop(KEY[:2], strict=False), self.gap_s,
                                      self.context)

    def _over_cap(self, waiting: pl.DataFrame, held_after: int) -> pl.DataFrame:
        """The earliest-begun sessions whose report brings the held flows under the cap."""
        if held_after <= self.max_flows:
            return waiting.clear()
        waiting = waiting.sort("first")
        freed = waiting["len"].cum_sum()
        early = waiting.filter((freed - waiting["len"]) < held_after - self.max_flows)
        self.reported_early += early.height
        return early

    def take_all(self) -> pl.DataFrame | None:
        """Every held session (shutdown)."""
        if self.held is None:
            return None
        self._key_held()
        return self._take(self.held.select(KEY).unique(), None)

    def _take(self, keys: pl.DataFrame, waiting: pl.DataFrame | None) -> pl.DataFrame | None:
        """Report the sessions of ``keys``. The rules judge them beside the sessions still
        ``waiting`` (one span per key) and those reported in the last ``gap_s``, so a flood
        reported in parts keeps its volume and a victim's collateral is seen whichever part
        comes first; only the due flows are aggregated, so a report stays cheap."""
        if keys.is_empty():
            return None
        flows = self.held.join(keys, on=list(KEY), how="semi")
        self.held = self.held.join(keys, on=list(KEY), how="anti")
        if self.held.is_empty():
            self.held = None
        known = [c for c in (self.context, waiting) if c is not None and not c.is_empty()]
        context = pl.concat(known, how="diagonal_relaxed") if known else None
        table = build_sessions(flows, self.gap_s, context, self.floors)
        self.held_back.update(table.held_back["rule"])
        sessions = table.sessions.with_columns(
            pl.int_range(self.next_id, self.next_id + pl.len(), dtype=pl.Int64)
            .alias("session_id"))
        self.next_id += sessions.height
        self._remember(sessions)
        return sessions

    def _remember(self, sessions: pl.DataFrame) -> None:
        """Keep reported sessions as context for ``gap_s`` after they end, at most
        ``max_context`` of them (the oldest leave first, counted)."""
        if sessions.is_empty():  # every due session was held back: nothing new to remember
            return
        reported = sessions.select(CONTEXT_COLUMNS)
        context = reported if self.context is None else pl.concat([self.context, reported])
        newest = context["last_seen"].max()
        context = context.filter((newest - pl.col("last_seen")).dt.total_seconds() <= self.gap_s)
        if context.height > self.max_context:
            self.context_evicted += context.height - self.max_context
            context = context.sort("last_seen").tail(self.max_context)
        self.context = context
