"""From a recipe's [data] section to token ids (pretraining) and labelled FlowSets."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from trafficlm.capture import CaptureReport, find_captures
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer
from trafficlm.training.config import ConfigError, Recipe
from trafficlm.training.datasets.cicids import load_cicids_day
from trafficlm.training.datasets.corpus_labels import covered_attacks, load_corpus_attacks
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.folders import load_folders
from trafficlm.training.datasets.manifest import (
    ManifestCapture,
    load_manifest_benign,
    read_manifest,
)
from trafficlm.training.datasets.testbed import load_testbed


def recipe_tokenizer(recipe: Recipe) -> TrafficTokenizer:
    return TrafficTokenizer(TokenizerConfig(**asdict(recipe.tokenizer)))


def labelled_flows(recipe: Recipe, tokenizer: TrafficTokenizer, say=print) -> FlowSet:
    """Every labelled source of the recipe, deduplicated within each holdout group."""
    cap = recipe.data.max_flows_per_capture
    sets = [load_testbed(d, tokenizer, cap, recipe.seed, say) for d in recipe.data.testbed]
    sets += [load_folders(d, tokenizer, cap, recipe.seed, say) for d in recipe.data.folders]
    for pair in recipe.data.cicids:
        csv_path, capture = pair.split("=")
        sets.append(load_cicids_day(csv_path, capture, tokenizer, recipe.data.attempted_as,
                                    cap, recipe.seed, say))
    if recipe.data.manifest:
        benign = load_manifest_benign(recipe.data.manifest, recipe.data.manifest_benign,
                                      recipe.data.manifest_groups, tokenizer, cap, recipe.seed,
                                      say, required=not recipe.data.corpus_attacks)
        sets += [benign] if benign is not None else []
    if recipe.data.corpus_attacks:
        sets.append(load_corpus_attacks(_manifest(recipe), tokenizer, recipe.data.corpus_cap,
                                        recipe.seed, say))
    if not sets:
        raise ConfigError(f"{recipe.source}: [data] names no labelled data "
                          "(testbed, folders, cicids or manifest)")
    flows, removed = FlowSet.concat(sets).deduplicate()
    say(f"{len(flows)} labelled flows after removing {removed} exact duplicates")
    return flows


def pretraining_ids(recipe: Recipe, tokenizer: TrafficTokenizer, say=print) -> np.ndarray:
    """Unique token sequences of every capture the recipe names (labels ignored)."""
    paths = list(recipe.data.unlabelled)
    # the test runs stay unseen, even unlabelled: pretraining on them would be transductive
    paths += [f"{d}/captures" for d in recipe.data.testbed
              if Path(d).name not in recipe.data.test_groups]
    paths += list(recipe.data.folders)
    paths += [pair.split("=")[1] for pair in recipe.data.cicids]
    # benign captures only: every labelled attack capture is some k-fold's test capture
    # (corpus_kfold), and one encoder serves all folds, so none of them is read unlabelled
    paths += [c.path for c in training_manifest_captures(recipe)
              if c.label in recipe.data.manifest_benign]
    found = find_captures(paths)
    for line in found.skipped:
        say(line)
    captures = found.paths
    if not captures:
        raise ConfigError(f"{recipe.source}: no captures found for pretraining in "
                          f"{', '.join(paths) or '[data]'}")
    cap = recipe.data.pretrain_cap
    rng = np.random.default_rng(recipe.seed)
    chunks = []
    for path in captures:
        batches = list(capture_flows(path, CaptureReport(path)))
        if batches:
            flows = FlowBatch.concat(batches)
            chunks.append(tokenizer.encode(flows.select(_sample_rows(len(flows), cap, rng))).ids)
    ids = np.unique(np.concatenate(chunks), axis=0)
    say(f"pretraining on {len(ids)} unique flows from {len(captures)} captures")
    return ids


def _sample_rows(count: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``cap`` of ``count`` rows, in capture order: a random sample rather than the
    first ones, so a long capture's later phases (a scan after the handshakes) are read too."""
    if count <= cap:
        return np.arange(count)
    return np.sort(rng.choice(count, cap, replace=False))


def training_manifest_captures(recipe: Recipe) -> list[ManifestCapture]:
    """The manifest's captures training may read: outside the test groups, benign, or
    with ``corpus_attacks`` an attack capture the label file covers."""
    return _split_manifest(recipe)[0]


def unseen_manifest_captures(recipe: Recipe) -> list[ManifestCapture]:
    """The attack captures training does not read and the held-out benign ones: never
    read before testing."""
    return _split_manifest(recipe)[1]


def _manifest(recipe: Recipe) -> list[ManifestCapture]:
    if not recipe.data.manifest:
        return []
    return read_manifest(recipe.data.manifest, recipe.data.manifest_groups)


def _split_manifest(recipe: Recipe) -> tuple[list[ManifestCapture], list[ManifestCapture]]:
    """(the captures training may read, the rest)."""
    captures = _manifest(recipe)
    labelled = _labelled_attacks(recipe, captures) if recipe.data.corpus_attacks else set()
    trainable, unseen = [], []
    for capture in captures:
        readable = capture.group not in recipe.data.test_groups and (
            capture.label in recipe.data.manifest_benign or capture.path in labelled)
        (trainable if readable else unseen).append(capture)
    return trainable, unseen


def _labelled_attacks(recipe: Recipe, captures: list[ManifestCapture]) -> set[str]:
    """Paths of the attack captures the corpus label file covers."""
    return {c.path for c, _ in covered_attacks(captures, recipe.data.manifest_benign)}
