"""What a minimum session score would buy on whole captures: detections kept, false alarms cut.

Triage alerts on every session whose flows the model calls an attack. The
whole-capture tables record, per capture, each verdict's surest session (its
mean attack score); this module replays those tables at stricter minimums, so
the card shows whether the benign captures' alerts are the unsure ones (a
floor would remove them) or as sure as real attacks (only better training
helps). Nothing is measured again: the points are read off the same sessions.
"""

from __future__ import annotations

from collections.abc import Callable

MIN_SESSION_SCORES = (0.5, 0.9, 0.99, 0.999)

Fits = Callable[[set[str]], bool]  # does a set of verdicts fit the capture's label?


def kept_verdicts(scores: dict[str, float], floor: float) -> set[str]:
    """The verdicts whose surest session reaches ``floor``."""
    return {verdict for verdict, score in scores.items() if score >= floor}


def operating_points(attacks: list[tuple[dict[str, float], Fits]],
                     benign: list[dict[str, float]], benign_total: int) -> list[dict]:
    """Per minimum session score: attack captures still alerted with a fitting class, and
    the share of ``benign_total`` benign captures (or capture-model pairs) still alerting;
    ``benign``: the scores of those that alerted at all."""
    points = []
    for floor in MIN_SESSION_SCORES:
        fitting = sum(fits(kept_verdicts(scores, floor)) for scores, fits in attacks)
        alerting = sum(bool(kept_verdicts(scores, floor)) for scores in benign)
        points.append({"min_session_score": floor, "attacks_fitting": fitting,
                       "attacks": len(attacks), "benign_alerting": alerting,
                       "benign": benign_total,
                       "benign_share": round(alerting / benign_total, 4) if benign_total
                       else None})
    return points
