"""Flow tables written as they come, in the format the user chose (``trafficlm flows``)."""

from __future__ import annotations

import io

import polars as pl

from trafficlm.output import FORMATS, OutputError, OutputFile


class FrameWriter:
    """Appends polars frames to one output in one format."""

    def __init__(self, fmt: str, path: str | None, table_columns: list[str] | None = None) -> None:
        if fmt not in FORMATS:
            raise OutputError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        if fmt == "parquet" and path is None:
            raise OutputError("--format parquet needs --out FILE")
        self.fmt = fmt
        self.table_columns = table_columns
        self._parquet: list[pl.DataFrame] = []
        self._header_done = False
        self._stream = OutputFile(path)
        self.rows = 0

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, frame: pl.DataFrame) -> None:
        self.rows += len(frame)
        if self.fmt == "parquet":
            self._parquet.append(frame)
        elif self.fmt == "jsonl":
            self._stream.write(frame.write_ndjson())
        elif self.fmt == "csv":
            self._stream.write(frame.write_csv(include_header=not self._header_done))
        else:
            self._write_table(frame)
        self._header_done = True

    def close(self) -> None:
        if self.fmt == "parquet":
            frames = self._parquet or [pl.DataFrame()]
            table = io.BytesIO()
            pl.concat(frames, how="diagonal_relaxed").write_parquet(table)
            self._stream.write(table.getvalue())
        self._stream.close()

    def _write_table(self, frame: pl.DataFrame) -> None:
        columns = self.table_columns or frame.columns
        text = frame.select(columns).with_columns(
            pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S%.6f")).with_columns(
            pl.all().cast(pl.String).fill_null(""))
        widths = {c: max(len(c), text[c].str.len_chars().max() or 0) for c in columns}
        if not self._header_done:
            self._stream.write("  ".join(c.ljust(widths[c]) for c in columns).rstrip() + "\n")
        for row in text.iter_rows():
            self._stream.write(
                "  ".join(str(v).ljust(widths[c]) for v, c in zip(row, columns, strict=True))
                .rstrip() + "\n")
