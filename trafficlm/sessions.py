"""Alerted flows grouped into sessions: one alert per scan, brute force or flood, not thousands.

A session is the alerted flows from one source host to one destination host
with one verdict, where each flow starts within ``gap_s`` of the previous one.
Not every session is an alert of its own: ``session_rules`` holds back the
ones whose verdict needs more flows, and a DoS victim's collateral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trafficlm.model_files import BENIGN, UNKNOWN
from trafficlm.session_folding import with_session_keys
from trafficlm.session_rules import HELD_BACK_SCHEMA, believed, is_dos, over_the_cap
from trafficlm.volume_floors import DEFAULT_FLOORS, VolumeFloors

# alerts one report holds; the lowest-ranked beyond it are held back, counted (a flood of
# distinct attacks must not fill the analyst's screen or the sensor's disk either)
MAX_SESSIONS = 1000
# distinct token-sequence hashes kept per session: what analyst feedback pins an alert to
# (and what a site adapter finds look-alikes by); a flood's thousands of flows repeat few
MAX_CONTENT_HASHES = 32
SCORE_PLACES = 4  # a session's mean scores, as reported


@dataclass
class SessionTable:
    sessions: pl.DataFrame  # one row per session worth an alert
    flows: pl.DataFrame  # those sessions' alerted flows, with their session_id
    held_back: pl.DataFrame  # sessions not alerted on their own, and why (session_rules)

    @classmethod
    def empty(cls, alerted: pl.DataFrame | None = None) -> SessionTable:
        """No session; ``alerted``: the (empty) alerted flows, kept for their columns."""
        flows = pl.DataFrame() if alerted is None else alerted
        return cls(_empty_sessions(), flows.with_columns(pl.lit(0, pl.Int64).alias("session_id")),
                   pl.DataFrame(schema=HELD_BACK_SCHEMA))


def alerted_flows(flows: pl.DataFrame) -> pl.DataFrame:
    """The flows worth an alert (an attack class, or unlike training), with their verdict
    (flows the sensor held keep the verdict their session keys gave them)."""
    alerted = flows.filter((pl.col("label") != BENIGN) | pl.col("unlike_training"))
    if "verdict" in alerted.columns:
        return alerted
    return alerted.with_columns(
        pl.when(pl.col("label") == BENIGN).then(pl.lit(UNKNOWN)).otherwise(pl.col("label"))
        .alias("verdict"))


def build_sessions(flows: pl.DataFrame, gap_s: float = 300.0,
                   context: pl.DataFrame | None = None,
                   floors: VolumeFloors = DEFAULT_FLOORS) -> SessionTable:
    """``flows`` needs the flow columns plus label, confidence, attack_score, unlike_training.
    ``context``: sessions reported before, for the rules (``session_rules.believed``);
    ``floors``: flows a volume verdict needs at one destination (a scan: at its source)."""
    alerted = alerted_flows(flows)
    if alerted.is_empty():
        return SessionTable.empty(alerted)
    if "session_src" not in alerted.columns:  # the sensor keys its held flows itself
        alerted = with_session_keys(alerted, gap_s, context)
    alerted = alerted.sort(["session_src", "session_dst", "verdict", "start"])
    same = ((pl.col("session_src") == pl.col("session_src").shift(1))
            & (pl.col("session_dst") == pl.col("session_dst").shift(1))
            & (pl.col("verdict") == pl.col("verdict").shift(1))
            & ((pl.col("start") - pl.col("start").shift(1)).dt.total_seconds() <= gap_s))
    alerted = alerted.with_columns((~same.fill_null(False)).cum_sum().alias("session_id"))
    # ties (a scan touches each port once) go to the lowest port or host, so output is stable
    top_port = pl.col("dst_port").mode().min()
    sessions = alerted.group_by("session_id", maintain_order=True).agg(
        pl.col("src_ip").mode().min(), pl.col("dst_ip").mode().min(),
        pl.col("src_ip").n_unique().alias("sources"),
        pl.col("dst_ip").n_unique().alias("destinations"),
        pl.col("verdict").first(), pl.col("proto").first(),
        pl.col("start").min().alias("first_seen"), pl.col("end").max().alias("last_seen"),
        pl.len().alias("flows"), pl.col("dst_port").n_unique().alias("dst_ports"),
        top_port.alias("top_dst_port"),
        (pl.col("dst_port") == top_port).sum().alias("top_dst_port_flows"),
        pl.col("dst_port").min().alias("lowest_dst_port"),
        pl.col("dst_port").max().alias("highest_dst_port"),
        pl.col("src_port").first(),
        # to 4 places: scores from batches of other sizes (Ray's workers) differ in the 7th
        pl.col("attack_score").mean().round(SCORE_PLACES).alias("mean_attack_score"),
        pl.col("confidence").mean().round(SCORE_PLACES).alias("mean_confidence"),
        pl.col("unlike_training").mean().alias("share_unlike_training"),
        (pl.col("packets_fwd") + pl.col("packets_bwd")).sum().alias("packets"),
        pl.col("packets_fwd").sum().alias("pkts_toserver"),
        pl.col("packets_bwd").sum().alias("pkts_toclient"),
        pl.col("bytes_fwd").sum().alias("bytes_toserver"),
        pl.col("bytes_bwd").sum().alias("bytes_toclient"),
        pl.col("rst_count").gt(0).mean().alias("share_reset"),
        pl.col("flow_id").first(),
        pl.col("evidence").sort_by("attack_score").drop_nulls().last().alias("evidence"),
        pl.col("content_hash").unique().sort().head(MAX_CONTENT_HASHES).alias("content_hashes"),
    )
    sessions, held_back = believed(sessions, gap_s, context, floors)
    sessions = sessions.with_columns(severity(pl.col("verdict"), pl.col("mean_confidence")))
    sessions = sessions.sort(["severity", "flows"], descending=[False, True], maintain_order=True)
    sessions, over = sessions.head(MAX_SESSIONS), sessions.slice(MAX_SESSIONS)
    held_back = pl.concat([held_back, over_the_cap(over, MAX_SESSIONS)])
    return SessionTable(*_numbered_by_rank(sessions, alerted), held_back)


def _numbered_by_rank(sessions: pl.DataFrame, alerted: pl.DataFrame
                      ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Session ids 1..n in rank order (session 1 is the top alert); flows follow their
    session, and the flows of held-back sessions leave."""
    rank = sessions.select(pl.col("session_id").alias("old"),
                           pl.int_range(1, sessions.height + 1, dtype=pl.Int64).alias("new"))
    alerted = alerted.join(rank, left_on="session_id", right_on="old").with_columns(
        pl.col("new").alias("session_id")).drop("new")
    return sessions.with_columns(rank["new"].alias("session_id")), alerted


