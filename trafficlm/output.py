"""Writing tables to stdout or a file in the formats every command shares.

The output file is opened before any work starts, so an unwritable path is
reported at once instead of after a long run, and an output that names one
of the inputs is refused before it can truncate it. Writes go out whole
lines at a time: when the disk fills, the file is cut back to its last whole
line and the run ends with one line naming the file and where it ends
(exit 3), never a traceback or half a JSON object.
"""

from __future__ import annotations

import contextlib
import os
import sys

from trafficlm.errors import ExitCode, TrafficLMError

FORMATS = ("table", "jsonl", "csv", "parquet")
FLUSH_BYTES = 1 << 20  # buffered output goes to the file in pieces of about this size


class OutputError(TrafficLMError):
    """An output path cannot be written."""


class OutputCutShort(TrafficLMError):
    """Writing failed part-way; the output holds whole lines up to the point it names."""

    exit_code = ExitCode.PARTIAL


class OutputFile:
    """A file (or stdout) written in whole lines; see the module docstring. Opening it is
    the check that the path is writable, so it is made before any work."""

    def __init__(self, path: str | None) -> None:
        self.name = path or "<stdout>"
        self._fd = None if path is None else _open(path)
        self._buffer = bytearray()
        self._sent = 0  # bytes of the piece being written that went out
        self.written = 0  # bytes of whole lines now in the output

    def write(self, text: str | bytes) -> None:
        self._buffer += text.encode() if isinstance(text, str) else text
        if len(self._buffer) >= FLUSH_BYTES:
            self.flush()

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._sent = 0
        try:
            self._emit(self._buffer)
        except BrokenPipeError:
            raise
        except OSError as err:
            self._cut_back(self._buffer.rfind(b"\n", 0, self._sent) + 1)
            raise OutputCutShort(f"{self.name}: cannot write: {err.strerror or err}; the "
                                 f"output ends after {self.written} bytes of whole lines"
                                 ) from None
        self.written += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)

    def _emit(self, data: bytearray) -> None:
        """Write ``data``, counting what went out in ``_sent`` (a full disk takes part)."""
        if self._fd is None:  # stdout, through sys.stdout so redirections and capture work
            sys.stdout.write(data.decode())
            sys.stdout.flush()
            self._sent = len(data)
            return
        with memoryview(data) as whole:
            while self._sent < len(data):
                self._sent += os.write(self._fd, whole[self._sent:])

    def _cut_back(self, whole_lines: int) -> None:
        """Keep the whole lines of a piece that went out in part, where the output is a
        file that can be cut; drop the rest of the piece."""
        self._buffer = bytearray()  # a fresh one: the failed write may still hold a view
        if self._fd is None:
            return
        self.written += whole_lines
        with contextlib.suppress(OSError):  # a device or a pipe: nothing to cut
            os.ftruncate(self._fd, self.written)


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise OutputError(f"{path}: cannot write: {err.strerror or err}") from None


def refuse_inputs_as_outputs(inputs: list[str], outputs: list[str | None]) -> None:
    """An output that is one of the input files would be truncated before it is read."""
    files = [p for p in inputs if os.path.isfile(p)]
    for out in filter(None, outputs):
        if os.path.exists(out) and any(_same_file(out, p) for p in files):
            raise OutputError(f"{out}: is one of the input captures; refusing to overwrite it")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # what cannot be examined is no input that could be overwritten
        return False
