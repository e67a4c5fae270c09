"""A MANIFEST.tsv corpus as training data: benign captures only, whole captures per group,
held-out and attack captures never read in training, and the whole-capture detection table."""

from __future__ import annotations

import pytest

from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer
from trafficlm.training.config import ConfigError, load_recipe
from trafficlm.training.corpus_detection import corpus_detection
from trafficlm.training.data import training_manifest_captures, unseen_manifest_captures
from trafficlm.training.datasets.manifest import load_manifest_benign, read_manifest

from conftest import CORPUS


def small_manifest(tmp_path, manifest, per_label: dict[str, int]):
    """A manifest of a few corpus captures, pointing at the shared corpus by absolute path."""
    chosen = []
    for label, count in per_label.items():
        chosen += [r for r in manifest if r["label"] == label
                   and r["linktype"] in ("ethernet", "linux_sll")
                   and 10 <= int(r["packets"]) <= 5000][:count]
    path = tmp_path / "MANIFEST.tsv"
    path.write_text("path\tlabel\n" + "".join(f"{CORPUS / r['path']}\t{r['label']}\n"
                                              for r in chosen))
    return path


def test_groups_are_whole_captures_and_stable(manifest, tmp_path):
    path = small_manifest(tmp_path, manifest, {"benign": 12, "dns_tunnel": 2})
    first = read_manifest(str(path), 4)
    assert [c.group for c in first] == [c.group for c in read_manifest(str(path), 4)]
    assert {c.group for c in first} <= {f"corpus-{k}" for k in range(4)}
    assert len({c.group for c in first}) > 1  # 14 captures do not all hash alike


def test_only_benign_captures_give_labelled_flows(manifest, tmp_path):
    path = small_manifest(tmp_path, manifest, {"benign": 4, "dns_tunnel": 2})
    tokenizer = TrafficTokenizer(TokenizerConfig(max_length=64))
    flows = load_manifest_benign(str(path), ["benign"], 2, tokenizer, 100, say=lambda m: None)
    benign_paths = {c.path for c in read_manifest(str(path), 2) if c.label == "benign"}
    assert set(flows.capture) <= benign_paths and len(flows) > 0
    assert set(flows.labels) == {"BENIGN"}
    for capture in set(flows.capture):  # each capture sits in exactly one group
        assert len(set(flows.group[flows.capture == capture])) == 1


def test_training_never_reads_test_or_attack_captures(manifest, tmp_path):
    path = small_manifest(tmp_path, manifest, {"benign": 12, "dns_tunnel": 2})
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(f'[data]\nmanifest = "{path}"\nmanifest_groups = 3\n'
                           'test_groups = ["corpus-1"]\n')
    recipe = load_recipe(recipe_file)
    seen = training_manifest_captures(recipe)
    unseen = unseen_manifest_captures(recipe)
    assert len(seen) + len(unseen) == 14
    assert all(c.label == "benign" and c.group != "corpus-1" for c in seen)
    assert all(c.label == "dns_tunnel" or c.group == "corpus-1" for c in unseen)


def test_bad_manifest_is_named(tmp_path):
    path = tmp_path / "M.tsv"
    path.write_text("file\tclass\nx.pcap\tbenign\n")
    with pytest.raises(ConfigError, match="needs 'path' and 'label' columns"):
        read_manifest(str(path), 4)
    with pytest.raises(ConfigError, match="no such manifest"):
        read_manifest(str(tmp_path / "missing.tsv"), 4)


def test_whole_capture_table_counts_fitting_alerts(manifest, tmp_path):
    path = small_manifest(tmp_path, manifest, {"dns_tunnel": 2})
    captures = read_manifest(str(path), 4)
    table = corpus_detection(TrafficModel(DEFAULT_MODEL_DIR), captures, ["benign"],
                             say=lambda m: None)
    row = table["per_label"]["dns_tunnel"]
    assert row["captures"] == 2
    assert row["fitting_alert"] == 2  # the bundled model calls DNS tunnels DNS Tunnel
    assert table["summary"]["attacks_with_fitting_alert"] == 1.0
    assert table["summary"]["benign_captures"] == 0
    assert (table["summary"]["attack_labels"], table["summary"]["single_capture_labels"]) == (1, 0)
    assert [(c["label"], c["benign"], "DNS Tunnel" in c["verdicts"]) for c in table["captures"]] \
        == [("dns_tunnel", False, True)] * 2
    # each verdict with its surest session's score, which the operating points replay
    for capture in table["captures"]:
        assert sorted(capture["scores"]) == capture["verdicts"]
        assert all(0 < score <= 1 for score in capture["scores"].values())
    lowest = table["operating_points"][0]
    assert lowest["attacks_fitting"] == 2 and lowest["benign"] == 0
