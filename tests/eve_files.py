"""Reading EVE files as the tests need them: alerts and the stats events written beside them
(the sensor's periodic ones, triage's one at the end)."""

from __future__ import annotations

import json
from pathlib import Path


def eve_events(path: Path) -> list[dict]:
    """Every line of an EVE file parsed; a torn line fails the test here."""
    return events_of(Path(path).read_text(encoding="utf-8"))


def events_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def alerts(path: Path) -> list[dict]:
    return [e for e in eve_events(path) if e["event_type"] == "alert"]


def final_stats(path: Path) -> dict:
    """The counts of the last stats event: what the run counted beside its alerts."""
    return [e for e in eve_events(path) if e["event_type"] == "stats"][-1]["stats"]
