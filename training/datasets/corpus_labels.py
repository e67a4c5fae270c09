"""Real attacks as training data: ``corpus_labels.toml`` turned into labelled flows.

MANIFEST.tsv labels whole captures, and an attack capture also holds the
victim's DHCP, mDNS and browsing, so a capture label cannot become a flow
label as it is. The label file, written by us with its evidence, says which
flows of each attack capture are the attack (see its header for the rule
fields). Flows no rule matches stay unlabelled and are never trained on,
unless the capture's evidence says it holds nothing else (``rest = "benign"``).
A rule that matches no flow is an error: it means the file and the capture
disagree, and a silent zero would train on less than the file claims.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import flows_frame
from trafficlm.model import BENIGN
from trafficlm.settings import ConfigError, read_toml
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.datasets.captures import labelled_capture
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.manifest import ManifestCapture

LABEL_FILE = Path(__file__).with_name("corpus_labels.toml")
RULE_KEYS = {"src", "dst", "src_port", "dst_port", "proto", "after", "before", "label"}
CAPTURE_KEYS = {"paths", "label", "evidence", "rules", "rest"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class FlowRule:
    """Which flows of a capture are (one part of) its attack; None: any."""

    src: Network | None = None
    dst: Network | None = None
    src_port: tuple[int, int] | None = None
    dst_port: tuple[int, int] | None = None
    proto: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    label: str | None = None  # None: the capture's label

    def matches(self, flows: pl.DataFrame) -> np.ndarray:
        """Per flow of ``flows`` (a ``flows_frame``): whether this rule covers it."""
        hit = np.ones(flows.height, dtype=bool)
        for column, network in (("src_ip", self.src), ("dst_ip", self.dst)):
            if network is not None:
                hit &= _in_network(flows[column], network)
        for column, ports in (("src_port", self.src_port), ("dst_port", self.dst_port)):
            if ports is not None:
                hit &= flows[column].is_between(*ports).to_numpy()
        if self.proto is not None:
            hit &= (flows["proto"] == self.proto).to_numpy()
        if self.after is not None:
            hit &= (flows["start"] >= self.after).to_numpy()
        if self.before is not None:
            hit &= (flows["start"] < self.before).to_numpy()
        return hit

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in vars(self).items() if value is not None]
        return ", ".join(parts) or "any flow"


@dataclass(frozen=True)
class CaptureLabels:
    """One attack capture's rules, the label they give and the evidence they rest on."""

    path: str  # as the shared corpus's MANIFEST.tsv writes it
    label: str | None  # None: its MANIFEST label through [vocabulary]
    evidence: str
    rules: tuple[FlowRule, ...]
    rest_benign: bool  # flows no rule matches are BENIGN (else: unlabelled)

    def flow_labels(self, flows: pl.DataFrame) -> tuple[np.ndarray, list[int]]:
        """(per flow: its label, or None when unlabelled; flows each rule labelled).
        The first rule that matches a flow labels it."""
        labels = np.full(flows.height, BENIGN if self.rest_benign else None, dtype=object)
        free = np.ones(flows.height, dtype=bool)
        counts = []
        for rule in self.rules:
            mine = rule.matches(flows) & free
            labels[mine] = rule.label or self.label
            free &= ~mine
            counts.append(int(mine.sum()))
        return labels, counts


@dataclass(frozen=True)
class CorpusLabels:
    source: Path
    vocabulary: dict[str, str]  # MANIFEST label -> label ("" where the capture is left out)
    captures: dict[str, CaptureLabels]  # by MANIFEST path
    left_out: dict[str, str]  # MANIFEST path -> why

    def entry_for(self, capture_path: str) -> CaptureLabels | None:
        """The entry of a capture given by any path that ends in its MANIFEST path (a
        manifest elsewhere may name the corpus's files by absolute path)."""
        parts = Path(capture_path).parts
        for first in range(len(parts)):
            entry = self.captures.get("/".join(parts[first:]))
            if entry is not None:
                return entry
        return None

    def resolved(self, entry: CaptureLabels, manifest_label: str) -> CaptureLabels:
        """``entry`` with its label: its own, or its MANIFEST label's vocabulary name."""
        if manifest_label == "benign":
            raise ConfigError(f"{self.source}: {entry.path} is a benign capture; "
                              "the file labels attacks only")
        label = entry.label or self.vocabulary.get(manifest_label)
        if not label:
            raise ConfigError(f"{self.source}: {entry.path}: MANIFEST label "
                              f"{manifest_label!r} has no [vocabulary] entry")
        return replace(entry, label=label)

    def check_manifest(self, manifest_labels: dict[str, str]) -> None:
        """Every capture named is listed in the manifest (path -> label), none is benign,
        and every one has a label; each problem an error naming the capture."""
        for name in [*self.captures, *self.left_out]:
            if name not in manifest_labels:
                raise ConfigError(f"{self.source}: {name} is not in MANIFEST.tsv")
        for name, entry in self.captures.items():
            self.resolved(entry, manifest_labels[name])
        for name in self.left_out:
            if manifest_labels[name] == "benign":
                raise ConfigError(f"{self.source}: {name} is benign; nothing to leave out")


