"""Which alerted flows make one session: one attack is one alert, whoever it spoofs.

A session is normally one source host, one destination host and one verdict.
Two attacks break that: a flood from spoofed sources is one flow from each of
tens of thousands of "hosts", and a sweep is one flow to each of hundreds.
Counted per host pair they were 198,806 alerts for one SYN flood and 256 held-
back one-flow "scans" for one sweep. So before sessions are cut, a flow folds
into one session keyed by its destination (Suricata's ``track by_dst``) when
its verdict is a denial of service, or when flows of its verdict reached that
destination from ``MANY_HOSTS`` or more sources within a gap (a spoofed flood
the model mistook for something else is still one attack on one victim).
The rest fold into one session keyed by their source when the verdict is a
scan, or went from that source to ``MANY_HOSTS`` or more destinations (Zeek's
address scan: one host, many hosts, one window). The folded side's key is
``ANY_HOST``; the session keeps how many hosts it stands for.

Within a fold one verdict speaks for one attack: a scan's probes take their
source's commonest scan verdict, and a flood's odd flows (random sources and
ports that happen to look like another class) take their victim's commonest
denial-of-service verdict.
"""

from __future__ import annotations

import polars as pl

from trafficlm.session_rules import is_dos, is_scan

MANY_HOSTS = 20  # Zeek's scan detector says 25 hosts on one port; floods need fewer to matter
ANY_HOST = "*"
# a verdict under this share of the flows folded at a victim (one protocol) is the flood's
# noise; at or above it, a second attack on the same victim keeps an alert of its own
FLOOD_NOISE_SHARE = 0.2


def with_session_keys(alerted: pl.DataFrame, gap_s: float,
                      context: pl.DataFrame | None = None) -> pl.DataFrame:
    """``alerted`` plus ``session_src`` and ``session_dst``: the hosts a session is keyed
    by, ``ANY_HOST`` on the side folded away. ``context``: sessions reported before (the
    sensor reports a long flood in parts); a flow joins a fold that one of them began."""
    alerted = one_verdict_per_scan(alerted)
    by_victim = (is_dos(alerted["verdict"])
                 | _many_hosts(alerted, "dst_ip", "src_ip", gap_s)
                 | _folded_before(alerted, context, "dst_ip", "sources", gap_s))
    keyed = one_verdict_per_flood(alerted, by_victim).with_columns(
        pl.when(by_victim).then(pl.lit(ANY_HOST)).otherwise(pl.col("src_ip"))
        .alias("session_src"))
    by_source = ((is_scan(alerted["verdict"])
                  | _many_hosts(keyed, "src_ip", "dst_ip", gap_s)
                  | _folded_before(alerted, context, "src_ip", "destinations", gap_s))
                 & ~by_victim)
    return keyed.with_columns(
        pl.when(by_source).then(pl.lit(ANY_HOST)).otherwise(pl.col("dst_ip"))
        .alias("session_dst"))


def one_verdict_per_scan(alerted: pl.DataFrame) -> pl.DataFrame:
    """A scan's flows all take the scan verdict most of its source's scan flows have.

    One nmap run is SYN probes, service probes and fingerprinting probes: the
    model may call its flows PortScan, ServiceScan and OS Fingerprinting, and
    each verdict would be an alert of its own. The source's commonest scan
    verdict (ties: the first name) speaks for all of them: one scan, one alert.
    """
    scan = is_scan(pl.col("verdict"))
    if not alerted.select(scan.any()).item():
        return alerted
    dominant = commonest_verdict(alerted.filter(scan).group_by("src_ip", "verdict").len(),
                                 ["src_ip"], "_scan_verdict")
    return alerted.join(dominant, on="src_ip", how="left", maintain_order="left").with_columns(
        pl.when(scan).then(pl.col("_scan_verdict")).otherwise(pl.col("verdict"))
        .alias("verdict")).drop("_scan_verdict")


