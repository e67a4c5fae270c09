"""``trafficlm adapt``: fit a site adapter on a network's own normal traffic.

The site's flows are its BENIGN examples; the base model's rehearsal set
(``rehearsal``) keeps every attack class in the fit, so the adapter learns
the site without forgetting the attacks. The adapter is LoRA on the pooler
and a new head, the encoder untouched: what the shared model sees in a flow
stays the same, only the verdict drawn from it moves, and only near the site:
a gate (``site_gate``) gives every flow far from the site's own traffic the
base head's verdict and the base open set, so other networks score as
before, and a flow inside the gate is like the site, never unlike training
(``site_calibration``). Analyst feedback adds what the
site's people said: false positives become benign examples, true positives
examples of their class, each weighing ``FEEDBACK_WEIGHT`` site flows.

A baseline can hold an attack. Flows the base model calls an attack with
confidence ``GUARD_CONFIDENCE`` or more, the alerted flows of the same attack
episode, and one-off bursts of alerts with their hosts' other flows around
them (``baseline_guard``) are kept out of the fit (unless an analyst marked
them false positives) and listed in the report, never absorbed as normal.
The last ``HELD_BACK`` of the site's flows, by start time, are not fitted
either: the report compares false alerts on them with and without the
adapter.

Bounded: at most ``MAX_SITE_FLOWS`` flows are read (the rest counted, not
read), at most ``MAX_DISTINCT`` distinct token sequences kept, and at most
``MAX_FIT_SEQUENCES`` of them fitted (so an hour of a site fits in minutes):
every sequence the base model alerted on first, since those are what the
adapter is for, then an even sample of the rest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from trafficlm.baseline_guard import GUARD_CONFIDENCE, REASONS, host_pairs, kept_out
from trafficlm.capture import CaptureReport, find_captures
from trafficlm.detect import score_flows
from trafficlm.errors import TrafficLMError
from trafficlm.feedback import read_log
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import addresses
from trafficlm.model import BENIGN, Calibration, TrafficModel, classify
from trafficlm.pipeline import capture_flows
from trafficlm.rehearsal import load_rehearsal
from trafficlm.site_adapter import file_sha256, weights_hash
from trafficlm.site_calibration import site_calibration, site_centres
from trafficlm.site_gate import BaseHead, SiteGate, gate_radius, gated
from trafficlm.site_report import adapter_report

MAX_SITE_FLOWS = 2_000_000
MAX_DISTINCT = 200_000
MAX_FIT_SEQUENCES = 10_000
MAX_THRESHOLD_SEQUENCES = 5_000
HELD_BACK = 0.2
UNLIKE_TRAINING = -1  # the verdict index of a benign-looking flow unlike training
MAX_NAMED_PAIRS = 100_000  # host pairs with an alerted flow whose addresses the report can name
FEEDBACK_WEIGHT = 20
CALIBRATION_EVERY = 10  # every 10th distinct benign sequence sets the gate's radius
EPOCHS, BATCH, LEARNING_RATE = 2, 32, 1e-3
# LoRA on the pooler and a new head, the encoder left as it is: its [CLS] embeddings keep the
# base model's meaning, so the base head, class means and threshold apply beyond the gate
LORA = {"r": 8, "lora_alpha": 16, "target_modules": r".*pooler\.dense",
        "modules_to_save": ["classifier"], "lora_dropout": 0.05}


class AdaptError(TrafficLMError):
    """Site traffic or feedback that cannot make an adapter."""


@dataclass
class SiteTraffic:
    """Every flow read (its start, content hash, hosts, port, base verdict) and the
    distinct ids."""

    starts: list[np.ndarray] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    pairs: list[np.ndarray] = field(default_factory=list)  # baseline_guard.host_pairs
    ports: list[np.ndarray] = field(default_factory=list)
    verdicts: list[np.ndarray] = field(default_factory=list)  # label index, or UNLIKE_TRAINING
    confident: list[np.ndarray] = field(default_factory=list)  # a confident attack verdict
    marked: list[np.ndarray] = field(default_factory=list)  # an analyst's false positive
    # the addresses of host pairs with an alerted flow (the report names them)
    pair_names: dict[int, tuple[str, str]] = field(default_factory=dict)
    distinct: dict[int, np.ndarray] = field(default_factory=dict)
    captures: list[dict] = field(default_factory=list)
    unread_flows: int = 0
    over_distinct: int = 0
    benign: int = 0  # the BENIGN label's index among the verdicts

    @property
    def flows(self) -> int:
        return sum(len(s) for s in self.starts)

    def column(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0)

    def base_alerts(self) -> np.ndarray:
        """Which flows the base model alerted on: an attack class, or unlike training."""
        return self.column("verdicts") != self.benign

    def kept_out_reasons(self) -> np.ndarray:
        """Per flow, why it is kept out of the fit as an attack (``baseline_guard.REASONS``),
        or 0."""
        return kept_out(self.column("starts"), self.column("pairs").astype(np.uint64),
                        self.base_alerts(), self.column("confident").astype(bool),
                        self.column("marked").astype(bool))

    def excluded(self, reasons: np.ndarray, labels: list[str]) -> list[dict]:
        """The report's table of what was kept out: per host pair, base verdict and reason,
        the flows and the port range, largest first (at most 50 rows)."""
        out = reasons > 0
        rows = pl.DataFrame({"pair": self.column("pairs").astype(np.uint64)[out],
                             "verdict": self.column("verdicts")[out], "reason": reasons[out],
                             "port": self.column("ports")[out]}).group_by(
            "pair", "verdict", "reason").agg(pl.len().alias("flows"), pl.col("port").min().alias(
                "low"), pl.col("port").max().alias("high")).sort(
            "flows", "pair", "verdict", descending=[True, False, False]).head(50)
        unnamed = ("?", "?")  # over MAX_NAMED_PAIRS
        return [{"src_ip": self.pair_names.get(r["pair"], unnamed)[0],
                 "dst_ip": self.pair_names.get(r["pair"], unnamed)[1],
                 "class": "unlike training" if r["verdict"] == UNLIKE_TRAINING
                 else labels[r["verdict"]], "reason": REASONS[r["reason"]], "flows": r["flows"],
                 "dst_ports": str(r["low"]) if r["low"] == r["high"] else f"{r['low']}-{r['high']}"}
                for r in rows.iter_rows(named=True)]


def read_site(model: TrafficModel, paths: list[str], feedback: Feedback, say=print
              ) -> SiteTraffic:
    """Score the site's captures with the base model, keeping what the fit needs; flows
    analysts marked false positives are never set aside as attacks."""
    found = find_captures(paths)
    for line in found.skipped:
        say(line)
    if not found.paths:
        raise AdaptError(f"no captures found in {', '.join(paths)}")
    site = SiteTraffic(benign=model.labels.index(BENIGN))
    for path in found.paths:
        if site.flows >= MAX_SITE_FLOWS:  # listed as not read; its flows are not counted
            site.captures.append({"path": path, "sha256": file_sha256(path), "flows": 0,
                                  "read": False})
            continue
        report = CaptureReport(path)
        read = 0
        for flows in capture_flows(path, report):
            room = MAX_SITE_FLOWS - site.flows
            if room <= 0:
                site.unread_flows += len(flows)
                continue
            if len(flows) > room:
                site.unread_flows += len(flows) - room
                flows = flows.select(np.arange(room))
            _add_batch(model, site, flows, feedback)
            read += len(flows)
        for line in report.problems():
            say(line)
        site.captures.append({"path": path, "sha256": file_sha256(path), "flows": read,
                              "read": True})
        say(f"{path}: {read:,} flows")
    if not site.flows:
        raise AdaptError(f"no flows in {', '.join(paths)}")
    return site


def _add_batch(model: TrafficModel, site: SiteTraffic, flows: FlowBatch,
               feedback: Feedback) -> None:
    scores = score_flows(model, flows)
    marked = np.isin(scores.content_hash, np.fromiter(feedback.benign, np.uint64,
                                                      len(feedback.benign)))
    confident = (scores.label != BENIGN) & (scores.confidence >= GUARD_CONFIDENCE)
    pairs = host_pairs(flows)
    verdicts = _label_indices(scores.label, model.labels)
    verdicts[(scores.label == BENIGN) & scores.unlike_training] = UNLIKE_TRAINING
    site.starts.append(flows.start_ns.copy())
    site.hashes.append(scores.content_hash.astype(np.uint64))
    site.pairs.append(pairs)
    site.ports.append(flows.resp_port.astype(np.int32))
    site.verdicts.append(verdicts)
    site.confident.append(confident)
    site.marked.append(marked)
    _name_pairs(site, flows, pairs, verdicts != site.benign)
    keys, first = np.unique(scores.content_hash, return_index=True)
    new = np.array([int(key) not in site.distinct for key in keys.tolist()], bool)
    room = max(0, MAX_DISTINCT - len(site.distinct))
    site.over_distinct += max(0, int(new.sum()) - room)
    keys, first = keys[new][:room], first[new][:room]
    if len(first):  # only sequences not kept yet are encoded again
        ids = model.tokenizer.encode(flows.select(first)).ids
        site.distinct.update(zip(keys.tolist(), ids, strict=True))


def _name_pairs(site: SiteTraffic, flows: FlowBatch, pairs: np.ndarray,
                alerted: np.ndarray) -> None:
    """Remember the addresses of the alerted flows' host pairs (what the report names)."""
    new = alerted & ~np.isin(pairs, np.fromiter(site.pair_names, np.uint64,
                                                len(site.pair_names)))
    _, first = np.unique(pairs[new], return_index=True)
    rows = np.flatnonzero(new)[first][: max(0, MAX_NAMED_PAIRS - len(site.pair_names))]
    if len(rows):
        names = zip(addresses(flows.init_hi[rows], flows.init_lo[rows]),
                    addresses(flows.resp_hi[rows], flows.resp_lo[rows]), strict=True)
        site.pair_names.update(zip(pairs[rows].tolist(), names, strict=True))


