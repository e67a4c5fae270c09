"""The CIC-IDS2017 loader on real excerpts (../shared/cicids-samples) and on fixtures
written here in the exact CIC format for what the real excerpts lack (labelled synthetic)."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.cicids import (
    join_labels,
    load_cicids_day,
    parse_timestamp,
    read_cicids,
    swapped_flow_ids,
)

from conftest import REPO, SHARED

SAMPLES = SHARED / "cicids-samples"
LABELLING = SAMPLES / "TrafficLabelling" / "Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.sample.csv"
MLCVE = SAMPLES / "MachineLearningCVE" / "Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.sample.csv"
needs_samples = pytest.mark.skipif(not LABELLING.exists(), reason=f"missing {SAMPLES}")
HEADER = ("Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, "
          "Timestamp, Flow Duration, Fwd Header Length, Flow Bytes/s, Fwd Header Length, Label")


def ns(text: str) -> int:
    return int(np.datetime64(text, "ns").astype(np.int64))


@needs_samples
def test_real_traffic_labelling_excerpt():
    frame = read_cicids(LABELLING)
    assert frame.height == 299
    assert "Source IP" in frame.columns and " Source IP" not in frame.columns
    assert {"Fwd Header Length", "Fwd Header Length 2"} <= set(frame.columns)
    assert frame["Label"].unique().to_list() == ["BENIGN"]
    assert frame.filter(pl.col("Flow Bytes/s").is_infinite()).height == 1
    # "7/7/2017 3:30" is 15:30 at the site (UTC-3): 18:30 UTC
    assert frame["start_ns"].unique().to_list() == [ns("2017-07-07T18:30")]
    assert swapped_flow_ids(frame) == 48


@needs_samples
def test_real_machine_learning_variant_with_crlf_and_nan():
    frame = read_cicids(MLCVE)
    assert frame.height == 405 and frame.columns[0] == "Destination Port"
    assert frame.filter(pl.col("Flow Bytes/s").is_nan()).height == 1
    assert frame.filter(pl.col("Flow Bytes/s").is_infinite()).height == 6
    with pytest.raises(ConfigError, match="cannot be joined"):
        join_labels(frame, pl.DataFrame())


def write_fixture(path, rows, encoding="utf-8", newline="\n"):
    """SYNTHETIC rows in the exact CIC-IDS2017 TrafficLabelling layout."""
    path.write_bytes(newline.join([HEADER, *rows, ""]).encode(encoding, errors="strict"))
    return path


@pytest.mark.parametrize(("encoding", "label"), [
    ("cp1252", "Web Attack \u2013 Brute Force"),  # byte 0x96, as in the CIC originals
    ("utf-8", "Web Attack \ufffd XSS"),  # after a lossy re-save
    ("utf-8", "Web Attack - Sql Injection"),  # hand-cleaned copies
])
def test_every_spelling_of_the_web_attack_dash(tmp_path, encoding, label):
    row = f"1.1.1.1-2.2.2.2-1-80-6,1.1.1.1,1,2.2.2.2,80,6,6/7/2017 9:20,5,20,NaN,20,{label}"
    frame = read_cicids(write_fixture(tmp_path / "f.csv", [row], encoding, "\r\n"))
    name = re.split(r"\s\S\s|\s-\s", label, maxsplit=1)[1]
    assert frame["Label"].to_list() == [f"Web Attack \u2013 {name}"]


@pytest.mark.parametrize(("attempted_as", "expected"), [
    ("benign", "BENIGN"), ("own", "DoS Hulk - Attempted")])
def test_attempted_labels(tmp_path, attempted_as, expected):
    row = ("1.1.1.1-2.2.2.2-1-80-6,1.1.1.1,1,2.2.2.2,80,6,5/7/2017 10:02,5,20,1.5,20,"
           "DoS Hulk - Attempted")
    frame = read_cicids(write_fixture(tmp_path / "f.csv", [row]), attempted_as)
    assert frame["Label"].to_list() == [expected]


@pytest.mark.parametrize(("text", "utc"), [
    ("7/7/2017 3:30", "2017-07-07T18:30"),  # afternoon, 12-hour clock
    ("3/7/2017 8:55", "2017-07-03T11:55"),  # morning
    ("6/7/2017 12:05", "2017-07-06T15:05"),  # noon
    ("04/07/2017 01:02:03 PM", "2017-07-04T16:02:03"),  # copies that kept seconds and AM/PM
])
def test_timestamps(text, utc):
    assert parse_timestamp(text) == ns(utc)


def test_a_csv_without_labels_is_refused(tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text("Flow ID, Source IP\n1,2\n")
    with pytest.raises(ConfigError, match="no Label column"):
        read_cicids(path)


def test_join_to_our_flows_despite_local_time_minutes_and_swapped_sides(tmp_path):
    capture = str(REPO / "pcaps" / "testbed-mixed.pcap")
    flows = flows_frame(FlowBatch.concat(list(capture_flows(capture, CaptureReport(capture)))))
    flows = flows.filter(pl.col("proto").is_in(["TCP", "UDP"]))
    # move the capture into CIC's working day (10:00 site time), where its clock is readable
    first = flows["start"].min()
    target = first.replace(hour=13, minute=0, second=0, microsecond=0)  # 10:00 at UTC-3
    flows = flows.with_columns(pl.col("start") + (target - first))
    rows = []
    for i, r in enumerate(flows.iter_rows(named=True)):
        local = r["start"].timestamp() - 3 * 3600  # CIC writes site time, UTC-3
        stamp = np.datetime64(int(local), "s").item()
        hour = stamp.hour % 12 or 12  # a 12-hour clock without AM/PM
        when = f"{stamp.day}/{stamp.month}/{stamp.year} {hour}:{stamp.minute:02d}"
        ends = [(r["src_ip"], r["src_port"]), (r["dst_ip"], r["dst_port"])]
        if i % 3 == 0:
            ends.reverse()  # CIC sometimes lists the responder as the source
        proto = 6 if r["proto"] == "TCP" else 17
        (a, ap), (b, bp) = ends
        rows.append(f"{a}-{b}-{ap}-{bp}-{proto},{a},{ap},{b},{bp},{proto},{when},1,20,1,20,"
                    f"label-{i}")
    cic = read_cicids(write_fixture(tmp_path / "cic.csv", rows))
    labels, rate = join_labels(cic, flows)
    assert rate == 1.0
    assert labels == [f"label-{i}" for i in range(len(flows))]


def test_a_day_whose_labels_match_nothing_is_refused_with_counts(tmp_path):
    row = "1.1.1.1-2.2.2.2-1-80-6,1.1.1.1,1,2.2.2.2,80,6,6/7/2017 9:20,5,20,1,20,BENIGN"
    csv_path = write_fixture(tmp_path / "Tuesday.csv", [row])
    capture = str(REPO / "pcaps" / "loopback-http.pcap")
    with pytest.raises(ConfigError, match=r"its 1 labels match none of the flows .* \(24 flows\)"):
        load_cicids_day(str(csv_path), capture, TrafficTokenizer(), say=lambda m: None)
