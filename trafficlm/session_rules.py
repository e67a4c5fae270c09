"""Which sessions are believed as alerts of their own, and why the others are held back.

A flow classifier judges one flow; some verdicts only mean something in
numbers. A flood, a scan or a brute force is many connections: one HTTP
request that happens to look like a flood flow is not a flood. So a volume
verdict needs a minimum of flows at its destination, counted over every
source in overlapping sessions (a flood from spoofed sources is many
one-flow sessions), the way Suricata's threshold rules count
(``track by_dst, count N``); a flood may reach a minimum of packets instead,
since one host's ICMP flood can be a single flow of thousands. A scan is
counted at its source instead, the scanner, as Zeek's scan detector counts:
the ICMP errors eight routers send one host during a traceroute are one flow
each, not a scan by any of them.

During a denial of service the victim's other clients see resets and stalls
that look unlike anything in training. Such "Unknown" sessions to the
victim while the DoS session runs are not alerted on their own: they are
counted in the DoS alert as its collateral.

Nothing is dropped silently: every held-back session comes back with its
reason, for triage's summary and the sensor's counters.
"""

from __future__ import annotations

import polars as pl

from trafficlm.model_files import UNKNOWN
from trafficlm.volume_floors import DEFAULT_FLOORS, DOS_WORD, SCAN_WORDS, VolumeFloors

HELD_BACK_SCHEMA = {"src_ip": pl.String, "dst_ip": pl.String,
                    "verdict": pl.String, "flows": pl.UInt32, "rule": pl.String,
                    "reason": pl.String}
# what a reported session leaves behind as context for later parts (see ``believed``)
CONTEXT_COLUMNS = ("src_ip", "dst_ip", "verdict", "first_seen", "last_seen", "flows",
                   "packets", "sources", "destinations", "dst_ports")
TOO_FEW, COLLATERAL, REPORT_CAP = "too_few_flows", "dos_collateral", "report_cap"  # rule ids
RULES = {TOO_FEW: "too few flows (a scan: hosts or ports) for the verdict",
         COLLATERAL: "collateral of a denial of service",
         REPORT_CAP: "more sessions than one report holds"}


def is_dos(verdict: pl.Expr) -> pl.Expr:
    """Whether a verdict is a denial of service (for severity, volume and collateral)."""
    return verdict.str.contains(DOS_WORD, literal=True)


def is_scan(verdict: pl.Expr) -> pl.Expr:
    """Whether a verdict is a scan (a session is then its source's, whatever it probed)."""
    return pl.any_horizontal(verdict.str.contains(word, literal=True) for word in SCAN_WORDS)


def _volume_minimum(verdict: pl.Expr, floors: VolumeFloors) -> pl.Expr:
    """Flows the verdict needs at one host (``_counted_at``) before it is believed (1: any)."""
    needed = pl.lit(1)
    for word, minimum in reversed(floors.by_word()):
        needed = pl.when(verdict.str.contains(word, literal=True)).then(minimum).otherwise(needed)
    return needed


def _counted_at(verdict: pl.Expr) -> pl.Expr:
    """Where a verdict's volume is counted: a scan at its source (the scanner), every
    other verdict at its destination (the victim)."""
    return pl.when(is_scan(verdict)).then(pl.col("src_ip")).otherwise(pl.col("dst_ip"))


def _with_volume(sessions: pl.DataFrame, gap_s: float) -> pl.DataFrame:
    """Adds ``volume_host`` (``_counted_at``), ``volume_flows``, ``volume_packets`` and
    ``volume_targets``: flows, packets and breadth (the most of distinct destinations,
    destination ports and sources: a scan's targets, or the spoofed sources of a flood the
    model called a scan) of the session's verdict at that host, over the sessions that
    overlap it (chained within ``gap_s``), whichever host was on their other side."""
    same = ("volume_host", "verdict")
    ordered = sessions.with_columns(_counted_at(pl.col("verdict")).alias("volume_host")).sort(
        [*same, "first_seen"]).with_columns(
        pl.col("last_seen").cum_max().shift(1).over(same).alias("_previous_end"))
    ordered = ordered.with_columns(
        (pl.col("_previous_end").is_null()
         | ((pl.col("first_seen") - pl.col("_previous_end")).dt.total_seconds() > gap_s))
        .cum_sum().alias("_burst"))
    targets = pl.max_horizontal("destinations", "dst_ports", "sources")
    return ordered.with_columns(pl.col("flows").sum().over("_burst").alias("volume_flows"),
                                pl.col("packets").sum().over("_burst").alias("volume_packets"),
                                targets.sum().over("_burst").alias("volume_targets")
                                ).drop("_previous_end", "_burst")


