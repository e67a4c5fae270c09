"""KeptFlows: what triage keeps is the first alerted flows in input order, however files
arrive, so a run on many workers keeps exactly what one process keeps."""

from __future__ import annotations

import itertools

import polars as pl

from trafficlm.triage_scoring import KeptFlows


def _file(index: int, rows: int) -> pl.DataFrame:
    return pl.DataFrame({"file": [index] * rows, "row": list(range(rows))})


def _kept(order: tuple[int, ...], sizes: list[int], limit: int) -> KeptFlows:
    kept = KeptFlows(limit)
    for index in order:
        kept.add(index, _file(index, sizes[index]), scored=10 * sizes[index])
    return kept


def test_the_same_flows_are_kept_in_every_arrival_order():
    sizes = [3, 0, 5, 2, 4]
    whole = pl.concat([_file(i, n) for i, n in enumerate(sizes)])
    for limit in (1, 6, 9, 14, 100):
        for order in itertools.permutations(range(len(sizes))):
            kept = _kept(order, sizes, limit)
            assert kept.frame().equals(whole.head(limit)), (limit, order)
            assert kept.not_kept == max(0, whole.height - limit)
            assert kept.flows_scored == 10 * whole.height


def test_a_file_cut_to_the_cap_keeps_its_first_rows_in_order():
    kept = KeptFlows(4)
    kept.add(0, _file(0, 3))
    kept.add(0, _file(0, 3).with_columns(pl.col("row") + 3))  # a second batch of one file
    assert kept.frame()["row"].to_list() == [0, 1, 2, 3]
    assert kept.not_kept == 2


def test_nothing_alerted_is_an_empty_frame():
    kept = KeptFlows(10)
    kept.add(0, pl.DataFrame(), scored=7)
    assert kept.frame().is_empty() and kept.flows_scored == 7 and kept.not_kept == 0
