"""Honest splits: whole holdout groups (testbed runs, captures) go to one side only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trafficlm.training.config import ConfigError
from trafficlm.training.datasets.flowset import FlowSet


@dataclass
class Split:
    train: FlowSet
    validation: FlowSet
    test: FlowSet

    def describe(self) -> dict[str, dict[str, int]]:
        """Flows and captures per side, for the report."""
        return {name: {"flows": len(part), "captures": len(set(part.capture)),
                       "groups": len(set(part.group))}
                for name, part in (("train", self.train), ("validation", self.validation),
                                   ("test", self.test))}


def split_by_group(flows: FlowSet, validation: list[str], test: list[str],
                   source: str = "recipe") -> Split:
    """Named groups to validation and test, the rest to training; never a group on two sides."""
    groups = set(flows.group)
    for name in (*validation, *test):
        if name not in groups:
            raise ConfigError(f"{source}: holdout group {name!r} is not in the data "
                              f"(groups: {', '.join(sorted(groups))})")
    if set(validation) & set(test):
        raise ConfigError(f"{source}: a group cannot be both validation and test")
    in_val = np.isin(flows.group, validation)
    in_test = np.isin(flows.group, test)
    train = ~in_val & ~in_test
    if not train.any():
        raise ConfigError(f"{source}: every group is held out; nothing left to train on")
    return Split(flows.select(train), flows.select(in_val), flows.select(in_test))
