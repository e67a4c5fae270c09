"""What a model directory must hold before any weight is loaded, each fault in one line.

A directory that loads is not a directory that works: weights without the
classifier head get a random one (and confident nonsense), NaN weights
alert on nothing, a config that claims 100,000 layers allocates them before
any weight is read, and a tokenizer or calibration that does not fit the
encoder fails only at the first flow, in a traceback. Everything here is
read from JSON and from safetensors headers (no tensor data), so the checks
cost milliseconds and bound what loading will allocate by what the file holds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trafficlm.errors import TrafficLMError

if TYPE_CHECKING:
    import numpy as np

# the model that ships inside the package; here, not in ``model``, so the commands that only
# name it (triage's and the sensor's defaults) do not import torch to print --help
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"
# the two verdicts every model knows, here for the same reason: sessions are built from
# scored flows by processes that never load a model (a Ray driver)
BENIGN = "BENIGN"
# the verdict of a flow the model calls benign but finds unlike anything in training
UNKNOWN = "Unknown (unlike training)"
# config.json keys the encoder is built from, and the sizes no model of ours comes near
SIZES = {"hidden_size": 8192, "num_hidden_layers": 96, "num_attention_heads": 128,
         "intermediate_size": 65_536, "max_position_embeddings": 65_536,
         "vocab_size": 1_000_000, "type_vocab_size": 16}
LAYER = re.compile(r"\.layer\.(\d+)\.")
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
POSITION_EMBEDDINGS = "bert.embeddings.position_embeddings.weight"
HEAD = ("classifier.weight", "classifier.bias")


class ModelError(TrafficLMError):
    """A model directory that cannot be used."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelError(f"{path}: not readable JSON: {err}") from None


def check_config(directory: Path) -> dict:
    """config.json's encoder sizes: positive integers, in range, heads dividing width."""
    config = read_json(directory / "config.json")
    if not isinstance(config, dict):
        raise ModelError(f"{directory / 'config.json'}: must be a JSON object")
    for key, most in SIZES.items():
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
            raise ModelError(f"{directory / 'config.json'}: {key} must be an integer from 1 "
                             f"to {most:,}, not {value!r}")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ModelError(f"{directory / 'config.json'}: hidden_size {config['hidden_size']} "
                         f"does not divide by num_attention_heads "
                         f"{config['num_attention_heads']}")
    return config


def check_weights(directory: Path, config: dict) -> None:
    """The safetensors header holds every layer the config names and the classifier head,
    with the config's shapes (read from the header alone)."""
    from safetensors import safe_open

    path = directory / "model.safetensors"
    try:
        with safe_open(str(path), "np") as weights:
            names = weights.keys()  # safe_open is not iterable
            shapes = {key: tuple(weights.get_slice(key).get_shape()) for key in names}
    except Exception as err:  # safetensors raises its own errors besides OSError
        raise ModelError(f"{path}: not a readable safetensors file: {err}") from None
    layers = {int(m.group(1)) for key in shapes if (m := LAYER.search(key))}
    if len(layers) != config["num_hidden_layers"] or layers != set(range(len(layers))):
        raise ModelError(f"{path}: holds {len(layers)} encoder layer(s) but config.json "
                         f"says {config['num_hidden_layers']}")
    missing = [key for key in (WORD_EMBEDDINGS, POSITION_EMBEDDINGS, *HEAD) if key not in shapes]
    if missing:
        raise ModelError(f"{path}: missing {', '.join(missing)} (a model without its "
                         "classifier head would score with a random one)")
    expected = {WORD_EMBEDDINGS: (config["vocab_size"], config["hidden_size"]),
                POSITION_EMBEDDINGS: (config["max_position_embeddings"], config["hidden_size"])}
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise ModelError(f"{path}: {key} has shape {shapes[key]}, config.json implies "
                             f"{shape}")


def check_labels(directory: Path, benign: str) -> list[str]:
    path = directory / "labels.json"
    labels = read_json(path)
    if (not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels)
            or benign not in labels):
        raise ModelError(f"{path}: must list the classes as names, {benign} among them")
    if len(set(labels)) != len(labels):
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        raise ModelError(f"{path}: lists {', '.join(repeated)} more than once")
    return labels


def check_calibration(directory: Path, means: np.ndarray, precision: np.ndarray,
                      hidden: int, meta: Any) -> tuple[float, float]:
    """(threshold, fpr) once the calibration fits the encoder and holds numbers."""
    import numpy as np  # here: the command line names the bundled model on every start

    where = directory / "calibration.safetensors"
    if means.ndim != 2 or means.shape[1] != hidden or precision.shape != (hidden, hidden):
        raise ModelError(f"{where}: shapes {means.shape} and {precision.shape} do not fit an "
                         f"encoder of width {hidden}")
    if not (np.isfinite(means).all() and np.isfinite(precision).all()):
        raise ModelError(f"{where}: holds NaN or infinite values")
    try:
        threshold, fpr = float(meta["threshold"]), float(meta["fpr"])
    except (TypeError, KeyError, ValueError) as err:
        raise ModelError(f"{directory / 'calibration.json'}: needs numeric threshold and "
                         f"fpr ({err!r})") from None
    if not (np.isfinite(threshold) and 0 < fpr < 1):
        raise ModelError(f"{directory / 'calibration.json'}: threshold {threshold} or fpr "
                         f"{fpr} is out of range")
    return threshold, fpr


def check_finite(directory: Path, model) -> None:
    """Every parameter a number: NaN weights make every probability NaN, and NaN is never
    above a threshold, so such a model would alert on nothing, silently."""
    import torch

    for name, parameter in model.named_parameters():
        if not torch.isfinite(parameter).all():
            raise ModelError(f"{directory / 'model.safetensors'}: {name} holds NaN or "
                             "infinite values")
