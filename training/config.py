"""Training recipes as TOML, checked key by key.

Every section and key a recipe may hold is declared here with its type and
default; an unknown key or a value of the wrong type is an error that names
the key and the file, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trafficlm.settings import ConfigError, fill, read_toml, typed

__all__ = ["ConfigError", "Recipe", "load_recipe"]


@dataclass
class ModelSection:
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    dropout: float = 0.1


@dataclass
class TokenizerSection:
    packets: int = 8
    payload_bytes: int = 48
    max_length: int = 256


@dataclass
class DataSection:
    testbed: list[str] = field(default_factory=list)  # testbed output directories
    folders: list[str] = field(default_factory=list)  # ROOT/<label>/*.pcap trees
    unlabelled: list[str] = field(default_factory=list)  # captures/dirs for pretraining only
    cicids: list[str] = field(default_factory=list)  # "DAY.csv=DAY.pcap" pairs
    manifest: str = ""  # a MANIFEST.tsv (path, label per capture); its benign captures
    manifest_benign: list[str] = field(default_factory=lambda: ["benign"])  # ... have these
    manifest_groups: int = 4  # its captures spread over corpus-0 .. corpus-<n-1>
    max_flows_per_capture: int = 5000
    test_groups: list[str] = field(default_factory=list)  # groups (e.g. testbed runs) held out
    validation_groups: list[str] = field(default_factory=list)
    attempted_as: str = "benign"  # CIC "- Attempted" labels: "benign" or "own"


@dataclass
class PretrainSection:
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 5e-4
    mask_probability: float = 0.15
    checkpoint_every: int = 200
    log_every: int = 20


@dataclass
class FinetuneSection:
    mode: str = "lora"  # "lora" or "probe" (frozen encoder, linear head)
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    lora_r: int = 8
    lora_alpha: int = 16
    # BERT's attention projections ("query", "key", "value") and its dense layers ("dense")
    lora_targets: list[str] = field(default_factory=lambda: ["query", "value"])
    patience: int = 3  # epochs without a better validation macro-F1
    class_weights: str = "sqrt"  # "sqrt" (1/sqrt(count)) or "inverse" (1/count)
    open_set_fpr: float = 0.01


@dataclass
class EvaluateSection:
    fprs: list[float] = field(default_factory=lambda: [0.01, 0.001])
    probe_epochs: int = 5  # the frozen-encoder linear probe
    leave_one_out: bool = True  # retrain without each attack class, test on it
    leave_one_out_epochs: int = 4
    knn_neighbours: int = 5
    forest_trees: int = 200


@dataclass
class Recipe:
    """A whole training recipe; ``source`` is the file it came from."""

    source: str = "<defaults>"
    output: str = "runs/model"
    seed: int = 0
    model_config: str = ""  # a configs/model/*.toml to take [model] and [tokenizer] from
    model: ModelSection = field(default_factory=ModelSection)
    tokenizer: TokenizerSection = field(default_factory=TokenizerSection)
    data: DataSection = field(default_factory=DataSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)


SECTIONS = {"model": ModelSection, "tokenizer": TokenizerSection, "data": DataSection,
            "pretrain": PretrainSection, "finetune": FinetuneSection,
            "evaluate": EvaluateSection}
TOP_LEVEL = {"output": str, "seed": int, "model_config": str}


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe; relative paths inside it are taken from the working directory
    (run recipes from the repository root, as the committed ones expect)."""
    path = Path(path)
    document = read_toml(path)
    recipe = Recipe(source=str(path))
    if "model_config" in document:
        model_path = _resolve(typed(path, "model_config", document["model_config"], str))
        model_doc = read_toml(Path(model_path))
        for name in ("model", "tokenizer"):
            if name in model_doc:
                fill(Path(model_path), name, getattr(recipe, name), model_doc[name])
    for key, value in document.items():
        if key in TOP_LEVEL:
            setattr(recipe, key, typed(path, key, value, TOP_LEVEL[key]))
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{key}] must be a table")
            fill(path, key, getattr(recipe, key), value)
        else:
            raise ConfigError(f"{path}: unknown key {key!r} (known: "
                              f"{', '.join([*TOP_LEVEL, *SECTIONS])})")
    recipe.output = _resolve(recipe.output)
    recipe.data.testbed = [_resolve(p) for p in recipe.data.testbed]
    recipe.data.folders = [_resolve(p) for p in recipe.data.folders]
    recipe.data.unlabelled = [_resolve(p) for p in recipe.data.unlabelled]
    recipe.data.manifest = _resolve(recipe.data.manifest) if recipe.data.manifest else ""
    for pair in recipe.data.cicids:
        if pair.count("=") != 1:
            raise ConfigError(f"{path}: data.cicids entries are 'DAY.csv=DAY.pcap', "
                              f"not {pair!r}")
    _check(recipe, path)
    return recipe


def _resolve(value: str) -> str:
    return str(Path(value).resolve())


def _check(recipe: Recipe, path: Path) -> None:
    if recipe.finetune.mode not in ("lora", "probe"):
        raise ConfigError(f"{path}: finetune.mode must be 'lora' or 'probe', "
                          f"not {recipe.finetune.mode!r}")
    if recipe.finetune.class_weights not in ("sqrt", "inverse"):
        raise ConfigError(f"{path}: finetune.class_weights must be 'sqrt' or 'inverse'")
    if recipe.data.attempted_as not in ("benign", "own"):
        raise ConfigError(f"{path}: data.attempted_as must be 'benign' or 'own'")
    if recipe.data.manifest_groups < 1:
        raise ConfigError(f"{path}: data.manifest_groups must be at least 1")
    if recipe.model.hidden_size % recipe.model.num_attention_heads:
        raise ConfigError(f"{path}: model.hidden_size must divide by num_attention_heads")
    for name in ("steps", "batch_size"):
        if getattr(recipe.pretrain, name) <= 0:
            raise ConfigError(f"{path}: pretrain.{name} must be positive")
