"""Scale-out benchmark: triage of a directory of real captures in one process and on a
local Ray cluster with 1 and 2 workers, in the same run; then the driver's peak memory
for inputs of 1 M and 5 M packets, local and on Ray.

Throughput: flows/s of scoring every capture below --captures (default: the whole
../shared/corpus), start-up (Ray, model loading) timed apart, each setup in its own
process. Ratios are against the other setups of this run (machines here are shared
and noisy). Memory: ``trafficlm triage`` run as it is used, in its own process, on a
capture of benign corpus traffic repeated in rounds (``corpus_capture``), reporting
that process's peak RSS (on Ray: the driver's, the workers are processes of their own).

    python bench/scale.py                       # ~15 min on 2 cores
    python bench/scale.py --captures DIR --skip-memory
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_capture import CORPUS, write_benchmark_capture

SIZES = (1_000_000, 5_000_000)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _score_everything(workers: int | None, paths: list[str], results) -> None:
    """In a child: build the setup (timed apart), then score every path (timed)."""
    from trafficlm.capture import find_captures
    from trafficlm.model_files import DEFAULT_MODEL_DIR
    from trafficlm.triage_scoring import LocalScoring, ScoringRecipe

    recipe = ScoringRecipe(model_dir=str(DEFAULT_MODEL_DIR))
    start = time.perf_counter()
    if workers is None:
        scoring = LocalScoring(recipe)
    else:
        from trafficlm.ray_scoring import RayScoring

        scoring = RayScoring(recipe, "local", workers)
    ready = time.perf_counter()
    files = find_captures(paths).paths
    flows = packets = 0
    for _, result in scoring.scored(files):
        flows += result.flows_scored
        packets += result.report.packets
    seconds = time.perf_counter() - ready
    scoring.close()
    results.put({"files": len(files), "flows": flows, "packets": packets,
                 "startup_s": ready - start, "seconds": seconds})


def _triage_process(args: list[str], results) -> None:
    """In a child: ``trafficlm triage`` as a user runs it; this process's peak RSS."""
    from trafficlm.cli import main

    start = time.perf_counter()
    code = main(["triage", *args])
    results.put({"code": code, "seconds": time.perf_counter() - start, "peak_mb": _peak_mb()})


def in_child(target, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, results))
    proc.start()
    result = results.get()
    proc.join()
    return result


def throughput(captures: str) -> None:
    rows = {name: in_child(_score_everything, workers, [captures])
            for name, workers in (("one process", None), ("Ray, 1 worker", 1),
                                  ("Ray, 2 workers", 2))}
    base = rows["Ray, 1 worker"]["flows"] / rows["Ray, 1 worker"]["seconds"]
    local = rows["one process"]["flows"] / rows["one process"]["seconds"]
    print(f"\ntriage of {captures}: {rows['one process']['files']} files, "
          f"{rows['one process']['packets']:,} packets, {rows['one process']['flows']:,} flows")
    print(f"{'setup':<16}{'start-up s':>11}{'scoring s':>11}{'flows/s':>10}"
          f"{'x 1 worker':>12}{'x one process':>15}")
    for name, r in rows.items():
        rate = r["flows"] / r["seconds"]
        print(f"{name:<16}{r['startup_s']:>11.1f}{r['seconds']:>11.1f}{rate:>10,.0f}"
              f"{rate / base:>12.2f}{rate / local:>15.2f}")
    print("start-up: Ray and the workers' model loading, once per run, not in flows/s")


def memory(tmp: Path) -> None:
    rows = []
    for size in SIZES:
        capture = tmp / f"benign-{size}.pcap"
        packets = write_benchmark_capture(capture, size, label="benign")
        for name, extra in (("one process", []), ("Ray driver, 2 workers",
                                                  ["--ray", "local", "--workers", "2"])):
            r = in_child(_triage_process, [str(capture), "--format", "eve", "--out",
                                           os.devnull, *extra])
            rows.append({"setup": name, "packets": packets} | r)
        capture.unlink()
    print(f"\n{'setup':<24}{'packets':>11}{'exit':>6}{'seconds':>9}{'peak MB':>9}"
          f"{'x at 1M':>9}")
    first = {r["setup"]: r["peak_mb"] for r in rows if r["packets"] < SIZES[1]}
    for r in rows:
        print(f"{r['setup']:<24}{r['packets']:>11,}{r['code']:>6}{r['seconds']:>9.1f}"
              f"{r['peak_mb']:>9.0f}{r['peak_mb'] / first[r['setup']]:>9.2f}")
    print("input: the benign Ethernet captures of ../shared/corpus, round after round")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", default=str(CORPUS), help="a directory of captures")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if not args.skip_throughput:
        throughput(args.captures)
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            memory(Path(tmp))


if __name__ == "__main__":
    main()
