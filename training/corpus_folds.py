"""Capture-disjoint folds over the corpus's labelled attack captures, and their ceiling.

Most attack families have a handful of captures, several only one, so a
single held-out split says little and a random flow split says nothing (the
flows of one capture would sit on both sides). Each attack capture goes to
exactly one of ``k`` folds; captures of the same source and family that share
a host are siblings and go together (one lab's replay of one attack is one
example, not several). A family's captures are dealt over the folds so that as
many as possible have a sibling in another fold: that count is the ceiling, the
most a perfect learner could detect when tested on a fold it never saw.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class AttackCapture:
    name: str  # MANIFEST path
    family: str  # its label in the shared vocabulary
    hosts: frozenset[str]  # addresses its labelled flows touch

    @property
    def source(self) -> str:
        return self.name.split("/", 1)[0]


def sibling_units(captures: list[AttackCapture]) -> list[list[AttackCapture]]:
    """Captures grouped into units held out together: same source, same family, and a
    chain of shared hosts (union-find), each unit sorted by name, units by first name."""
    parent = list(range(len(captures)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[str, str, str], int] = {}
    for i, capture in enumerate(captures):
        for host in capture.hosts:
            key = (capture.source, capture.family, host)
            if key in seen:
                parent[root(i)] = root(seen[key])
            else:
                seen[key] = i
    units: dict[int, list[AttackCapture]] = defaultdict(list)
    for i, capture in enumerate(captures):
        units[root(i)].append(capture)
    return sorted((sorted(u, key=lambda c: c.name) for u in units.values()),
                  key=lambda u: u[0].name)


def attack_folds(captures: list[AttackCapture], k: int) -> dict[str, int]:
    """Capture name -> fold (0..k-1). Each family's units are dealt to the fold that holds
    the fewest captures of that family (then the fewest in all, then by a stable hash),
    largest unit first, so siblings spread over folds and folds stay even."""
    by_family: dict[str, list[list[AttackCapture]]] = defaultdict(list)
    for unit in sibling_units(captures):
        by_family[unit[0].family].append(unit)
    fold_of: dict[str, int] = {}
    total = [0] * k
    for family in sorted(by_family):
        mine = [0] * k
        for unit in sorted(by_family[family], key=lambda u: (-len(u), u[0].name)):
            spin = zlib.crc32(unit[0].name.encode())
            fold = min(range(k), key=lambda f: (mine[f], total[f], (f + spin) % k))
            for capture in unit:
                fold_of[capture.name] = fold
            mine[fold] += len(unit)
            total[fold] += len(unit)
    return fold_of


def kfold_table(captures: list[AttackCapture], folds: dict[str, int],
                outcomes: dict[str, dict[str, bool]]) -> dict[str, dict[str, int]]:
    """Per family: captures, how many have a same-family capture in another fold (the
    ceiling), and per outcome column (e.g. ``detected``: the fold's model alerted with a
    fitting class) how many captures it holds for."""
    table: dict[str, dict[str, int]] = {}
    for capture in captures:
        row = table.setdefault(capture.family, {"captures": 0, "ceiling": 0,
                                                **dict.fromkeys(outcomes, 0)})
        row["captures"] += 1
        row["ceiling"] += any(other.family == capture.family
                              and folds[other.name] != folds[capture.name]
                              for other in captures)
        for column, held in outcomes.items():
            row[column] += bool(held.get(capture.name))
    return dict(sorted(table.items()))