def believed(sessions: pl.DataFrame, gap_s: float, context: pl.DataFrame | None = None,
             floors: VolumeFloors = DEFAULT_FLOORS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(sessions to alert, with their collateral counted; held-back sessions and why).

    ``context``: sessions already reported (the sensor reports long sessions in
    parts), which count toward a destination's volume and can be the DoS whose
    collateral a new session is; they are not returned again.
    """
    both = sessions.with_columns(pl.lit(False).alias("_context"))
    if context is not None and not context.is_empty():
        both = pl.concat([both, context.select(CONTEXT_COLUMNS).with_columns(
            pl.lit(-1, pl.Int64).alias("session_id"), pl.lit(True).alias("_context"))],
            how="diagonal_relaxed")
    enough, too_few = _split_by_volume(both, gap_s, floors)
    # a lone flow unlike training at a DoS victim is still the flood's collateral
    lone_unknown = too_few.filter(pl.col("verdict") == UNKNOWN).drop("reason", "rule")
    collateral = _collateral_of_dos(pl.concat([enough, lone_unknown], how="diagonal_relaxed"))
    too_few = too_few.join(collateral.select("session_id"), on="session_id", how="anti")
    kept = enough.filter(~pl.col("_context")).drop("_context").join(
        collateral.select("session_id"), on="session_id", how="anti")
    kept = kept.join(_collateral_counts(collateral), left_on="session_id",
                     right_on="dos_session", how="left").with_columns(
        pl.col("collateral_flows").fill_null(0), pl.col("collateral_sources").fill_null(0))
    held_back = pl.concat([part.select(list(HELD_BACK_SCHEMA)).cast(HELD_BACK_SCHEMA)
                           for part in (too_few, collateral)])
    return kept.sort("session_id"), held_back


def _split_by_volume(sessions: pl.DataFrame, gap_s: float, floors: VolumeFloors
                     ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(sessions whose volume host (``_counted_at``) saw enough of their verdict, context
    included; the new ones that did not, with the reason). A scan needs distinct targets,
    not flows: a client retrying one unanswered server is many flows to one port, and a
    scan, as Zeek counts it, is many ports of a host or many hosts."""
    judged = _with_volume(sessions, gap_s).with_columns(
        _volume_minimum(pl.col("verdict"), floors).alias("needed"))
    dos, scan = is_dos(pl.col("verdict")), is_scan(pl.col("verdict"))
    enough = pl.when(scan).then(pl.col("volume_targets") >= pl.col("needed")).otherwise(
        (pl.col("volume_flows") >= pl.col("needed"))
        | (dos & (pl.col("volume_packets") >= floors.dos_packets)))
    packets = pl.when(dos).then(pl.format(" ({} packets, fewer than {})", "volume_packets",
                                          pl.lit(floors.dos_packets))).otherwise(pl.lit(""))
    volume = pl.when(scan).then(pl.format("{} host(s) or port(s) probed from", "volume_targets")
                                ).otherwise(pl.format("{} flow(s) at", "volume_flows"))
    too_few = judged.filter(~enough & ~pl.col("_context")).with_columns(
        pl.format("{} {}, fewer than the {} a {} needs{}", volume, "volume_host", "needed",
                  "verdict", packets).alias("reason"),
        pl.lit(TOO_FEW).alias("rule"))
    dropped = ("volume_host", "volume_flows", "volume_packets", "volume_targets", "needed")
    return judged.filter(enough).drop(dropped), too_few.drop(dropped)


def _collateral_of_dos(sessions: pl.DataFrame) -> pl.DataFrame:
    """Unknown sessions to a DoS session's destination while that DoS session ran."""
    dos = sessions.filter(is_dos(pl.col("verdict"))).select(
        pl.col("session_id").alias("dos_session"), pl.col("verdict").alias("dos_verdict"),
        pl.col("src_ip").alias("dos_source"), "dst_ip",
        pl.col("first_seen").alias("dos_first"), pl.col("last_seen").alias("dos_last"))
    unknown = sessions.filter((pl.col("verdict") == UNKNOWN) & ~pl.col("_context"))
    hits = unknown.join(dos, on="dst_ip").filter(
        (pl.col("first_seen") <= pl.col("dos_last")) & (pl.col("last_seen") >= pl.col("dos_first")))
    return hits.unique("session_id", keep="first", maintain_order=True).with_columns(
        pl.format("unlike training while {} from {} ran against {}: its collateral",
                  "dos_verdict", "dos_source", "dst_ip").alias("reason"),
        pl.lit(COLLATERAL).alias("rule"))


def _collateral_counts(collateral: pl.DataFrame) -> pl.DataFrame:
    return collateral.group_by("dos_session").agg(
        pl.col("flows").sum().cast(pl.UInt32).alias("collateral_flows"),
        pl.col("src_ip").n_unique().cast(pl.UInt32).alias("collateral_sources"))


def over_the_cap(sessions: pl.DataFrame, cap: int) -> pl.DataFrame:
    """Held-back rows for the lowest-ranked ``sessions`` beyond a report's ``cap``."""
    return sessions.with_columns(
        pl.lit(f"ranked below the {cap:,} alerts one report holds").alias("reason"),
        pl.lit(REPORT_CAP).alias("rule")).select(list(HELD_BACK_SCHEMA)).cast(HELD_BACK_SCHEMA)
