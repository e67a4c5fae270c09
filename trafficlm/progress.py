"""A progress bar over the bytes of many input files, on stderr, for large inputs only."""

from __future__ import annotations

import os

from tqdm import tqdm

SHOW_FROM_BYTES = 16 * 1024 * 1024


class Progress:
    """Tracks bytes read across files; silent for small inputs and non-terminals."""

    def __init__(self, paths: list[str], force: bool | None = None) -> None:
        total = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
        disable = None if force is None else not force  # None: tqdm hides it off a TTY
        if force is None and total < SHOW_FROM_BYTES:
            disable = True
        self._bar = tqdm(total=total, unit="B", unit_scale=True, disable=disable, leave=False)
        self._done = 0

    def at(self, file_bytes: int) -> None:
        """The current file has been read up to ``file_bytes``."""
        self._bar.update(max(0, self._done + file_bytes - self._bar.n))

    def file_done(self, path: str) -> None:
        """``path`` was read to its end (or gave up): count all of its bytes."""
        self._done += os.path.getsize(path) if os.path.isfile(path) else 0
        self._bar.update(max(0, self._done - self._bar.n))

    def close(self) -> None:
        self._bar.close()
