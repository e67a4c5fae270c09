"""Each alerted session's packets as a pcap, for Wireshark: ``triage --extract DIR``.

The capture is read a second time (ingest is cheap next to scoring); every
packet whose endpoint pair matches an alerted flow and whose time falls in
that flow's span goes to its session's file. Packets are matched on the
unordered (address, port) pair and protocol, so both directions land in the
file; later IP fragments carry no ports and are not extracted.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from trafficlm.capture import CaptureReport, read_records
from trafficlm.capture.decode import decode
from trafficlm.errors import CaptureError
from trafficlm.flows import FlowBatch
from trafficlm.hashing import mix64
from trafficlm.output import OutputError

PCAP_NS_MAGIC = 0xA1B23C4D
SNAPLEN = 262144


def pair_keys(a_hi, a_lo, a_port, b_hi, b_lo, b_port, proto) -> np.ndarray:
    """A hash of the endpoint pair and protocol that is the same in both directions."""
    a_first = (a_hi < b_hi) | ((a_hi == b_hi) & ((a_lo < b_lo) | ((a_lo == b_lo)
                                                                  & (a_port <= b_port))))
    low = [np.where(a_first, x, y) for x, y in ((a_hi, b_hi), (a_lo, b_lo), (a_port, b_port))]
    high = [np.where(a_first, y, x) for x, y in ((a_hi, b_hi), (a_lo, b_lo), (a_port, b_port))]
    h = np.asarray(proto, np.uint64)
    for column in (*low, *high):
        h = mix64(h ^ np.asarray(column).astype(np.uint64))
    return h


def flow_pair_keys(flows: FlowBatch) -> np.ndarray:
    return pair_keys(flows.init_hi, flows.init_lo, flows.init_port, flows.resp_hi,
                     flows.resp_lo, flows.resp_port, flows.proto)


def check_directory(directory: str) -> Path:
    """Create ``directory`` now, so an unusable path fails before any work."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".trafficlm-write-test", dir=path)  # O_EXCL
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{directory}: cannot write extracted sessions: "
                          f"{err.strerror or err}") from None
    return path


def extract_sessions(alerted: pl.DataFrame, sessions: pl.DataFrame, directory: Path) -> int:
    """Write one pcap per session from ``alerted`` flows (with session_id, pair_key,
    capture, start, end). Returns the packets written."""
    files = SessionFiles({row["session_id"]: directory / _file_name(row)
                          for row in sessions.iter_rows(named=True)})
    written = 0
    for capture in alerted["capture"].unique().to_list():
        flows = alerted.filter(pl.col("capture") == capture).select(
            "pair_key", pl.col("start").dt.epoch("ns").alias("from"),
            pl.col("end").dt.epoch("ns").alias("to"), "session_id")
        written += _extract_capture(capture, flows, files)
    return written


class SessionFiles:
    """One pcap per session, begun afresh by each run (a second run must not double every
    file) and never written through a symbolic link (triage often runs as root in a
    shared directory, where a planted link would make it write anywhere)."""

    def __init__(self, names: dict[int, Path]) -> None:
        self.names = names
        self._begun: set[int] = set()

    def append(self, session: int, linktype: int, records: bytes) -> None:
        path = self.names[session]
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            if session not in self._begun:
                if os.path.lexists(path):
                    os.unlink(path)  # a link is removed itself, its target untouched
                flags |= os.O_CREAT | os.O_EXCL
            fd = os.open(path, flags, 0o644)
            try:
                if session not in self._begun:
                    _write_all(fd, struct.pack("<IHHiIII", PCAP_NS_MAGIC, 2, 4, 0, 0,
                                               SNAPLEN, linktype))
                    self._begun.add(session)
                _write_all(fd, records)
            finally:
                os.close(fd)
        except OSError as err:
            raise OutputError(f"{path}: cannot write the session's packets: "
                              f"{err.strerror or err}") from None


def _write_all(fd: int, data: bytes) -> None:
    with memoryview(data) as view:
        while view:
            view = view[os.write(fd, view):]


def _file_name(session: dict) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", session["verdict"]).strip("-").lower()
    return f"session-{session['session_id']:04d}-{slug}.pcap"


def _extract_capture(capture: str, flows: pl.DataFrame, files: SessionFiles) -> int:
    wanted = flows["pair_key"].to_numpy()
    written = 0
    try:
        for records in read_records(capture, CaptureReport(capture)):
            packets = decode(records)
            keys = pair_keys(packets.src_hi, packets.src_lo, packets.sport, packets.dst_hi,
                             packets.dst_lo, packets.dport, packets.proto)
            rows = np.flatnonzero(np.isin(keys, wanted))
            if not len(rows):
                continue
            hits = pl.DataFrame({"row": rows, "pair_key": keys[rows],
                                 "ts": records.ts_ns[rows]}).join(flows, on="pair_key")
            hits = hits.filter((pl.col("ts") >= pl.col("from")) & (pl.col("ts") <= pl.col("to")))
            for (session,), part in hits.group_by("session_id"):
                written += _append(files, session, records,
                                   part["row"].unique().sort().to_numpy())
    except CaptureError:
        pass  # triage already reported the broken capture; what came before is written
    return written


def _append(files: SessionFiles, session: int, records, rows: np.ndarray) -> int:
    linktype = int(records.linktype[rows[0]])
    rows = rows[records.linktype[rows] == linktype]  # one link type per pcap file
    files.append(session, linktype, _pcap_records(records, rows).tobytes())
    return len(rows)


def _pcap_records(records, rows: np.ndarray) -> np.ndarray:
    """The rows as nanosecond pcap records (16-byte header, then the bytes), built columnar."""
    sizes = records.caplen[rows].astype(np.int64)
    ts = records.ts_ns[rows].astype(np.int64)
    headers = np.stack([ts // 1_000_000_000, ts % 1_000_000_000, sizes,
                        records.wirelen[rows]], axis=1).astype("<u4").view(np.uint8)
    ends = np.cumsum(sizes + 16)
    starts = ends - sizes  # where each record's bytes go, after its header
    out = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    out[(starts - 16)[:, None] + np.arange(16)] = headers
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[np.repeat(starts, sizes) + within] = records.buf[
        np.repeat(records.data_off[rows].astype(np.int64), sizes) + within]
    return out
