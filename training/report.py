"""Evaluation results as JSON, as Markdown a person reads, and a confusion-matrix picture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trafficlm.training.audit import audit_lines
from trafficlm.training.explanations import explanation_lines
from trafficlm.training.unseen_conditions import unseen_lines

SYSTEMS = (("TrafficLM (LoRA)", "model"), ("frozen encoder + linear probe", "probe"),
           ("k-NN on packet sequences", "knn_sequences"),
           ("random forest on flow statistics", "random_forest_flow_stats"))
SMALL_CLASS_FLOWS = 20  # per-class F1 below this many test flows is a noisy estimate


def write_reports(directory: Path, results: dict, matrix: np.ndarray) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
    (directory / "results.md").write_text(markdown(results), encoding="utf-8")
    _confusion_png(directory / "confusion.png", matrix, results["labels"])


def write_stage(directory: Path, name: str, result: dict) -> None:
    """One stage's results alone (``train evaluate --only``): NAME.json, and NAME.md with
    its table where the full report has one."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
    if name in STAGE_TABLES:
        (directory / f"{name}.md").write_text("\n".join(STAGE_TABLES[name](result)) + "\n",
                                              encoding="utf-8")


def _system(results: dict, key: str) -> dict | None:
    return results.get(key) or results.get("baselines", {}).get(key)


