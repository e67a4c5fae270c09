"""The EVE file: whole lines only, reopened on SIGHUP, patient with a full disk.

Lines are appended with one ``write`` on an ``O_APPEND`` descriptor; if a
write fails part-way (disk full) the file is cut back to where the line
began, so a reader or a crash never sees half a line. Lines that cannot be
written wait in a bounded backlog and go out when space returns; beyond the
bound the oldest are dropped and counted.
"""

from __future__ import annotations

import errno
import os
from collections import deque

from trafficlm.errors import TrafficLMError
from trafficlm.sensor.metrics import Metrics


class EveFileError(TrafficLMError):
    """The alert file cannot be opened for appending."""


class EveFile:
    def __init__(self, path: str, metrics: Metrics, max_unwritten: int) -> None:
        self.path = path
        self.metrics = metrics
        self.backlog: deque[bytes] = deque()
        self.max_unwritten = max_unwritten
        self._fd = self._open()

    def _open(self) -> int:
        """Append-only, and never through a symbolic link: the sensor opens this as root,
        in a directory its unprivileged user can write, where a planted link could
        otherwise make root append to any file."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return os.open(self.path, flags, 0o640)
        except OSError as err:
            reason = ("is a symbolic link; refusing to follow it" if err.errno == errno.ELOOP
                      else err.strerror or str(err))
            raise EveFileError(f"{self.path}: cannot write alerts: {reason}") from None

    def hand_to(self, uid: int, gid: int, user: str) -> None:
        """Before the sensor drops to ``user``: the open file becomes theirs, and their
        right to create the next one in its directory (SIGHUP after logrotate) is
        checked now rather than found missing at the first rotation."""
        os.fchown(self._fd, uid, gid)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not _writable_by(os.stat(directory), uid, gid):
            raise EveFileError(f"{directory}: not writable by {user}, so a SIGHUP after "
                               f"logrotate could not reopen {self.path} "
                               f"(chown {user} {directory})")

    def write(self, lines: list[str]) -> None:
        """Write as many lines as the disk takes, each whole or not at all; what it does not
        take waits, at most ``max_unwritten`` lines (the oldest beyond that are dropped,
        counted). The bound applies after the write, so a report larger than the bound
        is lost only when the disk is really full."""
        self.backlog.extend(line.encode() + b"\n" for line in lines)
        self.flush()
        overflow = len(self.backlog) - self.max_unwritten
        for _ in range(max(0, overflow)):
            self.backlog.popleft()
        if overflow > 0:
            self.metrics.add("alert_lines_dropped", overflow)
            self.metrics.set("unwritten_lines", len(self.backlog))

    def flush(self) -> None:
        while self.backlog:
            if not self._write_whole(self.backlog[0]):
                break
            self.backlog.popleft()
        self.metrics.set("unwritten_lines", len(self.backlog))

    def _write_whole(self, line: bytes) -> bool:
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, line)
            if written == len(line):
                return True
            failure = "short_write"
        except OSError as err:
            failure = errno.errorcode.get(err.errno or 0, "EIO")
        self.metrics.add("write_errors", 1, failure)
        try:
            os.ftruncate(self._fd, start)  # no torn line left behind
        except OSError:
            self.metrics.add("write_errors", 1, "truncate")
        return False

    def reopen(self) -> None:
        """After logrotate moved the file: write to a new one at the same path."""
        fd = self._open()
        os.close(self._fd)
        self._fd = fd
        self.flush()

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def _writable_by(info: os.stat_result, uid: int, gid: int) -> bool:
    """Whether a user may create files in a directory with these owner and mode bits."""
    if info.st_uid == uid:
        return info.st_mode & 0o300 == 0o300
    if info.st_gid == gid:
        return info.st_mode & 0o030 == 0o030
    return info.st_mode & 0o003 == 0o003
