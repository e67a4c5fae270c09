"""Varying the network's part of training rows: timing, TTL and window move; what the
tool sent does not."""

from __future__ import annotations

import numpy as np
import pytest

from trafficlm.capture import CaptureReport
from trafficlm.flows import FlowBatch
from trafficlm.pipeline import capture_flows
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer
from trafficlm.training.conditions_variation import (
    TIMING_SHIFTS,
    WINDOW_SHIFTS,
    vary_conditions,
)

from conftest import REPO

MIXED = str(REPO / "pcaps" / "testbed-mixed.pcap")
VARIED = ("iat", "duration", "tcp_window", "ttl")


@pytest.fixture(scope="module")
def encoded():
    tokenizer = TrafficTokenizer(TokenizerConfig(context=True))
    flows = FlowBatch.concat(list(capture_flows(MIXED, CaptureReport(MIXED))))
    return tokenizer.vocab, tokenizer.encode(flows).ids[:3000]


def _values(ids: np.ndarray, field) -> np.ndarray:
    """Bucket values of ``field`` where it occurs, -1 elsewhere."""
    value = ids - field.base
    return np.where((value >= 0) & (value < field.size), value, -1)


def test_every_other_token_stays_as_captured(encoded):
    vocab, ids = encoded
    varied = vary_conditions(ids, vocab, 1.0, np.random.default_rng(0))
    touched = np.zeros(ids.shape, bool)
    for name in VARIED:
        touched |= _values(ids, vocab[name]) >= 0
    assert (varied[~touched] == ids[~touched]).all()
    for name in VARIED:  # a token of a field stays a token of that field
        assert ((_values(varied, vocab[name]) >= 0) == (_values(ids, vocab[name]) >= 0)).all()
    assert (varied != ids).any(axis=1).mean() > 0.5


def test_timing_moves_by_one_scale_per_flow_and_first_packets_keep_their_mark(encoded):
    vocab, ids = encoded
    varied = vary_conditions(ids, vocab, 1.0, np.random.default_rng(1))
    before, after = _values(ids, vocab["iat"]), _values(varied, vocab["iat"])
    assert ((before <= 1) == (after <= 1)).all()  # "first packet" and "no gap" stay
    top = vocab["iat"].size - 1
    for row in range(len(ids)):
        moved = before[row] >= 2
        free = moved & (after[row] > 2) & (after[row] < top)  # not clipped at either end
        shifts = set((after[row] - before[row])[free].tolist())
        assert len(shifts) <= 1
        assert shifts <= set(range(TIMING_SHIFTS[0], TIMING_SHIFTS[1] + 1))
    dur_before, dur_after = _values(ids, vocab["duration"]), _values(varied, vocab["duration"])
    assert ((dur_before == 0) == (dur_after == 0)).all()


def test_ttl_classes_are_relabelled_one_to_one_and_zero_windows_stay_zero(encoded):
    vocab, ids = encoded
    varied = vary_conditions(ids, vocab, 1.0, np.random.default_rng(2))
    before, after = _values(ids, vocab["ttl"]), _values(varied, vocab["ttl"])
    for row in range(len(ids)):
        pairs = set(zip(before[row][before[row] >= 0].tolist(),
                        after[row][after[row] >= 0].tolist(), strict=True))
        assert len({b for b, _ in pairs}) == len(pairs) == len({a for _, a in pairs})
    assert (after != before).any()
    win_before, win_after = _values(ids, vocab["tcp_window"]), _values(varied, vocab["tcp_window"])
    assert ((win_before == 0) == (win_after == 0)).all()
    shift = (win_after - win_before)[(win_before > 2) & (win_before < vocab["tcp_window"].size - 3)]
    assert shift.min() >= WINDOW_SHIFTS[0] and shift.max() <= WINDOW_SHIFTS[1]


def test_share_sets_how_many_flows_are_varied(encoded):
    vocab, ids = encoded
    assert (vary_conditions(ids, vocab, 0.0, np.random.default_rng(3)) == ids).all()
    changed = (vary_conditions(ids, vocab, 0.3, np.random.default_rng(3)) != ids).any(axis=1)
    changeable = (vary_conditions(ids, vocab, 1.0, np.random.default_rng(3)) != ids).any(axis=1)
    assert 0.2 < changed.sum() / changeable.sum() < 0.4
