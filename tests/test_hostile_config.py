"""Model directories that load but are wrong, recipes and flags that pass but break later:
each refused before any work, in one line naming the file and the key."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from trafficlm.model import DEFAULT_MODEL_DIR, ModelError, TrafficModel
from trafficlm.training.config import ConfigError, load_recipe
from trafficlm.training.jobs import all_jobs

from conftest import REPO

DEMO = str(REPO / "pcaps" / "testbed-mixed.pcap")


@pytest.fixture
def model_copy(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    return copy


def edit_json(path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def edit_weights(path, change) -> None:
    tensors = load_file(str(path))
    save_file(change(tensors), str(path), metadata={"format": "pt"})


def without_head(tensors):
    return {k: v for k, v in tensors.items() if not k.startswith("classifier")}


def all_nan(tensors):
    return {k: torch.full_like(v, float("nan")) for k, v in tensors.items()}


def config_set(key, value):
    return lambda c: c.__setitem__(key, value)


MODEL_FAULTS = [
    ("model.safetensors", lambda p: edit_weights(p, without_head), "missing classifier.weight"),
    ("model.safetensors", lambda p: edit_weights(p, all_nan), "holds NaN or infinite values"),
    ("model.safetensors", lambda p: p.write_bytes(b"\x08\0\0\0\0\0\0\0{}{}"),
     "not a readable safetensors file"),
    ("labels.json", lambda p: p.write_text(json.dumps([0, 1, "BENIGN"])), "as names"),
    ("labels.json", lambda p: edit_json(p, lambda d: d.__setitem__(1, d[0])),
     "lists BENIGN more than once"),
    ("config.json", lambda p: edit_json(p, config_set("num_hidden_layers", 100_000)),
     "num_hidden_layers must be an integer from 1 to 96"),
    ("config.json", lambda p: edit_json(p, config_set("num_hidden_layers", 3)),
     "holds 2 encoder layer(s) but config.json says 3"),
    ("config.json", lambda p: edit_json(p, config_set("hidden_size", "128")),
     "hidden_size must be an integer"),
    ("config.json", lambda p: edit_json(p, config_set("hidden_act", 5)),
     "cannot load the model"),
    ("config.json", lambda p: p.write_text("{not json"), "not readable JSON"),
    ("tokenizer_config.json", lambda p: edit_json(p, config_set("max_length", 512)),
     "makes up to 512 tokens but the encoder has 256 positions"),
    ("tokenizer_config.json", lambda p: edit_json(p, config_set("format_version", "2")),
     "tokenizer format '2'"),
    ("calibration.safetensors",
     lambda p: edit_weights(p, lambda t: {**t, "means": t["means"][:, :64].contiguous()}),
     "do not fit an encoder of width 128"),
    ("calibration.safetensors", lambda p: p.write_bytes(b"junk"), "not a readable calibration"),
    ("calibration.json", lambda p: p.write_text("{"), "not readable JSON"),
    ("calibration.json", lambda p: edit_json(p, config_set("fpr", "often")),
     "needs numeric threshold and fpr"),
]


@pytest.mark.parametrize(("name", "damage", "message"), MODEL_FAULTS,
                         ids=[f"{f[0]}-{f[2][:30]}" for f in MODEL_FAULTS])
def test_a_wrong_model_directory_is_refused_in_one_line(model_copy, name, damage, message):
    damage(model_copy / name)
    with pytest.raises(ModelError, match=re.escape(message)):
        TrafficModel(model_copy)


def test_triage_with_a_headless_model_exits_1_before_reading(model_copy):
    edit_weights(model_copy / "model.safetensors", without_head)
    proc = subprocess.run([sys.executable, "-m", "trafficlm.cli", "triage", "--model",
                           str(model_copy), DEMO], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "classifier" in proc.stderr


def test_unreadable_recipes_are_one_line(tmp_path):
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b"output = '\xe9'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_recipe(binary)
    with pytest.raises(ConfigError, match="is a directory"):
        load_recipe(tmp_path)


def test_no_validation_group_fails_before_pretraining(tmp_path):
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(f'output = "{tmp_path / "out"}"\n[data]\nfolders = ["{tmp_path}"]\n')
    with pytest.raises(ConfigError, match="validation_groups names no group"):
        all_jobs(load_recipe(recipe_file), say=lambda m: None)
    assert not (tmp_path / "out").exists()  # no pretraining was spent


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-flows", "0", "must be from 1"),
    ("--idle-timeout", "-1", "must be above 0"),
    ("--idle-timeout", "nan", "must be a finite number"),
    ("--threshold", "nan", "must be a finite number"),
])
def test_bad_flags_are_usage_errors(flag, value, message):
    command = "triage" if flag == "--threshold" else "flows"
    proc = subprocess.run([sys.executable, "-m", "trafficlm.cli", command, flag, value, DEMO],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"argument {flag}: {message}" in proc.stderr and "Traceback" not in proc.stderr
