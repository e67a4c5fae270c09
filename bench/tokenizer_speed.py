"""Tokenizer benchmark: flows/s and packets/s of the vectorised encoder.

Measured against the per-packet Python encoder (tokenizer/reference.py, which
produces the same ids) in the same run, on the same flows, pinned to one
core. The flows come from a capture built from ../shared/corpus.

    python bench/tokenizer_speed.py [--packets 300000] [--reference-flows 5000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.tokenizer.reference import encode_reference

from corpus_capture import write_benchmark_capture


def best_of(runs: int, job) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=300_000)
    parser.add_argument("--reference-flows", type=int, default=5_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "bench.pcap"
        write_benchmark_capture(capture, args.packets)
        flows = FlowBatch.concat(list(capture_flows(str(capture), CaptureReport(str(capture)))))
    tokenizer = TrafficTokenizer()
    packets_of = lambda f: int(np.minimum(f.n_stored, tokenizer.config.packets).sum())  # noqa: E731
    subset = flows.select(np.arange(min(args.reference_flows, len(flows))))
    ours = best_of(3, lambda: tokenizer.encode(flows))
    ours_subset = best_of(3, lambda: tokenizer.encode(subset))
    reference = best_of(1, lambda: encode_reference(tokenizer, subset))
    same = np.array_equal(tokenizer.encode(subset).ids, np.array(encode_reference(tokenizer,
                                                                                   subset)))
    rows = [("vectorised, all flows", len(flows), packets_of(flows), ours),
            ("vectorised, reference subset", len(subset), packets_of(subset), ours_subset),
            ("per-packet Python reference", len(subset), packets_of(subset), reference)]
    print(f"P={tokenizer.config.packets} B={tokenizer.config.payload_bytes} "
          f"max_length={tokenizer.config.max_length}, one core; identical ids: {same}")
    print(f"{'encoder':<32}{'flows':>9}{'packets':>10}{'seconds':>9}{'flows/s':>11}"
          f"{'packets/s':>12}")
    for name, n, packets, seconds in rows:
        print(f"{name:<32}{n:>9}{packets:>10}{seconds:>9.3f}{n / seconds:>11,.0f}"
              f"{packets / seconds:>12,.0f}")
    print(f"vectorised / reference on the same flows: {reference / ours_subset:.1f}x")


if __name__ == "__main__":
    main()
