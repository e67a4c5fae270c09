"""Sim-to-real: a model of the testbed alone, judged on real attacks recorded elsewhere.

With the corpus's attack flows in the recipe, the shipped model has seen
real attacks, so its own whole-capture table cannot say whether the testbed
world generalises. This fine-tunes once more from the same pretrained encoder
(pretraining reads the corpus's benign captures only) on the recipe's
training flows less every corpus attack capture's, then runs every corpus
attack capture and the held-out benign ones through triage's scoring and
sessions (``corpus_detection``; its ``staged`` summary is the sim-to-real
number: the attack families the testbed stages).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trafficlm.training.config import Recipe
from trafficlm.training.corpus_detection import corpus_detection
from trafficlm.training.datasets.flowset import FlowSet
from trafficlm.training.datasets.manifest import ManifestCapture
from trafficlm.training.finetune import side_model
from trafficlm.training.split import Split


def sim_to_real(recipe: Recipe, encoder: Path, split: Split, captures: list[ManifestCapture],
                tokenizer, say=print) -> dict:
    """The corpus table of a model fine-tuned without any corpus attack flow."""
    benign = recipe.data.manifest_benign
    attack_paths = [c.path for c in captures if c.label not in benign]

    def testbed_only(flows: FlowSet) -> FlowSet:
        return flows.select(~np.isin(flows.capture, attack_paths))

    train, validation = testbed_only(split.train), testbed_only(split.validation)
    say(f"sim-to-real: fine-tuning on {len(train)} flows, no corpus attack flow among them")
    model = side_model(recipe, encoder, train, validation, tokenizer,
                       Path(recipe.output) / "evaluation" / "sim-to-real",
                       recipe.evaluate.fold_epochs)
    held_out = [c for c in captures
                if c.label not in benign or c.group in recipe.data.test_groups]
    table = corpus_detection(model, held_out, benign, say)
    return {**table, "training_flows": len(train),
            "corpus_attack_flows_left_out": len(split.train) - len(train)}
