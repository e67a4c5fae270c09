"""Capture-disjoint folds: siblings held together, families spread, the ceiling counted."""

from __future__ import annotations

from trafficlm.training.corpus_folds import AttackCapture, attack_folds, kfold_table


def _capture(name: str, family: str, *hosts: str) -> AttackCapture:
    return AttackCapture(name, family, frozenset(hosts))


CAPTURES = [
    _capture("lab/a1.pcap", "Exploit", "10.0.0.1", "10.0.0.2"),
    _capture("lab/a2.pcap", "Exploit", "10.0.0.2", "10.0.0.3"),  # shares 10.0.0.2 with a1
    _capture("lab/a3.pcap", "Exploit", "10.0.0.3", "10.0.0.9"),  # ... and a chain to a2
    _capture("other/b1.pcap", "Exploit", "10.0.0.1"),  # same host, another source
    _capture("other/b2.pcap", "Exploit", "192.0.2.7"),
    _capture("lab/c1.pcap", "Heartbleed", "10.0.0.1"),  # same host, another family
    _capture("x/lonely.pcap", "Credential Access", "10.9.9.9"),
]


def test_every_capture_in_one_fold_siblings_together():
    folds = attack_folds(CAPTURES, 3)
    assert set(folds) == {c.name for c in CAPTURES}
    assert set(folds.values()) <= {0, 1, 2}
    assert folds["lab/a1.pcap"] == folds["lab/a2.pcap"] == folds["lab/a3.pcap"]
    exploit_folds = {folds[n] for n in ("lab/a1.pcap", "other/b1.pcap", "other/b2.pcap")}
    assert len(exploit_folds) == 3  # three units of one family: three folds
    assert attack_folds(list(reversed(CAPTURES)), 3) == folds  # order does not matter


def test_the_ceiling_counts_captures_with_a_sibling_elsewhere():
    folds = attack_folds(CAPTURES, 3)
    table = kfold_table(CAPTURES, folds, {
        "detected": {"other/b2.pcap": True, "x/lonely.pcap": False},
        "any_alert": {"other/b2.pcap": True, "lab/a1.pcap": True}})
    assert table["Exploit"] == {"captures": 5, "ceiling": 5, "detected": 1, "any_alert": 2}
    assert table["Heartbleed"] == {"captures": 1, "ceiling": 0, "detected": 0, "any_alert": 0}
    assert table["Credential Access"]["ceiling"] == 0
    one_fold = kfold_table(CAPTURES, dict.fromkeys(folds, 0), {"detected": {}})
    assert all(row["ceiling"] == 0 for row in one_fold.values())
