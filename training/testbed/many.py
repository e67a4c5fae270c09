"""A training set of many testbed runs: one directory per seed, resumable, summarised.

``trafficlm testbed many --out tb --seeds 1-24`` makes ``tb/seed1`` ...
``tb/seed24``. A run whose manifest says ``complete`` is kept; a directory
left by an interrupted run is made again from scratch, so stopping (Ctrl-C,
a reboot) and running the same command again resumes where it stopped.
``summarise`` reads what the runs wrote: flows per label, the spread of the
drawn conditions, and how long the runs took.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from trafficlm.training.testbed.runner import RunOptions, run_testbed
from trafficlm.training.testbed.shell import TestbedError


def parse_seeds(text: str) -> list[int]:
    """``1-24``, ``1,5,9`` or a mix (``1-4,10``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise TestbedError(f"--seeds {text!r}: expected numbers and ranges like 1-24,30") \
            from None
    if not seeds:
        raise TestbedError("--seeds names no seed")
    return seeds


def is_complete(run: Path) -> bool:
    try:
        return json.loads((run / "manifest.json").read_text(encoding="utf-8")).get("complete",
                                                                                   False)
    except (OSError, ValueError):
        return False


def run_many(template: RunOptions, seeds: list[int], say=print) -> list[Path]:
    """Run every seed not yet complete under ``template.out``; return the complete runs."""
    done = []
    for number, seed in enumerate(seeds, 1):
        run = template.out / f"seed{seed}"
        if is_complete(run):
            say(f"seed {seed}: complete already, kept ({number}/{len(seeds)})")
            done.append(run)
            continue
        if run.exists():
            say(f"seed {seed}: an interrupted run is there; making it again")
            shutil.rmtree(run)
        started = time.monotonic()
        say(f"seed {seed}: running ({number}/{len(seeds)})")
        run_testbed(replace(template, out=run, seed=seed, force=False), say=say)
        say(f"seed {seed}: done in {time.monotonic() - started:.0f} s")
        done.append(run)
    return done


def summarise(runs: list[Path]) -> dict:
    """Flows per label over the runs, the drawn conditions' spread, the time taken."""
    flows: Counter = Counter()
    programs: Counter = Counter()
    families: Counter = Counter()
    variants: Counter = Counter()
    delays, mtus, losses, seconds = [], [], [], []
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        for step in manifest["steps"]:
            flows.update(step["flows"])
            variants.update(a["scenario"] for a in step.get("attacks", []))
        seconds.append(manifest["steps"][-1]["ended"] - manifest["started"])
        conditions = manifest.get("conditions", {})
        for host in conditions.get("hosts", {}).values():
            delays.append(host["link"]["delay_ms"])
            mtus.append(host["link"]["mtu"])
            losses.append(host["link"]["loss"])
            families[host["stack"]["family"]] += 1
        programs.update(p["program"] for p in conditions.get("services", {}).values())
    return {
        "runs": len(runs), "flows": dict(flows.most_common()),
        "one_way_delay_ms": _spread(delays), "mtu": _spread(mtus), "loss": _spread(losses),
        "stack_families": dict(families), "server_programs": dict(programs),
        "attack_variants": dict(variants.most_common()),
        "seconds_per_run": _spread(seconds), "seconds_total": round(sum(seconds)),
    }


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "distinct": len(set(values))}


def summary_markdown(summary: dict) -> str:
    """One table: flows per label, then the drawn conditions' spread and the time taken."""
    rows = [f"| {label} | {count:,} |" for label, count in summary["flows"].items()]
    delay, mtu, loss = summary["one_way_delay_ms"], summary["mtu"], summary["loss"]
    families = ", ".join(f"{k} {v}" for k, v in sorted(summary["stack_families"].items()))
    programs = ", ".join(f"{k} {v}" for k, v in sorted(summary["server_programs"].items()))
    per_run = summary["seconds_per_run"]
    rows += [
        f"| *hosts' one-way delay, ms* | {delay['min']:g} / {delay['median']:g} / "
        f"{delay['max']:g} (min / median / max; {delay['distinct']} distinct) |",
        f"| *hosts' MTU* | {mtu['min']} to {mtu['max']} ({mtu['distinct']} distinct) |",
        f"| *hosts' loss* | {loss['min']:.3f} to {loss['max']:.3f} ({loss['distinct']} distinct) |",
        f"| *hosts' stack families* | {families} |",
        f"| *server programs (runs)* | {programs} |",
        f"| *attack variants drawn* | {len(summary['attack_variants'])} distinct |",
        f"| *time* | {summary['runs']} runs, {per_run['min']:.0f} to {per_run['max']:.0f} s "
        f"each, {summary['seconds_total'] / 3600:.1f} h in all |",
    ]
    return "\n".join(["| label | flows |", "| --- | --- |", *rows])
