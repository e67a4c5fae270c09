"""Triage benchmark: packets/s and flows/s end to end with the default model, the share of
time in each stage, and the same flows scored by an ET-BERT-size encoder in the same run.

Inputs: the bundled testbed capture and one round of every Ethernet capture
of ../shared/corpus (real, varied traffic; no repeated rounds, so the
identical-sequence shortcut is not flattered). The comparison encoder is
BERT-base (12 layers, 768 wide, 12 heads, 512 tokens, random weights: only
time matters), fed the same flows' token ids cut or padded to 512; it is
timed on a sample and its rate extrapolated. Both on this machine's 2 threads.

    python bench/triage.py [--bert-flows 48]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from trafficlm.capture import CaptureReport
from trafficlm.detect import EXPLAIN_LIMIT, AlertPolicy, explain, frame_with_scores, score_flows
from trafficlm.flows import FlowBatch
from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.pipeline import capture_flows
from trafficlm.sessions import build_sessions

from corpus_capture import write_benchmark_capture

REPO = Path(__file__).resolve().parents[1]
STAGES = ("read + flows", "tokenize + score", "explain", "sessions")


def timed(clock: dict[str, float], stage: str, job):
    start = time.perf_counter()
    result = job()
    clock[stage] = clock.get(stage, 0.0) + time.perf_counter() - start
    return result


def triage_run(model: TrafficModel, path: str) -> tuple[int, int, dict[str, float]]:
    """Triage's work on one capture, stage by stage: (packets, flows, seconds per stage)."""
    clock: dict[str, float] = {}
    report = CaptureReport(path)
    batches = timed(clock, STAGES[0], lambda: list(capture_flows(path, report)))
    frames = []
    for flows in batches:
        scores = timed(clock, STAGES[1], lambda f=flows: score_flows(model, f, AlertPolicy()))
        evidence = timed(clock, STAGES[2],
                         lambda f=flows, s=scores: explain(model, f, s, EXPLAIN_LIMIT))
        frames.append(frame_with_scores(flows, path, scores, evidence))
    timed(clock, STAGES[3], lambda: build_sessions(pl.concat(frames)))
    return report.packets, sum(len(b) for b in batches), clock


def bert_base_flows_per_s(ids: np.ndarray, flows: int) -> float:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072,
                        max_position_embeddings=512, num_labels=15)
    model = BertForSequenceClassification(config).eval()
    sample = np.zeros((flows, 512), np.int64)
    width = min(ids.shape[1], 512)
    sample[:, :width] = ids[:flows, :width]
    batch = torch.from_numpy(sample)
    with torch.no_grad():
        model(input_ids=batch[:2])  # warm-up
        start = time.perf_counter()
        for i in range(0, flows, 16):
            model(input_ids=batch[i : i + 16])
    return flows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bert-flows", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = TrafficModel(DEFAULT_MODEL_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus-round.pcap"
        write_benchmark_capture(corpus, 1)
        inputs = {"testbed-mixed": str(REPO / "pcaps" / "testbed-mixed.pcap"),
                  "corpus (1 round)": str(corpus)}
        triage_run(model, inputs["testbed-mixed"])  # warm-up: first calls pay for set-up
        print(f"{'input':<18} {'packets':>8} {'flows':>7} {'seconds':>8} {'packets/s':>10} "
              f"{'flows/s':>8}  " + "  ".join(f"{s:>16}" for s in STAGES))
        rates = []
        for name, path in inputs.items():
            packets, flows, clock = triage_run(model, path)
            total = sum(clock.values())
            rates.append(flows / total)
            shares = "  ".join(f"{100 * clock.get(s, 0) / total:>15.1f}%" for s in STAGES)
            print(f"{name:<18} {packets:>8,} {flows:>7,} {total:>8.2f} {packets / total:>10,.0f} "
                  f"{flows / total:>8,.0f}  {shares}")
        flows = FlowBatch.concat(list(capture_flows(str(corpus), CaptureReport(str(corpus)))))
        ids = model.tokenizer.encode(flows).ids
    bert = bert_base_flows_per_s(ids, args.bert_flows)
    print(f"\nBERT-base (12x768, 512 tokens) model alone: {bert:,.2f} flows/s")
    for name, rate in zip(inputs, rates, strict=True):
        print(f"{name}: TrafficLM end to end / BERT-base model alone = {rate / bert:,.0f}x")


if __name__ == "__main__":
    main()
