"""Training recipes as TOML, checked key by key.

Every section and key a recipe may hold is declared here with its type and
default; an unknown key or a value of the wrong type is an error that names
the key and the file, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trafficlm.settings import ConfigError, bounded, check_ranges, fill, read_toml, typed

__all__ = ["ConfigError", "Recipe", "load_recipe", "require_validation"]


@dataclass
class ModelSection:
    hidden_size: int = bounded(128, 1, 4096)
    num_hidden_layers: int = bounded(2, 1, 48)
    num_attention_heads: int = bounded(4, 1, 64)
    intermediate_size: int = bounded(256, 1, 16_384)
    dropout: float = bounded(0.1, 0, 0.9)


@dataclass
class TokenizerSection:
    packets: int = bounded(8, 1, 64)
    payload_bytes: int = bounded(48, 0, 1500)
    max_length: int = bounded(256, 1, 8192)
    context: bool = False  # session-context tokens (trafficlm/flows/context.py)
    query_window: int = bounded(0, 0, 1499)  # an HTTP request's head, then its query (0: off)


@dataclass
class DataSection:
    testbed: list[str] = field(default_factory=list)  # testbed output directories
    folders: list[str] = field(default_factory=list)  # ROOT/<label>/*.pcap trees
    unlabelled: list[str] = field(default_factory=list)  # captures/dirs for pretraining only
    cicids: list[str] = field(default_factory=list)  # "DAY.csv=DAY.pcap" pairs
    manifest: str = ""  # a MANIFEST.tsv (path, label per capture); its benign captures
    manifest_benign: list[str] = field(default_factory=lambda: ["benign"])  # ... have these
    manifest_groups: int = bounded(4, 1, 1000)  # its captures spread over corpus-0 .. corpus-<n-1>
    # the manifest's attack captures too, labelled flow by flow (datasets/corpus_labels.toml)
    corpus_attacks: bool = False
    max_flows_per_capture: int = bounded(5000, 1, 10_000_000)
    # unlabelled flows pretraining reads per capture (0: as many as max_flows_per_capture);
    # pretraining needs no class balance, so it can read far more of each capture
    pretrain_flows_per_capture: int = bounded(0, 0, 10_000_000)
    # labelled flows per label per corpus attack capture (0: max_flows_per_capture); a few
    # captures hold thousands of one flood or tunnel, and a family is learnt from many
    # captures, not from many flows of one
    corpus_flows_per_capture: int = bounded(0, 0, 10_000_000)
    test_groups: list[str] = field(default_factory=list)  # groups (e.g. testbed runs) held out
    validation_groups: list[str] = field(default_factory=list)
    attempted_as: str = "benign"  # CIC "- Attempted" labels: "benign" or "own"

    @property
    def pretrain_cap(self) -> int:
        """Unlabelled flows pretraining reads per capture, the 0 default resolved."""
        return self.pretrain_flows_per_capture or self.max_flows_per_capture

    @property
    def corpus_cap(self) -> int:
        """Labelled flows per label per corpus attack capture, the 0 default resolved."""
        return self.corpus_flows_per_capture or self.max_flows_per_capture


@dataclass
class PretrainSection:
    steps: int = bounded(1000, 1, 10_000_000)
    batch_size: int = bounded(32, 1, 65_536)
    learning_rate: float = bounded(5e-4, 0, 1, above=True)
    mask_probability: float = bounded(0.15, 0, 1, above=True)
    checkpoint_every: int = bounded(200, 1, 10_000_000)
    log_every: int = bounded(20, 1, 10_000_000)


@dataclass
class FinetuneSection:
    mode: str = "lora"  # "lora" or "probe" (frozen encoder, linear head)
    epochs: int = bounded(10, 1, 10_000)
    batch_size: int = bounded(32, 1, 65_536)
    learning_rate: float = bounded(2e-3, 0, 1, above=True)
    lora_r: int = bounded(8, 1, 1024)
    lora_alpha: int = bounded(16, 1, 100_000)
    # BERT's attention projections ("query", "key", "value") and its dense layers ("dense")
    lora_targets: list[str] = field(default_factory=lambda: ["query", "value"])
    patience: int = bounded(3, 1, 10_000)  # epochs without a better validation macro-F1
    class_weights: str = "sqrt"  # "sqrt" (1/sqrt(count)) or "inverse" (1/count)
    open_set_fpr: float = bounded(0.01, 0, 0.5, above=True)
    # share of training rows varied in timing, TTL and window each batch
    # (training/conditions_variation.py); 0: rows as captured
    vary_conditions: float = bounded(0.0, 0, 1)


@dataclass
class EvaluateSection:
    fprs: list[float] = bounded(default_factory=lambda: [0.01, 0.001], low=0, high=0.5,
                                above=True)
    probe_epochs: int = bounded(5, 1, 10_000)  # the frozen-encoder linear probe
    leave_one_out: bool = True  # retrain without each attack class, test on it
    leave_one_out_epochs: int = bounded(4, 1, 10_000)
    knn_neighbours: int = bounded(5, 1, 1000)
    forest_trees: int = bounded(200, 1, 10_000)
    # with data.corpus_attacks: whole attack captures, each tested by a model fine-tuned
    # without its fold (training/corpus_kfold.py)
    corpus_folds: int = bounded(4, 2, 50)
    fold_epochs: int = bounded(3, 1, 10_000)
    # unseen conditions (training/unseen_conditions.py), with testbed runs: runs drawing one
    # of these programs and paths this slow are test only; empty: not evaluated
    unseen_programs: list[str] = field(default_factory=list)
    seen_rtt_ms: float = bounded(100.0, 0, 100_000, above=True)
    unseen_rtt_ms: float = bounded(200.0, 0, 100_000, above=True)
    unseen_epochs: int = bounded(3, 1, 10_000)
    # more fine-tuning seeds for the held-out macro-F1's mean and spread (the recipe's own
    # seed is the first); empty: the shipped model's alone
    finetune_seeds: list[int] = field(default_factory=list)


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
    for name in SECTIONS:
        check_ranges(path, getattr(recipe, name), name)
    if recipe.finetune.mode not in ("lora", "probe"):
        raise ConfigError(f"{path}: finetune.mode must be 'lora' or 'probe', "
                          f"not {recipe.finetune.mode!r}")
    if recipe.finetune.class_weights not in ("sqrt", "inverse"):
        raise ConfigError(f"{path}: finetune.class_weights must be 'sqrt' or 'inverse'")
    if recipe.data.attempted_as not in ("benign", "own"):
        raise ConfigError(f"{path}: data.attempted_as must be 'benign' or 'own'")
    if recipe.data.corpus_attacks and not recipe.data.manifest:
        raise ConfigError(f"{path}: data.corpus_attacks needs data.manifest (the corpus's "
                          "MANIFEST.tsv)")
    if recipe.evaluate.seen_rtt_ms > recipe.evaluate.unseen_rtt_ms:
        raise ConfigError(f"{path}: evaluate.seen_rtt_ms must not exceed unseen_rtt_ms")
    if recipe.model.hidden_size % recipe.model.num_attention_heads:
        raise ConfigError(f"{path}: model.hidden_size must divide by num_attention_heads")


def require_validation(recipe: Recipe) -> None:
    """Fine-tuning stops on validation macro-F1 and calibrates on its benign flows: a
    recipe without validation groups fails here, before any pretraining is spent on it."""
    if not recipe.data.validation_groups:
        raise ConfigError(f"{recipe.source}: data.validation_groups names no group; "
                          "fine-tuning and evaluation need one")
