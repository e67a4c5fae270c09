"""The default model that ships in the package: loads offline, is small, and does its job on
a testbed capture it never saw (pcaps/testbed-mixed.pcap was made with seed 0 of the lab
profile; the model trained on wide runs and the corpus, configs/train/world.toml)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.pipeline import capture_flows
from training.corpus_detection import SCANS

from conftest import REPO

MIXED = REPO / "pcaps" / "testbed-mixed.pcap"


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(DEFAULT_MODEL_DIR)


def test_ships_small_with_its_card(model):
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file())
    assert size <= 20 * 1024 * 1024
    card = (DEFAULT_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert "## Evaluation (held-out" in card and "random forest" in card
    assert "BENIGN" in model.labels and len(model.labels) >= 9


def test_recognises_the_attacks_of_an_unseen_testbed_run(model):
    flows = FlowBatch.concat(list(capture_flows(str(MIXED), CaptureReport(str(MIXED)))))
    with open(REPO / "pcaps" / "testbed-mixed.labels.csv", encoding="utf-8") as f:
        labels = {int(r[" TrafficLM Flow ID"]): r[" Label"] for r in csv.DictReader(f)}
    truth = np.array([labels[int(i)] for i in flows.flow_id], dtype=object)
    probs, distance = model.predict(model.tokenizer.encode(flows).ids)
    predicted = np.array(model.labels, dtype=object)[probs.argmax(axis=1)]
    for label in ("PortScan", "DoS Slowloris", "Web Attack \u2013 Sql Injection", "DNS Tunnel",
                  "SSH-Patator", "Web Attack \u2013 XSS"):
        called = predicted[truth == label]
        # a session shows its flows' commonest verdict: that must be the attack's class, and
        # most flows must carry it (nmap's probes are a scan whichever scan class a probe
        # is called: triage folds them into the source's commonest one). The lab model
        # called 10 of the 10 XSS flows XSS; the world model, which never saw this lab,
        # 7 (3 Sql Injection), and the session is XSS either way (test_triage).
        fitting = SCANS if label in SCANS else (label,)
        verdicts, counts = np.unique(called, return_counts=True)
        assert verdicts[counts.argmax()] == label, (label, dict(zip(verdicts, counts, strict=True)))
        assert np.isin(called, fitting).mean() >= 0.6, label
        assert (called != "BENIGN").mean() >= 0.95, label
    benign = truth == "BENIGN"
    alerts = (predicted != "BENIGN") | (distance > model.calibration.threshold)
    assert alerts[benign].mean() <= 0.05
    assert alerts[~benign].mean() >= 0.95