def severity(verdict: pl.Expr, confidence: pl.Expr) -> pl.Expr:
    """Suricata's scale, 1 (high) to 3 (low): denial of service and confident attacks first."""
    high = is_dos(verdict) | verdict.str.contains("Sql Injection")
    return (pl.when(high & (confidence >= 0.8)).then(1)
            .when((verdict != UNKNOWN) & (confidence >= 0.6)).then(2)
            .otherwise(3).alias("severity"))


def _empty_sessions() -> pl.DataFrame:
    return pl.DataFrame(schema={"session_id": pl.Int64, "verdict": pl.String,
                                "severity": pl.Int32, "flows": pl.UInt32,
                                "collateral_flows": pl.UInt32, "collateral_sources": pl.UInt32})


def _ports(row: dict) -> str:
    """One port; the port most flows went to, when that is most of them; else the range
    (a scan that hits one port twice is still a scan of its range)."""
    if row["dst_ports"] == 1:
        return str(row["top_dst_port"])
    if 2 * row["top_dst_port_flows"] > row["flows"]:
        return f"mostly {row['top_dst_port']}"
    return f"{row['lowest_dst_port']}-{row['highest_dst_port']}"


def _hosts(row: dict, count: str, address: str) -> str:
    """One host, or how many (a spoofed flood's sources, a sweep's targets)."""
    many = row.get(count) or 1
    return row[address] if many == 1 else f"{many:,} hosts (e.g. {row[address]})"


def explanation(row: dict) -> str:
    """The session facts that make the verdict plausible, in one line."""
    span = (row["last_seen"] - row["first_seen"]).total_seconds()
    parts = [f"{row['flows']} flow(s) from {_hosts(row, 'sources', 'src_ip')} to "
             f"{_hosts(row, 'destinations', 'dst_ip')}",
             f"{row['dst_ports']} destination port(s) ({_ports(row)})", f"in {span:.2f} s"]
    if row["share_reset"] > 0.5:
        parts.append(f"{100 * row['share_reset']:.0f}% ended by RST")
    if row["share_unlike_training"] > 0:
        parts.append(f"{100 * row['share_unlike_training']:.0f}% unlike anything in training")
    parts.append(f"model confidence {np.round(row['mean_confidence'], 2)}")
    if row.get("collateral_flows"):
        parts.append(f"meanwhile {row['collateral_flows']} flow(s) from "
                     f"{row['collateral_sources']} host(s) to {row['dst_ip']} were unlike "
                     "training (likely its collateral, not alerted on their own)")
    text = ", ".join(parts)
    if row.get("evidence"):
        text += f"; evidence: {'; '.join(row['evidence'])}"
    if row.get("protocol_fields"):
        text += f"; seen by tshark: {row['protocol_fields']}"
    return text
