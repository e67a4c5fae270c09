"""CIC-IDS2017 labelled-flow CSVs: read them as they really are, and join them to our flows.

What real users trip on, handled here:
- column names with and without leading spaces, and ``Fwd Header Length`` twice
  (the second becomes ``Fwd Header Length 2``);
- the en dash of ``Web Attack – Brute Force`` / ``XSS`` / ``Sql Injection`` as a
  cp1252 byte 0x96, as U+FFFD after a lossy re-save, or as a plain hyphen: all
  read as the en dash;
- ``Infinity`` and ``NaN`` as text in numeric columns (read as inf and NaN);
- timestamps day first, without seconds and without AM/PM on a 12-hour clock
  (hours 1-7 are 13-19 h), in the capture site's local time, UTC-3, while the
  pcaps are UTC;
- ``Flow ID`` listing the endpoints in the other order than the Source and
  Destination columns (joins use the unordered pair);
- Engelen et al. 2021's corrected files, whose ``- Attempted`` labels mark
  attacks that did not work: BENIGN by default, or their own class;
- LF or CRLF line endings; the MachineLearningCVE variant without addresses
  or timestamps (readable, but it cannot be joined to captures).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import polars as pl

from trafficlm.training.config import ConfigError

KEY_COLUMNS = ("Source IP", "Source Port", "Destination IP", "Destination Port", "Protocol",
               "Timestamp")
SITE_UTC_OFFSET_HOURS = -3  # the CIC testbed's local time
JOIN_WINDOW_S = 120  # CIC timestamps are cut to the minute
DASHES = ("\u2013", "\ufffd", "\x96", "\u00e2\u20ac\u201c")
ATTEMPTED = re.compile(r"\s*-\s*Attempted$", re.IGNORECASE)
TIMESTAMP = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?$",
                       re.IGNORECASE)


def read_cicids(path: str | Path, attempted_as: str = "benign") -> pl.DataFrame:
    """A CIC-IDS2017 CSV as a frame with clean column names, numbers, UTC times and labels."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    text = _decode(raw)
    header, _, body = text.partition("\n")
    names = clean_columns(header.rstrip("\r").split(","))
    if "Label" not in names:
        raise ConfigError(f"{path}: no Label column; not a CIC-IDS2017 labelled-flow CSV")
    frame = pl.read_csv(io.StringIO(body), has_header=False, new_columns=names,
                        infer_schema=False, truncate_ragged_lines=False)
    frame = frame.with_columns(pl.col("Label").map_elements(
        lambda label: normalise_label(label, attempted_as), return_dtype=pl.String))
    numeric = [c for c in names if c not in ("Flow ID", "Source IP", "Destination IP",
                                             "Timestamp", "Label")]
    frame = frame.with_columns(_number(c) for c in numeric)
    if "Timestamp" in names:
        frame = frame.with_columns(pl.col("Timestamp").map_elements(
            parse_timestamp, return_dtype=pl.Int64).alias("start_ns"))
    return frame


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # 0x96 -> en dash
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def clean_columns(names: list[str]) -> list[str]:
    """Strip the stray spaces; number repeated names (``Fwd Header Length 2``)."""
    seen: dict[str, int] = {}
    out = []
    for name in (n.strip() for n in names):
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return out


def normalise_label(label: str, attempted_as: str = "benign") -> str:
    label = label.strip()
    for dash in DASHES:
        label = label.replace(dash, "\u2013")
    label = re.sub(r"^Web Attack\s*-\s*", "Web Attack \u2013 ", label)
    if ATTEMPTED.search(label):
        return "BENIGN" if attempted_as == "benign" else ATTEMPTED.sub(" - Attempted", label)
    return label


