"""How varied a set of testbed runs' benign traffic is, as the model sees it.

The measure is the number of distinct token sequences among 1,000 BENIGN
flows drawn at random from all the runs together (the mean of several
draws). A lab whose clients repeat one request over one zero-latency link
gives the model the same few sequences again and again; a world that varies
links, stacks, programs and clients gives it many. Token sequences are what
the default tokenizer makes of each flow, so identity fields never count.

Payload bytes make almost every flow's whole sequence unique even in the lab,
so a second count keeps only the tokens that the network and the stacks
decide, which a one-link lab holds constant: TTL class, TCP window, TCP
options and inter-arrival times, in order.
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
CONDITION_FIELDS = ("ttl", "tcp_window", "tcp_options", "iat")
# per capture and label: above any capture's benign flows (a few hundred), while a flood's
# tens of thousands of flows, which this count does not look at, are not all tokenized
MAX_FLOWS_PER_LABEL = 20_000


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
    draws = [benign[rng.choice(len(benign), SAMPLE, replace=False)] for _ in range(DRAWS)]
    whole = [len(np.unique(draw, axis=0)) for draw in draws]
    conditions = [_distinct_conditions(tokenizer, draw) for draw in draws]
    return {"runs": len(runs), "benign_flows": len(benign),
            "distinct_per_1000": round(float(np.mean(whole)), 1),
            "distinct_condition_sequences_per_1000": round(float(np.mean(conditions)), 1),
            "draws": whole, "condition_draws": conditions}


def _distinct_conditions(tokenizer: TrafficTokenizer, ids: np.ndarray) -> int:
    """Distinct sequences of a flow's TTL, window, option and inter-arrival tokens."""
    vocab = tokenizer.vocab
    wanted = np.zeros(len(vocab), bool)
    for name in CONDITION_FIELDS:
        field = vocab[name]
        wanted[field.base:field.base + field.size] = True
    keep = wanted[np.clip(ids, 0, len(vocab) - 1)]
    return len({tuple(row[mask]) for row, mask in zip(ids, keep, strict=True)})
