"""The corpus label file: every attack capture covered or left out with a reason, every rule
matching real flows, and the labelled flows of suricata-verify captures exactly the ones
their expected alerts name."""

from __future__ import annotations

import pytest
import yaml

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.pipeline import capture_flows
from trafficlm.settings import ConfigError
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer
from trafficlm.training.config import load_recipe
from trafficlm.training.corpus_detection import FITTING
from trafficlm.training.data import labelled_flows, unseen_manifest_captures
from trafficlm.training.datasets.corpus_labels import (
    LABEL_FILE,
    label_capture_flows,
    read_corpus_labels,
)
from trafficlm.training.testbed.wide_scenarios import ATTACK_SLOTS

from conftest import CORPUS

TESTBED_LABELS = {variant.label for variants in ATTACK_SLOTS.values() for variant in variants}
ALERT_ENDPOINTS = {"src_ip", "src_port", "dest_ip", "dest_port"}


@pytest.fixture(scope="module")
def labels():
    return read_corpus_labels()


@pytest.fixture(scope="module")
def manifest_labels(manifest) -> dict[str, str]:
    return {row["path"]: row["label"] for row in manifest}


def _frame(name: str):
    path = str(CORPUS / name)
    return flows_frame(FlowBatch.concat(list(capture_flows(path, CaptureReport(path)))))


def test_every_attack_capture_is_labelled_or_left_out_with_a_reason(labels, manifest_labels):
    labels.check_manifest(manifest_labels)  # names only manifest captures, none benign
    attacks = {name for name, label in manifest_labels.items() if label != "benign"}
    assert set(labels.captures) | set(labels.left_out) == attacks
    assert not set(labels.captures) & set(labels.left_out)
    assert all(len(reason) > 20 for reason in labels.left_out.values())
    assert all(entry.evidence for entry in labels.captures.values())
    assert set(labels.vocabulary) >= set(manifest_labels.values()) - {"benign"}


def test_the_vocabulary_extends_the_testbeds(labels, manifest_labels):
    names = {labels.resolved(e, manifest_labels[n]).label for n, e in labels.captures.items()}
    names |= {r.label for e in labels.captures.values() for r in e.rules if r.label}
    assert TESTBED_LABELS & names >= {"PortScan", "DNS Tunnel", "SSH-Patator", "FTP-Patator",
                                      "OS Fingerprinting", "DoS UDP Flood", "DoS ICMP Flood",
                                      "DoS Syn Flood"}
    assert {"Malware C2", "Malware Download", "Exploit", "Heartbleed",
            "Lateral Movement"} <= names


def test_a_family_the_testbed_stages_is_named_as_the_testbed_names_it(labels):
    """Else a model learns two names for one attack from the two sources, and the k-fold
    table misses verdicts the sim-to-real table counts as fitting."""
    for manifest_label, fitting in FITTING.items():
        assert labels.vocabulary[manifest_label] in set(fitting) & TESTBED_LABELS, \
            manifest_label


def test_every_rule_matches_real_flows(labels, manifest_labels):
    for name, entry in labels.captures.items():
        frame = _frame(name)
        found, counts = labels.resolved(entry, manifest_labels[name]).flow_labels(frame)
        assert all(counts), f"{name}: rule(s) {counts} match no flow"
        assert any(label not in (None, "BENIGN") for label in found), name


def _expected_alert_flows(yaml_path, frame) -> tuple[set[int], set[int]]:
    """(flows an expected alert names, flows an alert is expected not to name)."""
    named, spared = set(), set()
    for check in yaml.safe_load(yaml_path.read_text())["checks"]:
        match = check.get("filter", {}).get("match", {})
        endpoints = {k: v for k, v in match.items() if k in ALERT_ENDPOINTS}
        if match.get("event_type") != "alert" or not endpoints:
            continue
        rows = set(range(frame.height))
        for key, value in endpoints.items():  # Suricata's src is the flow's initiator too
            column = {"dest_ip": "dst_ip", "dest_port": "dst_port"}.get(key, key)
            rows &= {i for i, v in enumerate(frame[column].to_list()) if str(v) == str(value)}
        (named if check["filter"]["count"] else spared).update(rows)
    return named, spared


def test_labelled_flows_are_the_ones_the_expected_alerts_name(labels, manifest_labels):
    checked = 0
    for name, entry in labels.captures.items():
        test_yaml = CORPUS / f"{name}.test.yaml"
        if not name.startswith("suricata-verify/") or not test_yaml.exists():
            continue
        frame = _frame(name)
        named, spared = _expected_alert_flows(test_yaml, frame)
        if not named:
            continue
        found, _ = labels.resolved(entry, manifest_labels[name]).flow_labels(frame)
        attack = {i for i, label in enumerate(found) if label not in (None, "BENIGN")}
        assert attack == named, name
        assert not attack & spared, name
        checked += 1
    assert checked >= 3  # Sofacy, LocalNRD, the FTP bounce (with its clean twin)