def _number(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return (pl.when(text == "Infinity").then(float("inf"))
            .when(text == "-Infinity").then(float("-inf"))
            .otherwise(text.cast(pl.Float64, strict=False)).alias(column))


def parse_timestamp(text: str) -> int | None:
    """``7/7/2017 3:30`` (site time, 12-hour clock, no AM/PM) -> UTC nanoseconds."""
    match = TIMESTAMP.match(text.strip())
    if not match:
        return None
    day, month, year, hour, minute, second, meridiem = match.groups()
    hour = int(hour) % 12 if meridiem else int(hour)
    afternoon = meridiem.upper() == "PM" if meridiem else 1 <= hour <= 7  # captures: 8-17 h
    hour += 12 if afternoon else 0
    moment = np.datetime64(f"{year}-{int(month):02d}-{int(day):02d}T{hour:02d}:{minute}:"
                           f"{int(second or 0):02d}", "ns")
    return int((moment - np.timedelta64(SITE_UTC_OFFSET_HOURS, "h")).astype(np.int64))


def swapped_flow_ids(frame: pl.DataFrame) -> int:
    """Rows whose Flow ID lists the destination endpoint first."""
    first = frame["Flow ID"].str.split("-").list.get(0)
    return int((first != frame["Source IP"]).sum())


def join_labels(cic: pl.DataFrame, flows: pl.DataFrame) -> tuple[list[str | None], float]:
    """Each of our flows' CIC label (None: no match) and the share of flows matched.

    Matched on protocol, the unordered endpoint pair and the nearest CIC
    timestamp within two minutes of the flow's start.
    """
    missing = [c for c in KEY_COLUMNS if c not in cic.columns]
    if missing:
        raise ConfigError(f"CIC CSV lacks {', '.join(missing)}: this variant (e.g. "
                          "MachineLearningCVE) cannot be joined to captures")
    left = _keyed(flows.with_row_index("row"), "src_ip", "src_port", "dst_ip", "dst_port",
                  pl.col("proto").replace_strict({"TCP": 6, "UDP": 17, "ICMP": 1},
                                                 default=0, return_dtype=pl.Int64),
                  pl.col("start").dt.epoch("ns"))
    right = _keyed(cic.with_row_index("cic_row"), "Source IP", "Source Port", "Destination IP",
                   "Destination Port", pl.col("Protocol").cast(pl.Int64),
                   pl.col("start_ns")).select("key", "t", "Label")
    joined = left.join(right, on="key", how="inner", suffix="_cic").with_columns(
        (pl.col("t") - pl.col("t_cic")).abs().alias("gap"))
    best = (joined.filter(pl.col("gap") <= JOIN_WINDOW_S * 10**9).sort("gap")
            .group_by("row", maintain_order=True).first())
    labels: list[str | None] = [None] * len(flows)
    for row, label in zip(best["row"].to_list(), best["Label"].to_list(), strict=True):
        labels[row] = label
    return labels, (len(best) / len(flows) if len(flows) else 0.0)


def _keyed(frame: pl.DataFrame, a_ip, a_port, b_ip, b_port, proto: pl.Expr,
           time: pl.Expr) -> pl.DataFrame:
    a = pl.concat_str([pl.col(a_ip), pl.col(a_port).cast(pl.Int64).cast(pl.String)], separator=":")
    b = pl.concat_str([pl.col(b_ip), pl.col(b_port).cast(pl.Int64).cast(pl.String)], separator=":")
    low = pl.when(a < b).then(a).otherwise(b)
    high = pl.when(a < b).then(b).otherwise(a)
    return frame.with_columns(
        pl.concat_str([proto.cast(pl.String), low, high], separator="|").alias("key"),
        time.alias("t"))


def load_cicids_day(csv_path: str, capture: str, tokenizer, attempted_as: str = "benign",
                    cap_per_label: int = 5000, seed: int = 0, say=print):
    """One CIC-IDS2017 day: its pcap's flows labelled from its CSV; the day is the group.

    Says how many flows matched a CSV row; refuses a pairing where none do.
    """
    from trafficlm.flows.frame import flows_frame
    from trafficlm.training.datasets.captures import labelled_capture

    cic = read_cicids(csv_path, attempted_as)
    rate = {}

    def label_of(flows):
        labels, rate["matched"] = join_labels(cic, flows_frame(flows))
        return np.array(labels, dtype=object)

    day = Path(csv_path).name.split(".")[0]
    flowset, _, unmatched = labelled_capture(capture, label_of, Path(capture).name, day,
                                             tokenizer, cap_per_label, seed)
    if flowset is None or not len(flowset):
        raise ConfigError(f"{csv_path}: its {cic.height} labels match none of the flows of "
                          f"{capture} ({unmatched} flows)")
    say(f"{day}: {rate['matched']:.1%} of {len(flowset) + unmatched} flows matched a CSV row "
        f"({unmatched} unmatched, dropped)")
    return flowset