def _label_indices(names: np.ndarray, labels: list[str]) -> np.ndarray:
    order = np.argsort(labels)
    return order[np.searchsorted(np.array(labels), names, sorter=order)].astype(np.int16)


@dataclass
class Feedback:
    """Content hashes analysts marked, and the class of each true positive."""

    benign: set[int] = field(default_factory=set)
    attacks: dict[int, str] = field(default_factory=dict)
    lines: int = 0


def read_feedback(path: Path | None, labels: list[str]) -> Feedback:
    """The log's marks (its chain checked: an edited log is refused)."""
    out = Feedback()
    if path is None:
        return out
    for record in read_log(Path(path)):
        out.lines += 1
        hashes = {int(h, 16) for h in record.get("content_hashes") or []}
        if record["verdict"] == "false-positive":
            out.benign |= hashes
        else:
            label = record.get("class") or (record["alert"].get("signature") or "").removeprefix(
                "TrafficLM ")
            if label not in labels or label == BENIGN:
                raise AdaptError(f"{path}: a true positive of class {label!r}, which the base "
                                 f"model does not know (classes: {', '.join(labels)})")
            out.attacks.update(dict.fromkeys(hashes, label))
    return out


@dataclass
class FitData:
    """What the adapter is fitted on, and what it is judged on."""

    ids: np.ndarray
    labels: np.ndarray
    calibration_ids: np.ndarray  # distinct benign site sequences left out of the fit
    held_hashes: np.ndarray  # the held-back flows' content hashes (one per flow)
    held_base_alerts: np.ndarray
    counts: dict
    marked_benign: np.ndarray  # the sequences analysts marked false positives, once each
    marked_attacks: np.ndarray  # ... and true positives
    excluded: np.ndarray  # per flow read: why it is kept out as an attack, or 0

    @property
    def site_ids(self) -> np.ndarray:
        """The fitted benign site sequences, the base model's look-alikes first."""
        return self.ids[: self.counts["distinct_benign_fitted"]]

    @property
    def lookalike_ids(self) -> np.ndarray:
        return self.ids[: self.counts["distinct_base_alerted_fitted"]]


