"""End to end on the tiny config, offline: pretrain lowers the loss, fine-tune and
evaluate write a loadable model and their reports; torchrun with 2 CPU processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from trafficlm.model import ModelError, TrafficModel
from trafficlm.rehearsal import load_rehearsal
from trafficlm.training.card import model_card
from trafficlm.training.config import ConfigError, load_recipe
from trafficlm.training.data import pretraining_ids, recipe_tokenizer
from trafficlm.training.datasets.manifest import read_manifest
from trafficlm.training.jobs import evaluate_job, evaluate_only_job, finetune_job, pretrain_job
from trafficlm.training.pretrain import pretrain
from trafficlm.training.report import markdown

from conftest import CORPUS, REPO

CLASSES = {"BENIGN": "benign", "DNS Tunnel": "dns_tunnel",
           "HTTP Evasion": "malware_download_http_evasion"}


def make_folders(manifest, root):
    """ROOT/<label>/ of symlinks to corpus captures (the corpus is never copied)."""
    chosen = {}
    for label, corpus_label in CLASSES.items():
        rows = [r for r in manifest if r["label"] == corpus_label and r["linktype"] != "ieee802_11"
                and 8 <= int(r["packets"]) <= 4000][:6]
        (root / label).mkdir(parents=True)
        for row in rows:
            link = root / label / row["path"].replace("/", "__")
            link.symlink_to(CORPUS / row["path"])
        chosen[label] = sorted(p.name for p in (root / label).iterdir())
    return chosen


def write_recipe(tmp_path, manifest, steps=40, extra="", data_extra=""):
    chosen = make_folders(manifest, tmp_path / "data")
    test = [f"{label}/{names[0]}" for label, names in chosen.items()]
    validation = [f"{label}/{names[1]}" for label, names in chosen.items()]
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(f"""
output = "{tmp_path / 'run'}"
seed = 1
model_config = "{REPO / 'configs' / 'model' / 'tiny.toml'}"

[tokenizer]
max_length = 128

[data]
folders = ["{tmp_path / 'data'}"]
max_flows_per_capture = 200
test_groups = {json.dumps(test)}
validation_groups = {json.dumps(validation)}
{data_extra}

[pretrain]
steps = {steps}
batch_size = 16
learning_rate = 0.002
log_every = 5
checkpoint_every = 20

[finetune]
epochs = 3
batch_size = 16