def one_verdict_per_flood(alerted: pl.DataFrame, by_victim: pl.Series) -> pl.DataFrame:
    """Minor verdicts folded at a victim take the victim's commonest verdict, when that is
    a denial of service and they share its protocol.

    A spoofed SYN flood is 200,000 one-packet flows from random sources: the model
    called 99.6% of one such flood DoS Syn Flood and the rest, whose random addresses
    and ports looked like something else, DoS UDP Flood or DNS Tunnel, and each was an
    alert at the victim of its own. A verdict holding under ``FLOOD_NOISE_SHARE`` of the
    victim's folded flows of that protocol is the flood's noise; a bigger one, or one of
    another protocol (a UDP flood beside a SYN flood), is a second attack and stays.
    """
    folded = alerted.with_columns(by_victim.alias("_folded"))
    counts = folded.filter("_folded").group_by("dst_ip", "proto", "verdict").len()
    if counts.is_empty():
        return alerted
    victim = ["dst_ip", "proto"]
    dominant = commonest_verdict(counts, victim, "_flood_verdict")
    noise = counts.join(dominant, on=victim).filter(
        is_dos(pl.col("_flood_verdict"))
        & (pl.col("len") < FLOOD_NOISE_SHARE * pl.col("len").sum().over(victim)))
    relabelled = folded.join(noise.drop("len"), on=[*victim, "verdict"], how="left",
                             maintain_order="left")
    return relabelled.with_columns(
        pl.when(pl.col("_folded") & pl.col("_flood_verdict").is_not_null())
        .then(pl.col("_flood_verdict")).otherwise(pl.col("verdict")).alias("verdict")
    ).drop("_folded", "_flood_verdict")


def commonest_verdict(counts: pl.DataFrame, keys: list[str], alias: str) -> pl.DataFrame:
    """Per ``keys``: the verdict with the most flows in ``counts`` (columns ``keys``,
    ``verdict``, ``len``), named ``alias``; ties go to the first name, so the fold's
    verdict never depends on the order flows arrived in (Ray's batches or one process)."""
    return counts.sort([*keys, "len", "verdict"],
                       descending=[False] * len(keys) + [True, False]).unique(
        keys, keep="first", maintain_order=True).select(*keys, pl.col("verdict").alias(alias))


def _folded_before(flows: pl.DataFrame, context: pl.DataFrame | None, host: str,
                   count: str, gap_s: float) -> pl.Series:
    """Per flow: whether an earlier session of its verdict at the same ``host`` stood for
    ``MANY_HOSTS`` or more (``count``) and ended at most ``gap_s`` before it began."""
    if context is None or context.is_empty() or count not in context.columns:
        return pl.Series([False] * flows.height, dtype=pl.Boolean)
    folds = context.filter(pl.col(count) >= MANY_HOSTS).group_by(host, "verdict").agg(
        pl.col("last_seen").max().alias("_fold_end"))
    joined = flows.select(host, "verdict", "start").join(
        folds, on=[host, "verdict"], how="left", maintain_order="left")
    return ((joined["start"] - joined["_fold_end"]).dt.total_seconds() <= gap_s).fill_null(False)


def _many_hosts(flows: pl.DataFrame, fixed: str, varied: str, gap_s: float) -> pl.Series:
    """Per flow, in input order: whether its burst (flows of its verdict at the same
    ``fixed`` host, each starting within ``gap_s`` of the burst so far) spans
    ``MANY_HOSTS`` or more distinct ``varied`` hosts."""
    same = (fixed, "verdict")
    ordered = flows.select(fixed, varied, "verdict", "start", "end").with_row_index(
        "_row").sort([*same, "start"])
    ordered = ordered.with_columns(
        pl.col("end").cum_max().shift(1).over(same).alias("_previous_end"))
    ordered = ordered.with_columns(
        (pl.col("_previous_end").is_null()
         | ((pl.col("start") - pl.col("_previous_end")).dt.total_seconds() > gap_s))
        .cum_sum().alias("_burst"))
    many = ordered.with_columns(
        (pl.col(varied).n_unique().over("_burst") >= MANY_HOSTS).alias("_many"))
    return many.sort("_row")["_many"]