def read_corpus_labels(path: Path = LABEL_FILE) -> CorpusLabels:
    """The label file; a capture listed twice, an unknown key or a bad rule is an error
    naming the file, the entry and the rule."""
    document = read_toml(path)
    vocabulary = {str(k): str(v) for k, v in document.get("vocabulary", {}).items()}
    left_out = {str(k): str(v) for k, v in document.get("left_out", {}).items()}
    captures: dict[str, CaptureLabels] = {}
    for number, entry in enumerate(document.get("capture", []), 1):
        for capture in _capture_entry(f"{path}: [[capture]] {number}", entry):
            if capture.path in captures or capture.path in left_out:
                raise ConfigError(f"{path}: {capture.path} is listed twice")
            captures[capture.path] = capture
    return CorpusLabels(path, vocabulary, captures, left_out)


def _capture_entry(where: str, entry: dict) -> list[CaptureLabels]:
    unknown = set(entry) - CAPTURE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if not entry.get("paths") or not entry.get("rules") or not entry.get("evidence"):
        raise ConfigError(f"{where}: needs paths, rules and evidence")
    if entry.get("rest", "unlabelled") not in ("unlabelled", "benign"):
        raise ConfigError(f"{where}: rest must be 'unlabelled' or 'benign'")
    rules = tuple(_rule(f"{where} rule {i}", r) for i, r in enumerate(entry["rules"], 1))
    return [CaptureLabels(name, entry.get("label"), entry["evidence"], rules,
                          entry.get("rest") == "benign") for name in entry["paths"]]


def _rule(where: str, raw: dict) -> FlowRule:
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return FlowRule(
            src=_network(raw.get("src")), dst=_network(raw.get("dst")),
            src_port=_ports(raw.get("src_port")), dst_port=_ports(raw.get("dst_port")),
            proto=raw.get("proto"), after=_time(raw.get("after")),
            before=_time(raw.get("before")), label=raw.get("label"))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _network(text: str | None) -> Network | None:
    return None if text is None else ipaddress.ip_network(text, strict=False)


def _ports(value: int | list | None) -> tuple[int, int] | None:
    if value is None:
        return None
    low, high = (value, value) if isinstance(value, int) else value
    if not 0 <= low <= high <= 65_535:
        raise ValueError(f"ports must be 0-65535, low first: {value!r}")
    return low, high


def _time(value: datetime | None) -> datetime | None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValueError(f"times need a date, a time and an offset (2025-09-24T12:17:39Z): "
                         f"{value!r}")
    return value


def _in_network(addresses: pl.Series, network: Network) -> np.ndarray:
    inside = {a: ipaddress.ip_address(a) in network for a in addresses.unique().to_list()}
    return addresses.replace_strict(inside, return_dtype=pl.Boolean).to_numpy()


def label_capture_flows(capture: CaptureLabels, flows: FlowBatch,
                        source: Path = LABEL_FILE) -> np.ndarray:
    """Per flow of ``capture``: its label or None; a rule matching nothing is an error
    naming the label file ``source``, the capture and the rule."""
    labels, counts = capture.flow_labels(flows_frame(flows))
    for number, (rule, count) in enumerate(zip(capture.rules, counts, strict=True), 1):
        if count == 0:
            raise ConfigError(f"{source}: {capture.path}: rule {number} "
                              f"({rule.describe()}) matches no flow")
    return labels


def covered_attacks(captures: list[ManifestCapture], benign_labels: tuple[str, ...] | list[str]
                    = ("benign",), source: Path = LABEL_FILE
                    ) -> list[tuple[ManifestCapture, CaptureLabels]]:
    """The attack captures among ``captures`` that the label file covers, each with its
    entry, label resolved: what training, pretraining and the k-fold all ask for."""
    labels = read_corpus_labels(source)
    covered = []
    for capture in captures:
        entry = labels.entry_for(capture.path)
        if entry is not None and capture.label not in benign_labels:
            covered.append((capture, labels.resolved(entry, capture.label)))
    return covered


def load_corpus_attacks(captures: list[ManifestCapture], tokenizer: TrafficTokenizer,
                        cap_per_label: int, seed: int = 0, say=print,
                        source: Path = LABEL_FILE) -> FlowSet:
    """The labelled flows of the attack captures among ``captures`` (the manifest's rows,
    with their holdout groups) that the label file covers; each capture's counts said."""
    sets = []
    for capture, entry in covered_attacks(captures, source=source):
        flowset, _, unlabelled = labelled_capture(
            capture.path, lambda flows, e=entry: label_capture_flows(e, flows, source),
            capture.path, capture.group, tokenizer, cap_per_label, seed)
        if flowset is not None:
            sets.append(flowset)
            kinds = Counter(flowset.labels.tolist())
            say(f"{entry.path}: {dict(sorted(kinds.items()))}, {unlabelled} unlabelled")
    if not sets:
        raise ConfigError(f"{source}: labels none of the manifest's captures")
    say(f"corpus attacks: {sum(len(s) for s in sets)} labelled flows from {len(sets)} "
        f"captures (see {source.name} for the captures left out)")
    return FlowSet.concat(sets)
