"""How varied a set of testbed runs' benign traffic is, as the model sees it.

The measure is the number of distinct token sequences among 1,000 BENIGN
flows drawn at random from all the runs together (the mean of several
draws). A lab whose clients repeat one request over one zero-latency link
gives the model the same few sequences again and again; a world that varies
links, stacks, programs and clients gives it many. Token sequences are what
the default tokenizer makes of each flow, so identity fields never count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trafficlm.tokenizer import TrafficTokenizer
from trafficlm.training.datasets.testbed import load_testbed
from trafficlm.training.testbed.scenarios import BENIGN
from trafficlm.training.testbed.shell import TestbedError

SAMPLE = 1000
DRAWS = 5
MAX_FLOWS_PER_LABEL = 1_000_000  # per capture: read everything a testbed run holds


def benign_diversity(runs: list[Path], seed: int = 0) -> dict:
    """Distinct token sequences per 1,000 benign flows, pooled over ``runs``."""
    tokenizer = TrafficTokenizer()
    pools = []
    for run in runs:
        flows = load_testbed(str(run), tokenizer, MAX_FLOWS_PER_LABEL, seed, say=lambda m: None)
        pools.append(flows.ids[flows.labels == BENIGN])
    benign = np.concatenate(pools) if pools else np.empty((0, 0), np.int32)
    if len(benign) < SAMPLE:
        raise TestbedError(f"only {len(benign)} benign flows in {len(runs)} run(s); "
                         f"{SAMPLE} are needed")
    rng = np.random.default_rng(seed)
    distinct = [len(np.unique(benign[rng.choice(len(benign), SAMPLE, replace=False)], axis=0))
                for _ in range(DRAWS)]
    return {"runs": len(runs), "benign_flows": len(benign),
            "distinct_per_1000": round(float(np.mean(distinct)), 1),
            "draws": distinct}
