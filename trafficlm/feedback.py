"""Analyst feedback: an append-only log of verdicts on alerts, chained so edits show.

Each line is one JSON object: who marked what and when, the alert (its EVE
session, signature, hosts and time), the content hashes of the flows it was
raised on, the verdict (``false-positive`` or ``true-positive``, with the
class an analyst says it is) and a note. Every line carries the SHA-256 of
the line before it (``prev``) and of itself without that field (``hash``),
so a line edited, removed or inserted anywhere breaks the chain at that
line: reading or appending to such a log stops with an error naming the
file and the line, rather than training a site adapter on a forged verdict.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trafficlm.errors import TrafficLMError

VERDICTS = ("false-positive", "true-positive")
GENESIS = "0" * 64  # what the first line's ``prev`` is
MAX_NOTE = 2000  # characters; a note is a comment, not a document


class FeedbackError(TrafficLMError):
    """A feedback log that was tampered with, or feedback that cannot be recorded."""


@dataclass(frozen=True)
class Mark:
    """What an analyst says about one alert."""

    verdict: str
    label: str | None = None  # the class, for a true positive
    note: str = ""
    analyst: str = ""


def line_hash(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def read_log(path: Path) -> list[dict]:
    """Every record of the log, after checking its chain; a broken link is refused."""
    return list(_checked(path))


def _checked(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    previous = GENESIS
    with open(path, encoding="utf-8") as log:
        for number, line in enumerate(log, 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise FeedbackError(f"{path}:{number}: not a feedback record (not JSON); "
                                    "the log was edited") from None
            if not isinstance(record, dict) or record.get("prev") != previous:
                raise FeedbackError(f"{path}:{number}: does not follow line {number - 1} "
                                    "(a line was edited, removed or inserted before it)")
            if record.get("hash") != line_hash(record):
                raise FeedbackError(f"{path}:{number}: its content does not match its hash "
                                    "(the line was edited)")
            previous = record["hash"]
            yield record


def append(path: Path, alert: dict, mark: Mark) -> dict:
    """Check the chain, then append one record for ``alert`` and return it."""
    check_mark(mark)
    with open(path, "a", encoding="utf-8") as log:
        fcntl.flock(log, fcntl.LOCK_EX)  # the review page and the command may both append
        record = _record(read_log(path), alert, mark)
        log.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.flush()
        os.fsync(log.fileno())
    return record


def _record(records: list[dict], alert: dict, mark: Mark) -> dict:
    tl = alert.get("trafficlm", {})
    record = {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
        "analyst": mark.analyst or _analyst(),
        "verdict": mark.verdict, "class": mark.label, "note": mark.note,
        "alert": {"session_id": tl.get("session_id"), "timestamp": alert.get("timestamp"),
                  "signature": alert.get("alert", {}).get("signature"),
                  "src_ip": alert.get("src_ip"), "dest_ip": alert.get("dest_ip"),
                  "dest_port": alert.get("dest_port"), "proto": alert.get("proto"),
                  "flows": tl.get("flows")},
        "content_hashes": list(tl.get("content_hashes") or []),
        "prev": records[-1]["hash"] if records else GENESIS,
    }
    record["hash"] = line_hash(record)
    return record


def check_mark(mark: Mark) -> None:
    if mark.verdict not in VERDICTS:
        raise FeedbackError(f"verdict {mark.verdict!r}: expected one of {', '.join(VERDICTS)}")
    if mark.label is not None and mark.verdict != "true-positive":
        raise FeedbackError("a class goes with a true-positive verdict only")
    if len(mark.note) > MAX_NOTE:
        raise FeedbackError(f"the note has {len(mark.note)} characters; at most {MAX_NOTE}")


def alerts_of(eve: Path) -> list[dict]:
    """The alert lines of an EVE file (other event types are skipped), each checked."""
    alerts = []
    try:
        with open(eve, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise FeedbackError(f"{eve}:{number}: not an EVE JSON line") from None
                if isinstance(event, dict) and event.get("event_type") == "alert":
                    alerts.append(event)
    except OSError as err:
        raise FeedbackError(f"{eve}: cannot read ({err.strerror})") from None
    return alerts


def alert_for_session(eve: Path, session_id: int) -> dict:
    for alert in alerts_of(eve):
        if alert.get("trafficlm", {}).get("session_id") == session_id:
            return alert
    raise FeedbackError(f"{eve}: no TrafficLM alert with session id {session_id}")


def _analyst() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
