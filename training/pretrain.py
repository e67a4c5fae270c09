"""Masked-token pretraining of the traffic encoder, on one CPU or under torchrun (DDP).

Run as ``trafficlm train pretrain --config F``, or unchanged as
``torchrun --nproc_per_node=N -m trafficlm.cli train pretrain --config F``:
each process trains on its own shard, gradients are averaged (gloo on CPU,
nccl on GPU), and rank 0 writes the log, checkpoints and the model.
Checkpoints hold weights and optimizer state as safetensors, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from trafficlm.model import bert_config
from trafficlm.tokenizer import vocab as V
from trafficlm.training.config import Recipe
from trafficlm.training.data import pretraining_ids, recipe_tokenizer
from trafficlm.training.schedule import LinearSchedule

NOT_MASKED = (V.PAD, V.CLS, V.SEP)


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, probability: float,
                vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """BERT masking: of the chosen positions 80% [MASK], 10% a random token, 10% kept."""
    maskable = ~np.isin(ids, NOT_MASKED)
    chosen = maskable & (rng.random(ids.shape) < probability)
    labels = np.where(chosen, ids, -100)
    roll = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (roll < 0.8)] = V.MASK
    random_tokens = rng.integers(len(V.SPECIALS), vocab_size, ids.shape)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_tokens[swap]
    return inputs, labels


class Distributed:
    """Rank and world size from torchrun's environment; a no-op for one process."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def pretrain(recipe: Recipe, say=print) -> Path:
    """Train the encoder with masked-token modelling; return the saved model directory."""
    from transformers import BertForMaskedLM

    cfg = recipe.pretrain
    out = Path(recipe.output) / "pretrain"
    ranks = Distributed()
    quiet = (lambda *a: None) if not ranks.main else say
    tokenizer = recipe_tokenizer(recipe)
    ids = pretraining_ids(recipe, tokenizer, quiet)
    shard = ids[ranks.rank :: ranks.world]
    torch.manual_seed(recipe.seed)  # the same initial weights on every rank
    model = BertForMaskedLM(bert_config(recipe.model, tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    trained_on = _trained_on(recipe, tokenizer, ids)
    step, rng_state = _resume(out, model, optimizer, trained_on, quiet)
    schedule = LinearSchedule(optimizer, cfg.learning_rate, cfg.steps)
    schedule.step_no = step
    rng = np.random.default_rng([recipe.seed, ranks.rank])
    if rng_state:
        rng.bit_generator.state = rng_state
    trainer = model
    if ranks.world > 1:
        trainer = torch.nn.parallel.DistributedDataParallel(model)
    trainer.train()
    started = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=step, disable=not ranks.main, desc="pretrain",
               leave=False)
    while step < cfg.steps:
        batch = shard[rng.integers(0, len(shard), cfg.batch_size)]
        batch = batch[:, : max(1, int((batch != V.PAD).sum(axis=1).max()))]
        inputs, labels = mask_tokens(batch, rng, cfg.mask_probability, tokenizer.vocab_size)
        schedule.step()
        tensor = torch.from_numpy(inputs.astype(np.int64))
        loss = trainer(input_ids=tensor, attention_mask=(tensor != V.PAD).long(),
                       labels=torch.from_numpy(labels.astype(np.int64))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        bar.update(1)
        mean_loss = ranks.mean(float(loss.item()))
        if ranks.main and (step % cfg.log_every == 0 or step == cfg.steps):
            _log(out, {"step": step, "loss": round(mean_loss, 5),
                       "lr": optimizer.param_groups[0]["lr"],
                       "elapsed_s": round(time.monotonic() - started, 2),
                       "processes": ranks.world})
        if ranks.main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            _checkpoint(out / "checkpoint", model, optimizer, step, rng.bit_generator.state,
                        trained_on)
    bar.close()
    if ranks.main:
        model.save_pretrained(out / "model", safe_serialization=True)
        tokenizer.save_pretrained(out / "model")
    ranks.close()
    return out / "model"


def _log(out: Path, record: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "loss.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _trained_on(recipe: Recipe, tokenizer, ids: np.ndarray) -> str:
    """A digest of what pretraining reads (its token rows, tokenizer, model shape and seed):
    a checkpoint resumes only the same training, not an older one left in the directory."""
    digest = hashlib.sha256(json.dumps({"tokenizer": asdict(tokenizer.config),
                                        "model": asdict(recipe.model), "seed": recipe.seed},
                                       sort_keys=True).encode())
    digest.update(np.ascontiguousarray(ids).tobytes())
    return digest.hexdigest()


def _checkpoint(directory: Path, model, optimizer, step: int, rng_state: dict,
                trained_on: str) -> None:
    """Weights and optimizer state as safetensors; written aside, then swapped in."""
    partial = directory.with_name(directory.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(partial / "model", safe_serialization=True)
    tensors, scalars = {}, {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    save_file(tensors, str(partial / "optimizer.safetensors"))
    (partial / "state.json").write_text(json.dumps(
        {"step": step, "rng": rng_state, "scalars": scalars, "trained_on": trained_on}),
        encoding="utf-8")
    if directory.exists():
        _remove(directory)
    partial.rename(directory)


def _remove(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    directory.rmdir()


def _resume(out: Path, model, optimizer, trained_on: str, say) -> tuple[int, dict | None]:
    """(step, generator state) of the checkpoint under ``out`` when it was made by this same
    training; a checkpoint of other flows, tokenizer or model is set aside, with its log."""
    directory = out / "checkpoint"
    if not (directory / "state.json").exists():
        return 0, None
    meta = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    if meta.get("trained_on") != trained_on:
        say(f"{directory}: made from other flows, another tokenizer or model; pretraining "
            f"afresh (the old checkpoint and log moved to {out.name}/previous/)")
        previous = out / "previous"
        if previous.exists():
            _remove(previous)
        previous.mkdir()
        for name in ("checkpoint", "loss.jsonl"):
            if (out / name).exists():
                (out / name).rename(previous / name)
        return 0, None
    from transformers import BertForMaskedLM

    saved = BertForMaskedLM.from_pretrained(directory / "model", use_safetensors=True)
    model.load_state_dict(saved.state_dict())
    tensors = load_file(str(directory / "optimizer.safetensors"))
    state = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state,
                               "param_groups": optimizer.state_dict()["param_groups"]})
    say(f"resuming pretraining at step {meta['step']} from {directory}")
    return int(meta["step"]), meta["rng"]
