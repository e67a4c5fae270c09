"""One capture in, what triage keeps of it out: the unit of work, local or on a Ray worker.

Triage needs the alerted flows (an attack class, or unlike training) to
build sessions; every other scored flow is only counted. Keeping only those
is what bounds triage's memory: it grows with what alerts, never with the
benign traffic around it, and ``KeptFlows`` caps even that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from trafficlm.capture import CaptureReport
from trafficlm.errors import CaptureError
from trafficlm.flows import FlowConfig
from trafficlm.pipeline import capture_flows
from trafficlm.progress import Progress
from trafficlm.sessions import alerted_flows
from trafficlm.triage_limits import MAX_KEPT_FLOWS


@dataclass(frozen=True)
class ScoringRecipe:
    """What a scorer needs to be built anywhere: plain values, so it travels to workers."""

    model_dir: str
    adapter_dir: str | None = None  # triage --adapter: a site adapter on the model
    int8: bool = False
    threshold: float | None = None  # triage --threshold
    fpr: float | None = None  # triage --fpr
    flow: FlowConfig = field(default_factory=FlowConfig)


@dataclass
class ScoredCapture:
    """What triage keeps of one capture: its report, its alerted flows, counts of the rest."""

    report: CaptureReport
    alerted: pl.DataFrame
    flows_scored: int = 0
    not_kept: int = 0  # alerted flows beyond the cap


class KeptFlows:
    """The alerted flows of a run, at most ``limit`` of them: the first ones in input
    order (file by file, flow by flow), whichever order the files finish in, so a run
    on many workers keeps exactly what a run in one process keeps."""

    def __init__(self, limit: int = MAX_KEPT_FLOWS) -> None:
        self.limit = limit
        self.flows_scored = 0
        self.not_kept = 0
        self._parts: list[tuple[int, pl.DataFrame]] = []  # (file index, frame), by arrival
        self._rows = 0

    def add(self, file_index: int, alerted: pl.DataFrame, scored: int = 0,
            not_kept: int = 0) -> None:
        """``alerted`` flows of file ``file_index``; ``scored``: flows scored in all."""
        self.flows_scored += scored
        self.not_kept += not_kept
        if alerted.is_empty():
            return
        self._parts.append((file_index, alerted))
        self._rows += alerted.height
        if self._rows > self.limit:
            self._cut_to_limit()

    def frame(self) -> pl.DataFrame:
        """The kept flows, in input order."""
        parts = [frame for _, frame in sorted(self._parts, key=lambda part: part[0])]
        return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()

    def _cut_to_limit(self) -> None:
        self._parts.sort(key=lambda part: part[0])  # stable: a file's batches stay in order
        room, kept = self.limit, []
        for index, frame in self._parts:
            if room:
                kept.append((index, frame.head(room)))
            self.not_kept += max(0, frame.height - room)
            room = max(0, room - frame.height)
        self._parts, self._rows = kept, self.limit


class CaptureScorer:
    """A loaded model and alert policy that turns capture files into ``ScoredCapture``s."""

    def __init__(self, recipe: ScoringRecipe) -> None:
        from trafficlm.detect import AlertPolicy
        from trafficlm.model import TrafficModel

        self.recipe = recipe
        # a bad model or adapter directory fails here
        self.model = TrafficModel(recipe.model_dir, recipe.adapter_dir)
        if recipe.int8:
            self.model.quantize()
        self.policy = AlertPolicy.choose(self.model, recipe.threshold, recipe.fpr)

    def score(self, path: str, on_batch: Callable[[CaptureReport], None] | None = None,
              limit: int = MAX_KEPT_FLOWS) -> ScoredCapture:
        """Every flow of ``path`` scored; only the alerted ones kept (at most ``limit``).
        A capture that breaks part-way keeps what was read before the break."""
        from trafficlm.detect import scored_frame

        report = CaptureReport(path)
        kept = KeptFlows(limit)
        try:
            for flows in capture_flows(path, report, self.recipe.flow):
                frame = scored_frame(self.model, flows, path, self.policy)
                kept.add(0, alerted_flows(frame), scored=frame.height)
                if on_batch is not None:
                    on_batch(report)
        except CaptureError as err:  # the file could not be opened or is not a capture
            report.error = err
        return ScoredCapture(report, kept.frame(), kept.flows_scored, kept.not_kept)


class FileScoring(Protocol):
    """Where triage's files are scored: ``LocalScoring`` here, ``RayScoring`` on a cluster."""

    labels: list[str]
    model_metadata: dict[str, list[str]]

    def scored(self, paths: list[str], limit: int = MAX_KEPT_FLOWS
               ) -> Iterator[tuple[int, ScoredCapture]]: ...

    def close(self) -> None: ...


class LocalScoring:
    """Triage's files scored one after another in this process, a progress bar by bytes."""

    def __init__(self, recipe: ScoringRecipe) -> None:
        self.scorer = CaptureScorer(recipe)
        self.labels = self.scorer.model.labels
        self.model_metadata = self.scorer.model.metadata

    def scored(self, paths: list[str], limit: int = MAX_KEPT_FLOWS
               ) -> Iterator[tuple[int, ScoredCapture]]:
        """(index in ``paths``, what triage keeps of it), file by file, in order."""
        progress = Progress(paths)
        try:
            for index, path in enumerate(paths):
                yield index, self.scorer.score(path, lambda r: progress.at(r.disk_bytes), limit)
                progress.file_done(path)
        finally:
            progress.close()

    def close(self) -> None:
        """Nothing to release: the model goes with the process."""
