"""Build a large benchmark capture from the real captures in ../shared/corpus.

Ethernet captures are concatenated round after round; each round is shifted
later in time than the last (past every flow timeout) so every round adds new
flows, as a long real capture would. The result is a plain microsecond pcap.
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np

from trafficlm.capture import CaptureReport, read_records

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ROUND_GAP_NS = 3600 * 1_000_000_000
MAX_FILE_SPAN_NS = 6 * 3600 * 1_000_000_000  # a few corpus files span years


def ethernet_captures(corpus: Path = CORPUS, label: str | None = None) -> list[Path]:
    """The corpus's Ethernet captures; only those MANIFEST.tsv labels ``label``, if given."""
    with open(corpus / "MANIFEST.tsv", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    return [corpus / r["path"] for r in rows
            if r["linktype"] == "ethernet" and label in (None, r["label"])]


def _one_round(paths: list[Path]) -> tuple[np.ndarray, list[bytes]]:
    """Timestamps (rebased to start at 0, in file order) and frames of every capture."""
    stamps, frames = [], []
    clock = 0
    for path in paths:
        report = CaptureReport(str(path))
        file_stamps = []
        for records in read_records(str(path), report):
            buf = records.buf.tobytes()
            for off, length in zip(records.data_off.tolist(), records.caplen.tolist(), strict=True):
                frames.append(buf[off : off + length])
            file_stamps.append(records.ts_ns)
        if file_stamps:
            ts = np.concatenate(file_stamps)
            ts = np.clip(ts - ts.min(), 0, MAX_FILE_SPAN_NS) + clock
            clock = int(ts.max()) + 1_000_000
            stamps.append(ts)
    return np.concatenate(stamps), frames


def write_benchmark_capture(out: Path, min_packets: int, label: str | None = None) -> int:
    """Write at least ``min_packets`` packets to ``out`` (from the captures labelled
    ``label``, or all); return how many."""
    stamps, frames = _one_round(ethernet_captures(label=label))
    span = int(stamps.max()) + ROUND_GAP_NS
    written = 0
    base = 1_500_000_000 * 1_000_000_000
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        round_no = 0
        while written < min_packets:
            shifted = stamps + base + round_no * span
            for ts, frame in zip(shifted.tolist(), frames, strict=True):
                seconds, ns = divmod(ts, 1_000_000_000)
                f.write(struct.pack("<IIII", seconds, ns // 1000, len(frame), len(frame)))
                f.write(frame)
            written += len(frames)
            round_no += 1
    return written