def markdown(results: dict) -> str:
    lines = _pending_lines(results.get("pending"))
    # traffic the model never saw comes first: whole attack captures, each held out by fold
    lines += STAGE_TABLES["corpus_kfold"](results.get("corpus_kfold"))
    lines += STAGE_TABLES["sim_to_real"](results.get("sim_to_real"))
    # the model read corpus attack flows when a k-fold stage is in the recipe, measured or not
    read_corpus_attacks = "corpus_kfold" in results or "corpus_kfold" in results.get(
        "pending", [])
    lines += _corpus_lines(results.get("corpus_detection"), CORPUS_HEADING,
                           sim_to_real=not read_corpus_attacks)
    lines += STAGE_TABLES["unseen_conditions"](results.get("unseen_conditions"))
    lines += ["## Split", "", "| side | flows | captures | groups |", "| --- | --- | --- | --- |"]
    for side, sizes in results["split"].items():
        lines.append(f"| {side} | {sizes['flows']} | {sizes['captures']} | {sizes['groups']} |")
    fprs = [d["fpr"] for d in results["model"]["detection"]]
    lines += ["", "## Side by side (test split)", "",
              "| system | macro-F1 | " + " | ".join(f"detection @ FPR {f:g}" for f in fprs) + " |",
              "| --- | --- | " + " | ".join("---" for _ in fprs) + " |"]
    for name, key in SYSTEMS:
        scores = _system(results, key)
        if scores:
            detections = " | ".join(_pct(d["detection_rate"]) for d in scores["detection"])
            lines.append(f"| {name} | {scores['macro_f1']:.4f} | {detections} |")
    lines += ["", "## Per class (TrafficLM)", "", "| class | precision | recall | F1 | flows |",
              "| --- | --- | --- | --- | --- |"]
    for label, m in results["model"]["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
                     f"{m['support']} |")
    lines += _seed_lines(results.get("seeds"))
    lines += _absent_classes(results) + _small_classes(results)
    lines += STAGE_TABLES["shortcut_audit"](results.get("shortcut_audit"))
    lines += STAGE_TABLES["explanations"](results.get("explanations"))
    open_set = results["open_set"]
    lines += ["", "## Alerts (a non-benign class or the open-set flag)", "",
              f"- attack flows alerted: {_pct(open_set['attack_flows_alerted'])}",
              f"- benign flows alerted: {_pct(open_set['benign_flows_alerted'])}",
              f"- flagged as unlike anything in training: "
              f"{_pct(open_set['flagged_unlike_training'])}"]
    unseen = results.get("leave_one_attack_out")
    if unseen:
        lines += ["", "## Unseen attacks (retrained without the class, tested on it)", "",
                  "| held-out class | test flows | detected | as another attack | "
                  "by open-set score only | benign false alarms |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for label, r in unseen.items():
            lines.append(f"| {label} | {r['test_flows']} | {_pct(r['detected'])} | "
                         f"{_pct(r['as_another_attack'])} | {_pct(r['by_open_set_only'])} | "
                         f"{_pct(r['benign_false_alarms'])} |")
    return "\n".join(lines) + "\n"


def _pending_lines(pending: list[str] | None) -> list[str]:
    """An evaluation still running, or stopped part way, says which tables are missing."""
    if not pending:
        return []
    return [f"**Incomplete**: written before the stage `{pending[0]}`; not measured yet: "
            f"{', '.join(pending)}.", ""]


def _seed_lines(seeds: dict | None) -> list[str]:
    if not seeds:
        return []
    return ["", f"Over {len(seeds['seeds'])} fine-tuning seeds ({seeds['seeds']}): macro-F1 "
            f"{seeds['mean']:.4f} mean, spread {seeds['spread']:.4f} (each: "
            f"{', '.join(f'{s:.4f}' for s in seeds['macro_f1'])})."]


def _absent_classes(results: dict) -> list[str]:
    """Classes the model knows but the test split holds no flow of: macro-F1 cannot see them,
    so the reader is told rather than left to count rows."""
    absent = [label for label in results["labels"] if label not in results["model"]["per_class"]]
    if not absent:
        return []
    return ["", f"Macro-F1 is over the {len(results['model']['per_class'])} classes the test "
            f"split holds. No test flow of: {', '.join(absent)} (none in the test groups once "
            "flows that repeat another flow token for token were removed), so neither this "
            "table nor the unseen-attack table can score them."]


def _small_classes(results: dict, below: int = SMALL_CLASS_FLOWS) -> list[str]:
    """Classes with few test flows: one flow more or less right moves their F1, and macro-F1
    with it, by more than the gaps between systems, so the reader is warned."""
    small = {label: m["support"] for label, m in results["model"]["per_class"].items()
             if m["support"] < below}
    if not small:
        return []
    fewest = min(small, key=small.get)
    return ["", f"Fewer than {below} test flows: "
            f"{', '.join(f'{label} ({n})' for label, n in small.items())}. One flow is "
            f"{_pct(1 / small[fewest])} of {fewest}'s recall, so macro-F1 moves by points, "
            "not hundredths, between fine-tuning seeds."]


CORPUS_HEADING = "## Whole captures through triage (corpus captures never read in training)"
SIM_TO_REAL_HEADING = ("## Sim-to-real: every corpus attack capture, by a model fine-tuned "
                       "without any corpus attack flow")


def _kfold_lines(kfold: dict | None) -> list[str]:
    """The k-fold whole-capture table: per family, detected beside the ceiling."""
    if not kfold:
        return []
    s = kfold["summary"]
    lines = [f"## Whole attack captures, {s['folds']}-fold (each tested by a model that "
             "never saw it)", "",
             f"- detected with a fitting class: {s['detected']} of {s['captures']} attack "
             f"captures (any alert: {s['any_alert']}); ceiling {s['ceiling']}: the captures "
             "with a sibling of their family in another fold to learn from; the Zeek-style "
             f"counting rules, on the same captures: {s.get('rules_detected', 'n/a')}",
             *_kfold_benign_lines(kfold), "",
             *_operating_point_lines(kfold.get("operating_points")),
             "| family | captures | ceiling | detected | any alert | counting rules |",
             "| --- | --- | --- | --- | --- | --- |"]
    for family, row in kfold["per_family"].items():
        lines.append(f"| {family} | {row['captures']} | {row['ceiling']} | {row['detected']} | "
                     f"{row['any_alert']} | {row.get('rules_detected', 'n/a')} |")
    return [*lines, ""]


def _kfold_benign_lines(kfold: dict) -> list[str]:
    """The k-fold's false alarms: each fold's model on the held-out benign captures."""
    s = kfold["summary"]
    if not s.get("benign_captures"):
        return []
    lines = [f"- benign captures with any alert: {_pct(s['benign_with_any_alert'])} of the "
             f"{s['benign_captures']} held-out benign captures, over the {s['folds']} folds' "
             "models"]
    return lines + [f"  - fold {a['fold'] + 1}: `{a['capture']}`: {', '.join(a['verdicts'])}"
                    for a in kfold.get("benign_alerts", [])]


def _corpus_lines(corpus: dict | None, heading: str, sim_to_real: bool) -> list[str]:
    """Whole captures through triage: per manifest label, how many alerted (and fittingly);
    ``sim_to_real``: the model read no corpus attack flow, so the staged families' line is
    the sim-to-real number."""
    if not corpus:
        return []
    s = corpus["summary"]
    lines = [heading, "", *_staged_line(s, sim_to_real),
             f"- attack captures with an alert of a fitting class: "
             f"{_pct(s['attacks_with_fitting_alert'])} of {s['attack_captures']} "
             f"(any alert: {_pct(s['attacks_with_any_alert'])})",
             f"- benign captures with any alert: {_pct(s['benign_with_any_alert'])} of "
             f"{s['benign_captures']}",
             *_rules_lines(s),
             f"- the attack captures carry {s['attack_labels']} labels, "
             f"{s['single_capture_labels']} of them on a single capture: most are attacks "
             "no training data of ours stages",
             "- an alert is a session triage reports, after its volume and collateral rules "
             "(trafficlm/session_rules.py)", "",
             "| manifest label | captures | any alert | fitting alert | counting rules: any, "
             "fitting |",
             "| --- | --- | --- | --- | --- |"]
    for label, r in corpus["per_label"].items():
        lines.append(f"| {label} | {r['captures']} | {r['any_alert']} | {r['fitting_alert']} | "
                     f"{r['rules_any_alert']}, {r['rules_fitting_alert']} |")
    return [*lines, "", *_false_alert_lines(corpus), "",
            *_operating_point_lines(corpus.get("operating_points"))]


def _operating_point_lines(points: list[dict] | None) -> list[str]:
    """The same captures at stricter minimum session scores (``operating_points``)."""
    if not points:
        return []
    lines = ["Were triage to keep only sessions whose mean attack score reaches a minimum "
             "(replayed on the same sessions):", "",
             "| minimum session score | attack captures, fitting alert | benign, any alert |",
             "| --- | --- | --- |"]
    lines += [f"| {p['min_session_score']} | {p['attacks_fitting']} of {p['attacks']} | "
              f"{p['benign_alerting']} of {p['benign']} ({_pct(p['benign_share'])}) |"
              for p in points]
    return [*lines, ""]


def _false_alert_lines(corpus: dict, most: int = 30) -> list[str]:
    """The benign captures that alerted, each with its verdicts: what a reader checks first."""
    alerted = [c for c in corpus.get("captures", []) if c["benign"] and c["verdicts"]]
    if not alerted:
        return []
    lines = ["Benign captures with an alert (verdicts):", ""]
    lines += [f"- `{c['capture']}`: {', '.join(c['verdicts'])}" for c in alerted[:most]]
    if len(alerted) > most:
        lines.append(f"- and {len(alerted) - most} more (results.json)")
    return lines


def _rules_lines(summary: dict) -> list[str]:
    """The counting rules' line, beside the model's: the yardstick it has to beat."""
    if "rules_attacks_with_fitting_alert" not in summary:
        return []
    ahead = ", ".join(summary["rules_ahead"]) or "none"
    return [f"- Zeek-style counting rules (training/counting_rules.py) on the same captures: "
            f"{_pct(summary['rules_attacks_with_fitting_alert'])} of attack captures with a "
            f"fitting alert, {_pct(summary['rules_staged_with_fitting_alert'])} of the staged "
            f"families, {_pct(summary['rules_benign_with_any_alert'])} of benign captures with "
            f"any; labels where the rules find more captures than the model: {ahead}"]


def _staged_line(summary: dict, sim_to_real: bool) -> list[str]:
    if not summary.get("staged_captures"):
        return []
    name = "sim-to-real" if sim_to_real else "families the testbed stages"
    return [f"- {name}: of the {summary['staged_captures']} attack captures whose family "
            "the testbed stages (scans, brute force, floods, slow DoS, web attacks, tunnels), "
            f"{_pct(summary['staged_with_fitting_alert'])} alerted with a fitting class"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _confusion_png(path: Path, matrix: np.ndarray, labels: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(5, len(labels) * 0.55)
    figure, axes = plt.subplots(figsize=(size + 2, size))
    rows = matrix.sum(axis=1, keepdims=True)
    axes.imshow(np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0),
                cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            axes.text(j, i, str(count), ha="center", va="center", fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# a stage's table, as the full report and ``write_stage`` both render it (the whole-capture
# table of the shipped model alone depends on the other stages: ``markdown`` decides there)
STAGE_TABLES = {
    "corpus_kfold": _kfold_lines,
    "sim_to_real": lambda r: _corpus_lines(r, SIM_TO_REAL_HEADING, sim_to_real=True),
    "corpus_detection": lambda r: _corpus_lines(r, CORPUS_HEADING, sim_to_real=False),
    "unseen_conditions": unseen_lines, "shortcut_audit": audit_lines,
    "explanations": explanation_lines,
}
