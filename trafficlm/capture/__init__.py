"""Capture ingestion: pcap/pcapng/gzip files into columnar packet batches."""

from trafficlm.capture.batch import PacketBatch, PacketStatus, RecordBatch, TcpFlag, TcpOption
from trafficlm.capture.reader import (
    CaptureReport,
    FoundCaptures,
    find_captures,
    read_packets,
    read_records,
)

__all__ = [
    "CaptureReport",
    "FoundCaptures",
    "PacketBatch",
    "PacketStatus",
    "RecordBatch",
    "TcpFlag",
    "TcpOption",
    "find_captures",
    "read_packets",
    "read_records",
]
