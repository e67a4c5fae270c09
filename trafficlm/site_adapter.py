"""A site adapter on disk: a peft LoRA adapter for one base model, with its own calibration.

The directory is peft's layout (``adapter_config.json``,
``adapter_model.safetensors``) plus the open-set calibration fitted on the
site (``calibration.json``, ``calibration.safetensors``), where its verdict applies
(``site_gate.json``, ``site_gate.safetensors``: ``site_gate``), ``adapter.json``
(what it was fitted on, and the base model's hash) and ``ADAPTER.md`` (the
report a person reads). Only safetensors are read; an adapter fitted on
another base model is refused, since its low-rank updates mean nothing there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from trafficlm.model_files import ModelError, read_json
from trafficlm.site_gate import GATE_FILES

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter.json",
                 "calibration.json", "calibration.safetensors", *GATE_FILES)
PICKLED = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (captures can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_hash(model_dir: Path) -> str:
    """SHA-256 of a model's weights file: which base model an adapter belongs to."""
    return file_sha256(Path(model_dir) / "model.safetensors")


def check_adapter(adapter_dir: Path, base_dir: Path) -> dict:
    """adapter.json, once the directory holds every file, nothing pickled, and was fitted
    on this base model."""
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise ModelError(f"{adapter_dir}: no such adapter directory")
    pickled = [p.name for p in adapter_dir.iterdir() if p.suffix in PICKLED]
    if pickled:
        raise ModelError(f"{adapter_dir}: holds pickled weights ({pickled[0]}); TrafficLM only "
                         "reads safetensors")
    for name in ADAPTER_FILES:
        if not (adapter_dir / name).is_file():
            raise ModelError(f"{adapter_dir}: missing {name} (not a site adapter)")
    meta = read_json(adapter_dir / "adapter.json")
    base = meta.get("base_model", {}) if isinstance(meta, dict) else {}
    if base.get("sha256") != weights_hash(base_dir):
        raise ModelError(f"{adapter_dir}: fitted on base model {base.get('name')!r} "
                         f"(weights {str(base.get('sha256'))[:12]}), not on {base_dir} "
                         f"(weights {weights_hash(base_dir)[:12]})")
    return meta


def apply_adapter(classifier, adapter_dir: Path):
    """The classifier with the adapter's low-rank updates merged in (scores as fast as the
    base model)."""
    from peft import PeftModel

    try:
        adapted = PeftModel.from_pretrained(classifier, str(adapter_dir), is_trainable=False)
    except Exception as err:  # peft raises many kinds on a damaged adapter
        raise ModelError(f"{adapter_dir}: cannot load the adapter: "
                         f"{type(err).__name__}: {err}") from None
    return adapted.merge_and_unload().eval()