def fit_data(site: SiteTraffic, feedback: Feedback, rehearsal: tuple[np.ndarray, np.ndarray]
             ) -> FitData:
    starts, hashes = site.column("starts"), site.column("hashes").astype(np.uint64)
    reasons = site.kept_out_reasons()
    guarded = reasons > 0
    split_ns = np.quantile(starts, 1 - HELD_BACK, method="lower")
    fitted = starts < split_ns if (starts < split_ns).any() else np.ones(len(starts), bool)
    marked_attack = np.isin(hashes, np.fromiter(feedback.attacks, np.uint64,
                                                len(feedback.attacks)))
    normal = fitted & ~guarded & ~marked_attack
    benign = [h for h in np.unique(hashes[normal]).tolist() if h in site.distinct]
    base_alerts = site.base_alerts()
    alerted = set(np.unique(hashes[normal & base_alerts]).tolist())
    calibration = benign[::CALIBRATION_EVERY][:MAX_THRESHOLD_SEQUENCES]
    trained = _fitted_sequences([h for k, h in enumerate(benign) if k % CALIBRATION_EVERY],
                                alerted)
    fp = [h for h in feedback.benign if h in site.distinct]
    tp = [h for h in feedback.attacks if h in site.distinct]
    rows = [site.distinct[h] for h in trained] + [site.distinct[h] for h in fp + tp] * (
        FEEDBACK_WEIGHT)
    labels = [BENIGN] * len(trained) + ([BENIGN] * len(fp) + [feedback.attacks[h] for h in tp]
                                        ) * FEEDBACK_WEIGHT
    if not trained:
        raise AdaptError("no benign site flow is left to fit once the held-back slice and the "
                         "flows the base model calls attacks are set aside")
    ids = np.concatenate([np.stack(rows), rehearsal[0]])
    held = ~fitted & ~guarded  # the base model's confident attacks are no false alerts
    counts = {"flows_read": site.flows, "flows_fitted_part": int(fitted.sum()),
              "flows_held_back": int(held.sum()), "distinct_benign_fitted": len(trained),
              "distinct_benign_for_threshold": len(calibration),
              "distinct_benign_not_fitted": len(benign) - len(calibration) - len(trained),
              "distinct_base_alerted_fitted": len(alerted.intersection(trained)),
              "flows_excluded_as_attacks": int((fitted & guarded).sum()),
              "flows_excluded_by_reason": {text: int((fitted & (reasons == code)).sum())
                                           for code, text in REASONS.items()},
              "feedback_false_positive_sequences": len(fp),
              "feedback_true_positive_sequences": len(tp),
              "rehearsal_flows": len(rehearsal[0])}
    return FitData(ids, np.concatenate([np.array(labels, dtype=object), rehearsal[1]]),
                   np.stack([site.distinct[h] for h in calibration or trained[:1]]),
                   hashes[held], base_alerts[held], counts,
                   _rows(site, fp, ids.shape[1]), _rows(site, tp, ids.shape[1]), reasons)