def test_a_rule_that_matches_nothing_names_the_capture_and_rule(tmp_path, labels):
    name = "zeek-traces/ftp__bruteforce.pcap"
    text = LABEL_FILE.read_text(encoding="utf-8").replace(
        'dst = "192.168.56.101", dst_port = 21,', 'dst = "192.168.56.101", dst_port = 2121,')
    changed = tmp_path / "labels.toml"
    changed.write_text(text, encoding="utf-8")
    entry = read_corpus_labels(changed).captures[name]
    path = str(CORPUS / name)
    flows = FlowBatch.concat(list(capture_flows(path, CaptureReport(path))))
    with pytest.raises(ConfigError, match=rf"{name}: rule 1 \(.*dst_port=\(2121, 2121\)"):
        label_capture_flows(entry, flows, changed)


@pytest.mark.parametrize(("change", "message"), [
    ('rules = [{ proto = "TCP" }]\nrest = "benign"\n',
     "is listed twice"),
    ('rules = [{ src = "300.1.1.1" }]\n', "does not appear to be an IPv4 or IPv6"),
    ('rules = [{ dst_port = [90, 80] }]\n', "low first"),
    ('rules = [{ after = 2025-09-24T12:17:39 }]\n', "need a date, a time and an offset"),
    ('rules = [{ port = 80 }]\n', "unknown key"),
])
def test_a_bad_entry_is_named(tmp_path, change, message):
    entry = ('\n[[capture]]\npaths = ["zeek-traces/tls__heartbleed.pcap"]\n'
             'evidence = "x"\n' + change)
    if "listed twice" not in message:
        entry = entry.replace("tls__heartbleed.pcap", "new.pcap")
    changed = tmp_path / "labels.toml"
    changed.write_text(LABEL_FILE.read_text(encoding="utf-8") + entry, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_corpus_labels(changed)


def test_a_recipe_trains_on_the_labelled_attack_flows(manifest, tmp_path):
    chosen = ["zeek-traces/ftp__bruteforce.pcap", "suricata-verify/ftp__ftp-bounce__test.pcap",
              "chrissanders-packets/ppa1e__portscan.pcap",
              "suricata-verify/tls__tls-bypass-missing-event__tor_bl.pcap"]  # left out
    benign = [r["path"] for r in manifest if r["label"] == "benign"][:3]
    labels_of = {r["path"]: r["label"] for r in manifest}
    tsv = tmp_path / "MANIFEST.tsv"
    tsv.write_text("path\tlabel\n" + "".join(f"{CORPUS / p}\t{labels_of[p]}\n"
                                              for p in chosen + benign))
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(f'[data]\nmanifest = "{tsv}"\ncorpus_attacks = true\n'
                           'manifest_groups = 1\n[tokenizer]\nmax_length = 64\n')
    recipe = load_recipe(recipe_file)
    said = []
    flows = labelled_flows(recipe, TrafficTokenizer(TokenizerConfig(max_length=64)), said.append)
    by_capture = {c: set(flows.labels[flows.capture == c]) for c in set(flows.capture)}
    assert by_capture[str(CORPUS / chosen[0])] == {"FTP-Patator"}
    assert by_capture[str(CORPUS / chosen[1])] == {"Exploit", "BENIGN"}  # bounce; clean twin
    assert by_capture[str(CORPUS / chosen[2])] == {"PortScan"}
    assert str(CORPUS / chosen[3]) not in by_capture
    assert any("zeek-traces/ftp__bruteforce.pcap: {'FTP-Patator': 30}" in line for line in said)
    unseen = {c.path for c in unseen_manifest_captures(recipe)}
    assert unseen == {str(CORPUS / chosen[3])}  # read in training: no longer an exam
    recipe.data.corpus_flows_per_capture = 2  # the attacks' own cap; benign ones keep theirs
    capped = labelled_flows(recipe, TrafficTokenizer(TokenizerConfig(max_length=64)),
                            lambda m: None)
    assert (capped.capture == str(CORPUS / chosen[0])).sum() == 2
    benign_kept = [((capped.capture == path).sum(), (flows.capture == path).sum())
                   for path in map(str, (CORPUS / p for p in benign))]
    assert all(now == before for now, before in benign_kept)
    assert max(now for now, _ in benign_kept) > 2
