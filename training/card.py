"""The model card: what data and recipe made a model, how long it took, how well it does."""

from __future__ import annotations

import json
import os
from pathlib import Path

from trafficlm.training.config import Recipe
from trafficlm.training.report import markdown


def model_card(recipe: Recipe, results: dict, timings: dict) -> str:
    model_dir = Path(recipe.output) / "model"
    labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    training = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))
    m, t, f, p = recipe.model, recipe.tokenizer, recipe.finetune, recipe.pretrain
    lines = [
        "# TrafficLM default model", "",
        f"A {m.num_hidden_layers}-layer, {m.hidden_size}-wide BERT encoder pretrained with "
        f"masked-token modelling on traffic tokens, then fine-tuned with LoRA (r={f.lora_r}, "
        f"alpha={f.lora_alpha}, on {', '.join(f.lora_targets)}) to classify flows into "
        f"{len(labels)} classes: {', '.join(labels)}.", "",
        "## Data", "",
        f"- Labelled: {_testbed_runs(recipe)}at most "
        f"{recipe.data.max_flows_per_capture} flows per label per capture; exact duplicate "
        "flows (same token ids and label) removed before splitting, so the test run holds "
        "only flows the training runs do not.",
        *_manifest_lines(recipe),
        "- Pretraining read the captures of the training and validation groups"
        f"{' (of the corpus, its benign ones)' if recipe.data.corpus_attacks else ''}, "
        f"labels ignored{_unlabelled(recipe)}, at most "
        f"{recipe.data.pretrain_cap} flows "
        "per capture; the test groups were never read before testing.",
        f"- Split by whole testbed runs and captures: validation "
        f"{recipe.data.validation_groups}, test {recipe.data.test_groups}.", "",
        "## Recipe", "",
        f"`{recipe.source}`: tokenizer P={t.packets}, B={t.payload_bytes}, max length "
        f"{t.max_length}; pretraining {p.steps} steps of {p.batch_size} flows; fine-tuning up "
        f"to {f.epochs} epochs (ran {len(training['history'])}, kept epoch {_best(training)}), "
        "class-weighted, early "
        f"stopping on validation macro-F1; open-set threshold at {f.open_set_fpr:g} benign "
        "false-positive rate.", "",
        "## Training time on this project's machine (2 CPU cores, no GPU)", "",
        *(f"- {job}: {seconds / 60:.1f} min" for job, seconds in timings.items()), "",
        "## Evaluation (held-out testbed run and corpus captures)", "", _verdict(results), "",
        markdown(results),
        "## Limits", "",
        *_limits(recipe), "",
    ]
    return "\n".join(lines)


def _limits(recipe: Recipe) -> list[str]:
    lines = ["- Attack classes come from the testbed: attacks it never staged (malware, "
             "exploits) get the nearest class it knows or the open-set verdict."]
    if not recipe.data.corpus_attacks:
        lines.append("- No corpus attack flow was read in training, so the whole-capture "
                     "table is a sim-to-real test; it is also why real attacks of families "
                     "the testbed does not stage are found only as 'unlike training'.")
    if recipe.tokenizer.context:
        lines.append("- Each flow carries its session context (what its hosts did in the "
                     "minute before it): a capture cut mid-attack gives its first flows "
                     "less context than a whole one.")
    return lines


def _unlabelled(recipe: Recipe) -> str:
    paths = ", ".join(map(_shown, recipe.data.unlabelled))
    return f", and {paths} (unlabelled)" if paths else ""


def _testbed_runs(recipe: Recipe) -> str:
    if not recipe.data.testbed:
        return ""
    return (f"the testbed runs {', '.join(Path(d).name for d in recipe.data.testbed)} (see the "
            "recipe for the command that makes them); ")


def _manifest_lines(recipe: Recipe) -> list[str]:
    if not recipe.data.manifest:
        return []
    benign = (f"- Labelled BENIGN: the captures of `{_shown(recipe.data.manifest)}` labelled "
              f"{', '.join(recipe.data.manifest_benign)}, spread over "
              f"{recipe.data.manifest_groups} groups by a hash of their path")
    if not recipe.data.corpus_attacks:
        return [f"{benign}; its attack captures are never read in training and make the "
                "whole-capture table below."]
    return [f"{benign}.",
            "- Labelled attacks: its attack captures, flow by flow as "
            "`training/datasets/corpus_labels.toml` says (rules with their evidence; "
            "captures that cannot be labelled honestly are left out, with the reason), at most "
            f"{recipe.data.corpus_cap} flows "
            "per label per capture; in the "
            f"{recipe.evaluate.corpus_folds}-fold table each is tested by a model fine-tuned "
            "without it, and pretraining read none of them."]


def _shown(path: str) -> str:
    """A path as the recipe's reader knows it: relative to the working directory if inside."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(Path(os.path.relpath(path)))


def _best(training: dict) -> int:
    return max(training["history"], key=lambda h: h["validation_macro_f1"])["epoch"]


def _verdict(results: dict) -> str:
    """One line, traffic the model never saw first: every attack capture by k-fold, the
    testbed alone on real captures, the held-out corpus captures, then the test split."""
    unseen = "".join((_kfold_verdict(results.get("corpus_kfold")),
                      _sim_to_real_verdict(results.get("sim_to_real")),
                      _corpus_verdict(results.get("corpus_detection"))))
    ours = results["model"]["macro_f1"]
    line = f"In one line: {unseen}Macro-F1 {ours:.3f} on the held-out test split"
    if not results.get("baselines"):  # an evaluation stopped before them
        return line + "."
    best_name, best = max(((name, r["macro_f1"]) for name, r in results["baselines"].items()),
                          key=lambda item: item[1])
    relation = "above" if ours > best else "below"
    return (f"{line}, {relation} the better shallow baseline "
            f"({best_name.replace('_', ' ')}, {best:.3f}).")


def _kfold_verdict(kfold: dict | None) -> str:
    if not kfold:
        return ""
    s = kfold["summary"]
    benign = (f", {100 * s['benign_with_any_alert']:.1f}% of {s['benign_captures']} held-out "
              "benign captures alert" if s.get("benign_with_any_alert") is not None else "")
    return (f"Each real attack capture tested by a model that never saw it: {s['detected']} "
            f"of {s['captures']} alert with a fitting class (ceiling {s['ceiling']}, counting "
            f"rules {s['rules_detected']}){benign}. ")


def _sim_to_real_verdict(sim: dict | None) -> str:
    if not sim:
        return ""
    s = sim["summary"]
    return (f"Trained on the testbed alone, {100 * s['staged_with_fitting_alert']:.1f}% of the "
            f"{s['staged_captures']} real attack captures of families it stages alert with a "
            f"fitting class (counting rules {100 * s['rules_staged_with_fitting_alert']:.1f}%), "
            f"{100 * s['benign_with_any_alert']:.1f}% of {s['benign_captures']} benign "
            "captures alert. ")


def _corpus_verdict(corpus: dict | None) -> str:
    s = (corpus or {}).get("summary", {})
    if not s.get("staged_captures"):
        return ""
    return (f"On real captures made elsewhere, {100 * s['staged_with_fitting_alert']:.0f}% of "
            f"the {s['staged_captures']} attack captures of families the testbed stages alert "
            f"with a fitting class, {100 * s['attacks_with_fitting_alert']:.0f}% of all "
            f"{s['attack_captures']} attack captures, and "
            f"{100 * s['benign_with_any_alert']:.1f}% of {s['benign_captures']} benign captures "
            "alert. ")
