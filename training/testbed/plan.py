"""Which scenarios a run captures, step by step, and which tool each attack step uses.

The lab profile runs its scenarios as they are, one step per attack. The
wide profile has one step per attack *slot* and draws, per seed, which of the
slot's variants (tools and modes) runs, among those whose tools are
installed: a slot none of whose tools could be installed is skipped and
said so, like a lab scenario whose tool is missing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from trafficlm.training.testbed.scenarios import (
    BENIGN_SCENARIOS,
    MIXED_ATTACKS,
    SCENARIOS,
    Scenario,
)
from trafficlm.training.testbed.shell import TestbedError
from trafficlm.training.testbed.wide_scenarios import (
    ATTACK_SLOTS,
    MIXED_SLOTS,
    SITE_BENIGN,
    WIDE_BENIGN,
)


@dataclass
class Plan:
    seed: int
    benign: list[Scenario]
    slots: dict[str, tuple[Scenario, ...]]  # slot -> the variants it may draw from
    mixed_slots: tuple[str, ...]
    attacks: list[tuple[str, Scenario]] = field(default_factory=list)  # after runnable()
    skipped: dict[str, str] = field(default_factory=dict)

    def tools(self) -> set[str]:
        every = [*self.benign, *(v for variants in self.slots.values() for v in variants)]
        return {t for scenario in every for t in scenario.tools}

    def runnable(self, missing: dict[str, str]) -> Plan:
        """Draw each slot's variant among those whose tools are all installed."""
        def ok(scenario: Scenario) -> bool:
            return not any(t in missing for t in scenario.tools)

        def why(scenario: Scenario) -> str:
            return missing[next(t for t in scenario.tools if t in missing)]

        benign = [s for s in self.benign if ok(s)]
        skipped = {s.name: why(s) for s in self.benign if not ok(s)}
        attacks = []
        for slot, variants in self.slots.items():
            usable = [v for v in variants if ok(v)]
            if usable:
                attacks.append((slot, random.Random(f"{self.seed}/variant/{slot}").choice(usable)))
            else:
                skipped[slot] = why(variants[0])
        return Plan(self.seed, benign or BENIGN_SCENARIOS[:1], self.slots, self.mixed_slots,
                    attacks, skipped)

    def mixed(self) -> list[Scenario]:
        chosen = [s for slot, s in self.attacks if slot in self.mixed_slots]
        return chosen or [s for _, s in self.attacks[:3]]


def plan_run(profile: str, seed: int, names: list[str] | None) -> Plan:
    """The run's scenarios; with no names, every benign scenario of the profile's draw."""
    if profile == "wide":
        drawn = {s.name: s for s in WIDE_BENIGN}
        benign_pool = {**drawn, **{s.name: s for s in SITE_BENIGN}}  # site ones: only by name
        slots, mixed = ATTACK_SLOTS, MIXED_SLOTS
    else:
        drawn = benign_pool = {s.name: s for s in BENIGN_SCENARIOS}
        slots = {s.name: (s,) for s in SCENARIOS.values() if s.is_attack}
        mixed = MIXED_ATTACKS
    known = [*benign_pool, *slots]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise TestbedError(f"unknown scenario {unknown[0]!r}; known: {', '.join(known)}")
    if names:
        benign = [benign_pool[n] for n in names if n in benign_pool]
        slots = {n: slots[n] for n in names if n in slots}
    else:
        benign = list(drawn.values())
    return Plan(seed, benign or list(drawn.values())[:1], dict(slots), mixed)
