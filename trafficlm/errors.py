"""Errors and exit codes shared by every command.

Bad input is an answer, not a crash: every problem with a user's file is a
:class:`TrafficLMError` carrying the file and, where it applies, the byte
offset, so the CLI can print one line and choose the exit code.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    PARTIAL = 3  # output was produced, but some input was skipped or cut short


class TrafficLMError(Exception):
    """Base class for errors that are the input's fault, not the program's."""

    exit_code = ExitCode.FAILURE  # what the command exits with when this ends it


class UsageError(TrafficLMError):
    """Flags that cannot go together: argparse's exit code, said in one line."""

    exit_code = ExitCode.USAGE


class CaptureError(TrafficLMError):
    """A capture file cannot be read (further): not a capture, corrupt, unreadable."""

    def __init__(self, path: str, reason: str, offset: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.offset = offset
        where = f"{path}" if offset is None else f"{path} at byte {offset}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple:
        """Rebuilt from its fields: a Ray worker's capture report crosses processes."""
        return type(self), (self.path, self.reason, self.offset)