[evaluate]
probe_epochs = 1
leave_one_out_epochs = 1
forest_trees = 20
{extra}
""")
    return recipe


@pytest.mark.slow
def test_tiny_end_to_end(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = load_recipe(write_recipe(tmp_path, manifest))
    pretrain_job(recipe, say=lambda m: None)
    log = [json.loads(line) for line in
           (tmp_path / "run" / "pretrain" / "loss.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(5, 41, 5))
    assert log[-1]["loss"] < log[0]["loss"] * 0.8

    finetune_job(recipe, say=lambda m: None)
    model = TrafficModel(tmp_path / "run" / "model")
    assert set(model.labels) == set(CLASSES)
    assert (tmp_path / "run" / "model" / "adapter" / "adapter_model.safetensors").exists()

    stopped_evaluation_keeps_its_finished_tables(recipe, tmp_path / "run" / "evaluation",
                                                 monkeypatch)
    recipe.evaluate.finetune_seeds = [7]
    results = evaluate_job(recipe, say=lambda m: None)
    seeds = results["seeds"]
    assert seeds["seeds"] == [1, 7] and seeds["macro_f1"][0] == results["model"]["macro_f1"]
    assert min(seeds["macro_f1"]) <= seeds["mean"] <= max(seeds["macro_f1"])
    for name in ("results.json", "results.md", "confusion.png"):
        assert (tmp_path / "run" / "evaluation" / name).stat().st_size > 100
    written = (tmp_path / "run" / "model" / "README.md").read_text(encoding="utf-8")
    # the jobs ran one by one, each recording its time: the card lists all three
    assert all(f"- {job}: " in written for job in ("pretrain", "finetune", "evaluate"))
    assert "## Evaluation (held-out" in written
    assert 0 <= results["model"]["macro_f1"] <= 1
    assert set(results["baselines"]) == {"knn_sequences", "random_forest_flow_stats"}
    assert "probe" in results
    audit = results["shortcut_audit"]["fields"]
    assert "session context" not in audit  # this recipe's tokenizer has none
    assert {"TTL class", "TCP window", "payload bytes"} <= set(audit)
    assert all(0 <= row["verdicts_changed"] <= 1 for row in audit.values())
    assert "## Shortcut audit" in written
    explained = results["explanations"]
    assert explained and all(r["explained"] >= 1 for r in explained.values())
    assert all(abs(sum(r[k] for k in ("payload", "session", "network", "flow")) - 1) < 0.01
               for r in explained.values())
    assert set(results["leave_one_attack_out"]) == {"DNS Tunnel", "HTTP Evasion"}
    assert results["split"]["test"]["captures"] == 3
    card = model_card(recipe, results, {"pretrain": 60.0, "finetune": 30.0})
    assert "## Evaluation (held-out" in card and "k-NN on packet sequences" in card
    assert "pretrain: 1.0 min" in card
    ids, rehearsed = load_rehearsal(tmp_path / "run" / "model", model.labels)
    assert set(rehearsed) == set(CLASSES) and len(ids) == len(rehearsed)


def stopped_evaluation_keeps_its_finished_tables(recipe, directory, monkeypatch):
    """An evaluation that dies in a stage leaves the reports of every stage before it, and
    says which are missing."""
    def killed(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("trafficlm.training.evaluate.explanation_kinds", killed)
        with pytest.raises(KeyboardInterrupt):
            evaluate_job(recipe, say=lambda m: None)
    partial = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    assert "shortcut_audit" in partial and "explanations" not in partial
    assert partial["pending"] == ["explanations", "probe", "leave_one_attack_out"]
    assert "baselines" in partial  # the quick tables run before those that fine-tune
    written = (directory / "results.md").read_text(encoding="utf-8")
    assert "**Incomplete**" in written and "## Shortcut audit" in written
    # and a card that says so: what it measured, no evaluation time it did not finish
    card = (directory.parent / "model" / "README.md").read_text(encoding="utf-8")
    assert "**Incomplete**" in card and "## Shortcut audit" in card
    assert "- evaluate: " not in card and "In one line: " in card


def test_pretraining_reads_its_own_share_of_each_capture(manifest, tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, manifest))
    tokenizer = recipe_tokenizer(recipe)
    recipe.data.pretrain_flows_per_capture = 1_000_000
    everything = pretraining_ids(recipe, tokenizer, say=lambda m: None)
    recipe.data.pretrain_flows_per_capture = 2
    sampled = pretraining_ids(recipe, tokenizer, say=lambda m: None)
    captures = len(list((tmp_path / "data").glob("*/*")))
    assert len(sampled) <= 2 * captures < len(everything)
    assert not {row.tobytes() for row in sampled} - {row.tobytes() for row in everything}


KFOLD_ATTACKS = ("zeek-traces/ftp__bruteforce.pcap", "ninahonyango-pca/bruteForce.pcapng",
                 "zeek-traces/ssh__sshguess.pcap",
                 "dorsao-traffic-analysis/hydra_ssh_bruteforce.pcapng",
                 "chrissanders-packets/ppa1e__portscan.pcap", "zeek-traces/rfb__vnc-scanner.pcap")


@pytest.mark.slow
def test_every_labelled_attack_capture_is_tested_once_by_a_model_without_it(manifest,
                                                                            tmp_path):
    labels = {r["path"]: r["label"] for r in manifest}
    # and two small benign captures, held out, for the folds' false alarms
    # (not suricata-verify's, which the BENIGN folder holds: a duplicate flow is dropped)
    benign = [r["path"] for r in manifest if r["label"] == "benign"
              and r["path"].startswith("chrissanders-packets/http_")][:2]
    tsv = tmp_path / "MANIFEST.tsv"
    tsv.write_text("path\tlabel\n" + "".join(f"{CORPUS / p}\t{labels[p]}\n"
                                              for p in (*KFOLD_ATTACKS, *benign)))
    recipe = load_recipe(write_recipe(
        tmp_path, manifest, extra="leave_one_out = false\ncorpus_folds = 2\nfold_epochs = 1\n",
        data_extra=f'manifest = "{tsv}"\ncorpus_attacks = true\n'))
    recipe.data.test_groups += sorted({
        c.group for c in read_manifest(str(tsv), recipe.data.manifest_groups)
        if c.label == "benign"})
    pretrain(recipe, say=lambda m: None)
    # one table alone, before any model is fine-tuned: it fine-tunes its own
    with pytest.raises(ConfigError, match="no evaluation stage sim_to_rael; the stages: "):
        evaluate_only_job(recipe, ["sim_to_rael"], say=lambda m: None)
    with pytest.raises(ConfigError, match=r"no evaluation stage probe.*need a fine-tuned model"):
        evaluate_only_job(recipe, ["sim_to_real", "probe"], say=lambda m: None)
    alone = evaluate_only_job(recipe, ["sim_to_real"], say=lambda m: None)["sim_to_real"]
    only = tmp_path / "run" / "evaluation" / "only"
    assert json.loads((only / "sim_to_real.json").read_text())["summary"] == alone["summary"]
    assert (only / "sim_to_real.md").read_text().startswith("## Sim-to-real")
    assert alone["summary"]["attack_captures"] == len(KFOLD_ATTACKS)
    finetune_job(recipe, say=lambda m: None)
    said = []
    results = evaluate_job(recipe, say=said.append)
    # the table measured alone on these inputs stands; it is not fine-tuned again
    assert "sim_to_real: kept from 'train evaluate --only sim_to_real' on the same inputs" in said
    assert results["sim_to_real"]["summary"] == alone["summary"]
    kfold = results["corpus_kfold"]
    assert kfold["summary"]["captures"] == len(KFOLD_ATTACKS)
    families = kfold["per_family"]
    assert {f: r["captures"] for f, r in families.items()} == {
        "FTP-Patator": 2, "SSH-Patator": 2, "PortScan": 1, "ServiceScan": 1}
    # the two FTP (and two SSH) captures are from different labs: one per fold, each with a
    # sibling to learn from; the lone scans have none
    assert families["FTP-Patator"]["ceiling"] == families["SSH-Patator"]["ceiling"] == 2
    assert families["PortScan"]["ceiling"] == families["ServiceScan"]["ceiling"] == 0
    # the counting rules catch zeek's FTP guessing (20+ rejected logins), scored beside
    assert families["FTP-Patator"]["rules_detected"] >= 1
    # every capture is listed once, with its fold and what its fold's model called it
    listed = {c["capture"]: c for c in kfold["captures"]}
    assert sorted(listed) == sorted(KFOLD_ATTACKS)
    assert {c["fold"] for c in listed.values()} == {0, 1}
    assert all(c["verdicts"] for c in listed.values() if c["detected"])
    assert sum(c["any_alert"] for c in listed.values()) == sum(
        bool(c["verdicts"]) for c in listed.values())
    # both folds' models ran the held-out benign captures; each alert is listed
    summary = kfold["summary"]
    assert summary["benign_captures"] == len(benign) == 2
    assert summary["benign_with_any_alert"] == len(kfold["benign_alerts"]) / (2 * 2)
    assert all(a["verdicts"] and a["fold"] in (0, 1) for a in kfold["benign_alerts"])
    points = kfold["operating_points"]
    assert points[0]["attacks_fitting"] <= summary["detected"] and points[0]["benign"] == 4
    fitting = [p["attacks_fitting"] for p in points]  # a stricter minimum never finds more
    assert fitting == sorted(fitting, reverse=True)
    folds = sorted((tmp_path / "run" / "evaluation" / "folds").iterdir())
    assert [f.name for f in folds] == ["fold-0", "fold-1"]
    assert all(TrafficModel(f).labels for f in folds)  # each fold's model is a real model
    card = (tmp_path / "run" / "model" / "README.md").read_text(encoding="utf-8")
    assert card.index("2-fold (each tested by a model that never saw it)") < card.index(
        "- benign captures with any alert: ") < card.index("## Split")
    # its one line starts with what the model never saw: the folds, then the testbed alone
    line = next(row for row in card.splitlines() if row.startswith("In one line: "))
    assert line.index("Each real attack capture tested by a model that never saw it: ") < \
        line.index("Trained on the testbed alone, ") < line.index("on the held-out test split")
    # sim-to-real: the folders' classes alone, judged on every corpus attack capture
    sim = results["sim_to_real"]
    assert sim["corpus_attack_flows_left_out"] > 0
    assert sim["summary"]["attack_captures"] == len(KFOLD_ATTACKS)
    assert TrafficModel(tmp_path / "run" / "evaluation" / "sim-to-real").labels
    assert card.index("## Sim-to-real") < card.index("## Split")


@pytest.mark.slow
def test_interrupted_pretraining_resumes_from_its_checkpoint(manifest, tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, manifest, steps=20))
    pretrain(recipe, say=lambda m: None)
    recipe.pretrain.steps = 30  # as if the first run had been stopped at step 20
    messages = []
    pretrain(recipe, say=messages.append)
    assert any("resuming pretraining at step 20" in m for m in messages)
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "run" / "pretrain" / "loss.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]
    # another tokenizer reads the flows differently: its checkpoint is not this training's
    recipe.tokenizer.query_window = 8
    messages.clear()
    pretrain(recipe, say=messages.append)
    assert not any("resuming" in m for m in messages)
    assert any("pretraining afresh" in m for m in messages)
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "run" / "pretrain" / "loss.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]
    assert (tmp_path / "run" / "pretrain" / "previous" / "checkpoint" / "state.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (
    REPO / ".venv" / "bin" / "torchrun").exists(), reason="torchrun is not installed")
def test_two_process_torchrun_on_cpu(manifest, tmp_path):
    recipe = write_recipe(tmp_path, manifest, steps=10)
    torchrun = shutil.which("torchrun") or str(REPO / ".venv" / "bin" / "torchrun")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([torchrun, "--nproc_per_node=2", "--master_port=29561", "-m",
                           "trafficlm.cli", "train", "pretrain", "--config", str(recipe)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in
           (tmp_path / "run" / "pretrain" / "loss.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 10 and log[-1]["processes"] == 2
    assert (tmp_path / "run" / "pretrain" / "model" / "model.safetensors").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("[pretrain]\nstepz = 3\n", "unknown key 'stepz' in [pretrain]"),
    ("[pretrain]\nsteps = 'many'\n", "pretrain.steps must be int"),
    ("colour = 'blue'\n", "unknown key 'colour'"),
    ("[finetune]\nmode = 'full'\n", "finetune.mode must be 'lora' or 'probe'"),
    # values that passed once and broke later, many only after pretraining had run
    ("[model]\nnum_attention_heads = 0\n", "model.num_attention_heads must be from 1 to 64"),
    ("[data]\ntestbed = [true]\n", "data.testbed[0] must be str, not True"),
    ("[pretrain]\nbatch_size = 0\n", "pretrain.batch_size must be from 1"),
    ("[pretrain]\nbatch_size = -4\n", "pretrain.batch_size must be from 1"),
    ("[pretrain]\nmask_probability = 2.0\n", "pretrain.mask_probability must be above 0 and"),
    ("[finetune]\nepochs = 0\n", "finetune.epochs must be from 1"),
    ("[finetune]\nlora_r = 0\n", "finetune.lora_r must be from 1"),
    ("[finetune]\nopen_set_fpr = 2.0\n", "finetune.open_set_fpr must be above 0"),
    ("[finetune]\npatience = -1\n", "finetune.patience must be from 1"),
    ("[model]\ndropout = 2.0\n", "model.dropout must be from 0 to 0.9"),
    ("[data]\nmax_flows_per_capture = 0\n", "data.max_flows_per_capture must be from 1"),
    ("[evaluate]\nfprs = [5.0, -1.0]\n", "evaluate.fprs must be above 0"),
    ("[pretrain]\nlearning_rate = nan\n", "pretrain.learning_rate must be a finite number"),
])
def test_bad_recipes_name_the_key_and_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_recipe(path)
    assert str(path) in str(err.value)


def test_model_directories_that_cannot_be_used(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        TrafficModel(tmp_path / "nope")
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="pickled weights"):
        TrafficModel(tmp_path / "pickled")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"missing config\.json"):
        TrafficModel(tmp_path / "empty")


def test_finetune_without_pretraining_says_what_to_run(manifest, tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, manifest))
    with pytest.raises(ConfigError, match=re.escape("run 'trafficlm train pretrain")):
        finetune_job(recipe, say=lambda m: None)


def test_train_command_reports_bad_config_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[data]\nfolders = 3\n")
    proc = subprocess.run([sys.executable, "-m", "trafficlm.cli", "train", "pretrain",
                           "--config", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"trafficlm: error: {path}: data.folders must be list, not 3"


def test_report_names_absent_and_small_classes():
    scores = {"macro_f1": 0.9, "detection": [{"fpr": 0.01, "detection_rate": 0.5}],
              "per_class": {label: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
                            for label in ("BENIGN", "PortScan")}}
    results = {"split": {"test": {"flows": 6, "captures": 1, "groups": 1}},
               "labels": ["BENIGN", "DoS Syn Flood", "PortScan"], "model": scores,
               "open_set": {"attack_flows_alerted": 1.0, "benign_flows_alerted": 0.0,
                            "flagged_unlike_training": 0.0}}
    text = markdown(results)
    assert "over the 2 classes the test split holds" in text
    assert "No test flow of: DoS Syn Flood" in text
    assert "Fewer than 20 test flows: BENIGN (3), PortScan (3). One flow is 33.3% of BENIGN" in text
    results["labels"].remove("DoS Syn Flood")
    assert "No test flow of" not in markdown(results)

    # held-out captures scored by a model that read corpus attack flows are no sim-to-real
    # table, even while the k-fold that says it read them is still to run
    summary = {"attacks_with_fitting_alert": 0.5, "attack_captures": 2, "staged_captures": 2,
               "staged_with_fitting_alert": 0.5, "attacks_with_any_alert": 0.5,
               "benign_with_any_alert": 0.0, "benign_captures": 1, "attack_labels": 1,
               "single_capture_labels": 0}
    results["corpus_detection"] = {"summary": summary, "per_label": {}, "captures": []}
    assert "- sim-to-real: of the 2" in markdown(results)
    results["pending"] = ["corpus_kfold"]
    assert "- sim-to-real" not in markdown(results)
    assert "- families the testbed stages: of the 2" in markdown(results)


def test_report_lists_the_benign_captures_that_alerted_with_their_verdicts():
    from trafficlm.training.report import _corpus_lines

    summary = {"attacks_with_fitting_alert": 0.5, "attack_captures": 2,
               "attacks_with_any_alert": 0.5, "benign_with_any_alert": 0.5, "benign_captures": 2,
               "attack_labels": 1, "single_capture_labels": 0}
    rows = [("a.pcap", "dns_tunnel", False, ["DNS Tunnel"]), ("b.pcap", "benign", True, []),
            ("wiki.pcap", "benign", True, ["DNS Tunnel", "PortScan"])]
    corpus = {"summary": summary, "per_label": {}, "captures": [
        {"capture": c, "label": label, "benign": benign, "verdicts": v, "rules": []}
        for c, label, benign, v in rows]}
    listed = [line for line in _corpus_lines(corpus, "## t", False) if line.startswith("- `")]
    assert listed == ["- `wiki.pcap`: DNS Tunnel, PortScan"]


def test_the_audit_shuffles_one_field_across_flows_and_nothing_else():
    from trafficlm.tokenizer import vocab as V
    from trafficlm.training.audit import shuffled

    vocab = V.Vocabulary(context=True)
    ttl, window = vocab["ttl"], vocab["tcp_window"]
    rng = np.random.default_rng(0)
    ids = np.where(rng.random((50, 30)) < 0.5, ttl.base + rng.integers(0, ttl.size, (50, 30)),
                   window.base + rng.integers(0, window.size, (50, 30)))
    out = shuffled(ids, vocab, ["ttl"], rng)
    in_ttl = (ids >= ttl.base) & (ids < ttl.base + ttl.size)
    assert (out[~in_ttl] == ids[~in_ttl]).all()  # other fields stay where they were
    assert sorted(out[in_ttl]) == sorted(ids[in_ttl])  # the field's mix is kept ...
    assert (out[in_ttl] != ids[in_ttl]).mean() > 0.5  # ... and what it said per flow is gone
    both = shuffled(ids, vocab, ["ttl", "tcp_window"], rng)  # the audit's network-fields row
    assert ((both >= ttl.base) & (both < ttl.base + ttl.size) == in_ttl).all()
    assert (both[~in_ttl] != ids[~in_ttl]).mean() > 0.5 and sorted(both[~in_ttl]) == sorted(
        ids[~in_ttl])


def test_a_table_measured_alone_stands_only_while_its_inputs_stay_the_same(tmp_path):
    from trafficlm.training.config import Recipe
    from trafficlm.training.datasets.flowset import FlowSet
    from trafficlm.training.stage_inputs import inputs_digest, measured_alone

    n = 6
    flows = FlowSet(ids=np.arange(n * 4, dtype=np.int32).reshape(n, 4),
                    labels=np.full(n, "BENIGN", dtype=object),
                    capture=np.full(n, "a.pcap", dtype=object),
                    group=np.full(n, "run1", dtype=object), start_ns=np.arange(n),
                    sequence_features=np.zeros((n, 1), np.float32),
                    flow_features=np.zeros((n, 1), np.float32),
                    path_rtt_ms=np.zeros(n, np.float32))
    recipe = Recipe(output=str(tmp_path))
    encoder = tmp_path / "pretrain" / "model"
    encoder.mkdir(parents=True)
    (encoder / "model.safetensors").write_bytes(b"weights one")
    digest = inputs_digest(recipe, flows)
    only = tmp_path / "only"
    only.mkdir()
    for name in ("sim_to_real", "probe"):
        (only / f"{name}.json").write_text(json.dumps({"summary": {"x": 1}, "inputs": digest}))
    assert measured_alone(only, "sim_to_real", digest)["summary"] == {"x": 1}
    assert measured_alone(only, "probe", digest) is None  # it reads the fine-tuned model
    assert measured_alone(only, "corpus_kfold", digest) is None  # never measured alone
    relabelled = flows.select(np.arange(n))
    relabelled.labels[0] = "PortScan"
    reseeded = Recipe(output=str(tmp_path), seed=recipe.seed + 1)
    changed = {inputs_digest(reseeded, flows), inputs_digest(recipe, relabelled)}
    (encoder / "model.safetensors").write_bytes(b"weights two")
    changed.add(inputs_digest(recipe, flows))
    assert len(changed) == 3 and digest not in changed


def test_unseen_conditions_train_on_fast_paths_and_test_on_slow_ones_and_unseen_programs(
        tmp_path):
    from trafficlm.training.config import Recipe
    from trafficlm.training.datasets.flowset import FlowSet
    from trafficlm.training.split import split_by_group
    from trafficlm.training.unseen_conditions import condition_split

    programs = {"run1": "nginx", "run2": "lighttpd", "run3": "apache2", "run4": "nginx"}
    for run, program in programs.items():
        (tmp_path / run).mkdir()
        (tmp_path / run / "manifest.json").write_text(json.dumps(
            {"conditions": {"services": {"http": {"program": program}}}}))
    groups = np.array([g for g in (*programs, "corpus-0") for _ in range(4)], dtype=object)
    rtt = np.array([*[10, 50, 150, 300] * 4, *[np.nan] * 4], np.float32)
    n = len(groups)
    flows = FlowSet(ids=np.zeros((n, 4), np.int32), labels=np.full(n, "BENIGN", dtype=object),
                    capture=groups.copy(), group=groups, start_ns=np.arange(n),
                    sequence_features=np.zeros((n, 1), np.float32),
                    flow_features=np.zeros((n, 1), np.float32), path_rtt_ms=rtt)
    recipe = Recipe()
    recipe.data.testbed = [str(tmp_path / run) for run in programs]
    recipe.evaluate.unseen_programs = ["lighttpd"]
    parts = condition_split(recipe, flows, split_by_group(flows, ["run3"], ["run4"]))

    def rows(part):
        return sorted(zip(part.group.tolist(), part.path_rtt_ms.tolist(), strict=True))

    assert {(g, r) for g, r in rows(parts.train) if g != "corpus-0"} == {("run1", 10),
                                                                         ("run1", 50)}
    assert sum(g == "corpus-0" for g, _ in rows(parts.train)) == 4  # corpus benign trains
    assert rows(parts.validation) == [("run3", 10), ("run3", 50)]
    assert rows(parts.test) == [("run2", 10), ("run2", 50), ("run2", 150), ("run2", 300),
                                ("run4", 300)]  # 150 ms is neither seen nor unseen


def test_a_minimum_session_score_is_replayed_on_the_recorded_sessions():
    """Each capture keeps its verdicts' surest session scores; a stricter minimum drops the
    verdicts below it, so an unsure false alarm goes and a sure detection stays."""
    from trafficlm.training.operating_points import operating_points
    from trafficlm.training.report import _operating_point_lines

    def tunnel(verdicts: set[str]) -> bool:
        return "DNS Tunnel" in verdicts

    attacks = [({"DNS Tunnel": 0.999}, tunnel), ({"DNS Tunnel": 0.95, "PortScan": 0.9995},
                                                 tunnel), ({}, tunnel)]
    benign = [{"PortScan": 0.6}, {"DNS Tunnel": 0.995}]
    points = {p["min_session_score"]: p for p in operating_points(attacks, benign, 10)}
    assert [(p["attacks_fitting"], p["benign_alerting"]) for p in points.values()] == [
        (2, 2), (2, 1), (1, 1), (1, 0)]
    assert points[0.99]["benign_share"] == 0.1 and points[0.5]["attacks"] == 3
    lines = _operating_point_lines(list(points.values()))
    assert "| 0.9 | 2 of 3 | 1 of 10 (10.0%) |" in lines