def _rows(site: SiteTraffic, hashes: list[int], width: int) -> np.ndarray:
    return np.stack([site.distinct[h] for h in hashes]) if hashes else np.zeros((0, width),
                                                                                np.int32)


def _fitted_sequences(candidates: list[int], alerted: set[int]) -> list[int]:
    """At most ``MAX_FIT_SEQUENCES`` of the candidates: the ones the base model alerted on
    (the site's look-alikes the adapter must learn), then an even spread of the others
    (candidates are in content-hash order, which is unrelated to time or host)."""
    first = [h for h in candidates if h in alerted][:MAX_FIT_SEQUENCES]
    rest = [h for h in candidates if h not in alerted]
    room = MAX_FIT_SEQUENCES - len(first)
    if len(rest) > room:
        rest = [rest[k] for k in np.linspace(0, len(rest) - 1, room).astype(int).tolist()] \
            if room else []
    return first + rest


def fit_adapter(base: TrafficModel, data: FitData, seed: int = 0, say=print):
    """A LoRA adapter (peft) on the base classifier, fitted on ``data``."""
    from peft import LoraConfig, get_peft_model

    from trafficlm.training.fitting import fit_epoch
    from trafficlm.training.schedule import LinearSchedule

    torch.manual_seed(seed)
    index = {label: i for i, label in enumerate(base.labels)}
    y = np.array([index[label] for label in data.labels])
    model = get_peft_model(base.classifier, LoraConfig(task_type="SEQ_CLS", **LORA))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=LEARNING_RATE)
    # unweighted: the rehearsal set is balanced already, and weighting its few flows per
    # class up would push the site's own look-alikes into those classes
    loss_fn = torch.nn.CrossEntropyLoss()
    schedule = LinearSchedule(optimizer, LEARNING_RATE, EPOCHS * -(-len(y) // BATCH))
    rng = np.random.default_rng(seed)
    for epoch in range(EPOCHS):
        loss = fit_epoch(model, data.ids, y, optimizer, loss_fn, schedule, BATCH, rng,
                         f"adapt epoch {epoch + 1}")
        say(f"adapt epoch {epoch + 1}: loss {loss:.4f} over {len(y):,} flows")
    return model.eval()


def site_scoring(classifier, base_head: BaseHead, data: FitData, base: Calibration,
                 labels: list[str]) -> tuple[Calibration, SiteGate]:
    """The gate within which the adapted head decides (and a flow is like the site), and the
    open set's scores on the site; both from the distinct benign sequences kept out of the
    fit."""
    def embed(ids: np.ndarray) -> np.ndarray:
        return classify(classifier, ids)[1] if len(ids) else np.zeros((0, base.means.shape[1]))

    centres = site_centres(embed(data.site_ids), embed(data.lookalike_ids),
                           embed(data.marked_benign))
    probs, held_out = classify(classifier, data.calibration_ids)
    radius = gate_radius(centres, base.precision, held_out, base.fpr)
    marked_attacks = embed(data.marked_attacks)
    gate = SiteGate(np.concatenate([centres, marked_attacks]) if len(marked_attacks)
                    else centres, base.precision, radius)
    probs, distances = gated(probs, base.distance(held_out), held_out, gate, base_head,
                             base.threshold)
    return site_calibration(base, distances, 1 - probs[:, labels.index(BENIGN)]), gate


def held_back_alerts(model: TrafficModel, data: FitData, site: SiteTraffic) -> int:
    """How many held-back flows the adapted model alerts on (a class, or unlike the site)."""
    distinct, inverse = np.unique(data.held_hashes, return_inverse=True)
    known = np.array([int(h) in site.distinct for h in distinct.tolist()])
    alert = np.zeros(len(distinct), bool)
    if known.any():
        rows = np.stack([site.distinct[int(h)] for h in distinct[known].tolist()])
        probs, distance = model.predict(rows)
        alert[known] = (probs.argmax(axis=1) != model.labels.index(BENIGN)) | (
            distance > model.calibration.threshold)
    return int(alert[inverse].sum())


def adapt(model_dir: Path, paths: list[str], out: Path, feedback_path: Path | None = None,
          say=print) -> dict:
    """Fit, calibrate, judge on the held-back slice and write the adapter directory."""
    started = time.monotonic()
    base = TrafficModel(model_dir)
    feedback = read_feedback(feedback_path, base.labels)
    rehearsal = load_rehearsal(base.directory, base.labels)
    site = read_site(base, paths, feedback, say)
    data = fit_data(site, feedback, rehearsal)
    say(f"fitting on {len(data.ids):,} flows ({data.counts['distinct_benign_fitted']:,} "
        f"distinct benign site sequences, {len(rehearsal[0]):,} rehearsed)")
    base_head = BaseHead(base.classifier)  # before the fit: peft changes the head in place
    model = fit_adapter(base, data, say=say)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    merged = model.merge_and_unload().eval()
    calibration, gate = site_scoring(merged, base_head, data, base.calibration, base.labels)
    calibration.save(out)
    gate.save(out)
    base.use_site_adapter(merged, calibration, gate, base_head)
    report = {
        "base_model": {"name": base.directory.name, "path": str(base.directory),
                       "sha256": weights_hash(base.directory)},
        "captures": site.captures, "unread_flows": site.unread_flows,
        "max_site_flows": MAX_SITE_FLOWS, "max_fit_sequences": MAX_FIT_SEQUENCES,
        "distinct_sequences_over_cap": site.over_distinct, **data.counts,
        "excluded": site.excluded(data.excluded, base.labels),
        "held_back_false_alerts": {
            "base": int(data.held_base_alerts.sum()),
            "adapted": held_back_alerts(base, data, site)},
        "site_gate": {"centres": len(gate.centres), "radius": round(gate.radius, 3)},
        "feedback": {"path": str(feedback_path) if feedback_path else None,
                     "lines": feedback.lines},
        "seconds": round(time.monotonic() - started, 1)}
    (out / "adapter.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out / "ADAPTER.md").write_text(adapter_report(report), encoding="utf-8")
    return report
