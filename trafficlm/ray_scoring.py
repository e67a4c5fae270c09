"""Triage's scoring on a Ray cluster: capture files are tasks, workers are actors.

Each worker is an actor that loads the model once and turns whole capture
files into ``ScoredCapture``s (flows, tokens, model, evidence; only the
alerted flows come back). The driver keeps nothing else, so it builds the
same sessions, EVE, HTML and extracts as a run in one process: ``KeptFlows``
orders what arrives by input position, whichever worker finishes first.

A worker that dies (killed, out of memory, its node lost) is replaced and
its file is scored again, up to ``MAX_ATTEMPTS`` times; a file whose scoring
raises is named as failed and the run goes on. Files are read by path on the
worker, from the driver's working directory: on a cluster of several
machines the captures (and a ``--model`` other than the bundled one) must sit
at the same path on every node, as on a shared file system.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import ray
from ray.exceptions import RayActorError, RayTaskError
from tqdm import tqdm

from trafficlm.capture import CaptureReport
from trafficlm.commands.options import warn
from trafficlm.errors import CaptureError, TrafficLMError
from trafficlm.triage_limits import MAX_KEPT_FLOWS
from trafficlm.triage_scoring import CaptureScorer, ScoredCapture, ScoringRecipe

MAX_ATTEMPTS = 3  # a file whose worker dies this many times is named as failed
LOCAL = "local"


class ScoringWorker:
    """One Ray actor: a loaded model that scores the capture files it is given."""

    def __init__(self, recipe: ScoringRecipe) -> None:
        self.problem: TrafficLMError | None = None
        try:
            self.scorer = CaptureScorer(recipe)
        except TrafficLMError as err:  # a bad model: said once, by ``describe``, not a crash
            self.problem = err

    def describe(self) -> tuple[list[str], dict[str, list[str]]]:
        """(the model's labels, its metadata), once it loaded; else the reason it did not."""
        if self.problem is not None:
            raise self.problem
        return self.scorer.model.labels, self.scorer.model.metadata

    def score(self, path: str, cwd: str, limit: int) -> ScoredCapture:
        """``path`` as the driver named it, read from the driver's working directory
        ``cwd`` (an actor runs one task at a time), so every message names the file as the
        user did and results equal a run in one process."""
        try:
            os.chdir(cwd)
        except OSError as err:
            return _failed(path, f"the driver's working directory {cwd} is not on this "
                                 f"worker's node: {err.strerror}")
        return self.scorer.score(path, limit=limit)


@dataclass
class _Task:
    index: int  # position in the run's inputs
    attempt: int = 1


class RayScoring:
    """Triage's files scored by ``workers`` actors on the Ray cluster at ``address``
    (``"local"``: a Ray instance started here, one worker per core by default)."""

    def __init__(self, recipe: ScoringRecipe, address: str, workers: int | None = None) -> None:
        # Ray prints what it hears from the cluster ("a worker died ...") to sys.stdout from
        # a thread of its own; stdout is the report's, so until close() that goes to stderr
        self._stdout = sys.stdout
        sys.stdout = sys.stderr
        self._temp_dir = None
        try:
            self._temp_dir = self._connect(address, workers)
        except BaseException:
            self.close()
            raise
        self._recipe = recipe
        self._actor = ray.remote(num_cpus=1)(ScoringWorker)
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        try:
            self._workers = [self._actor.remote(recipe) for _ in range(count)]
            self.labels, self.model_metadata = _get(self._workers[0].describe.remote())
            for worker in self._workers[1:]:
                _get(worker.describe.remote())
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _connect(address: str, workers: int | None) -> str | None:
        """Join the cluster at ``address`` or start a local one; the local one's temp dir."""
        quiet = {"include_dashboard": False, "log_to_driver": False,
                 "logging_level": logging.ERROR}
        if address != LOCAL:
            ray.init(address=address, **quiet)
            return None
        temp_dir = tempfile.mkdtemp(prefix="trafficlm-ray-")
        ray.init(address=LOCAL, num_cpus=workers or os.cpu_count() or 1, _temp_dir=temp_dir,
                 **quiet)
        return temp_dir

    def scored(self, paths: list[str], limit: int = MAX_KEPT_FLOWS
               ) -> Iterator[tuple[int, ScoredCapture]]:
        """(index in ``paths``, what triage keeps of it), as workers finish them."""
        cwd = os.getcwd()
        waiting = deque(_Task(i) for i in _largest_first(paths))
        idle = list(self._workers)
        running: dict[ray.ObjectRef, tuple[object, _Task]] = {}
        bar = tqdm(total=len(paths), unit="file", desc="triage", leave=False, disable=None)
        packets = 0
        try:
            while waiting or running:
                while idle and waiting:
                    worker, task = idle.pop(), waiting.popleft()
                    running[worker.score.remote(paths[task.index], cwd, limit)] = (worker, task)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                worker, task = running.pop(ref)
                result = self._collect(ref, worker, task, paths, waiting, idle)
                if result is not None:
                    packets += result.report.packets
                    bar.update(1)
                    bar.set_postfix(packets=f"{packets:,}")
                    yield task.index, result
        finally:
            bar.close()

    def _collect(self, ref: ray.ObjectRef, worker: object, task: _Task, paths: list[str],
                 waiting: deque, idle: list) -> ScoredCapture | None:
        """A finished task's result; None when its worker died and the file goes again."""
        path = paths[task.index]
        try:
            result = ray.get(ref)
        except RayActorError as err:
            idle.append(self._replace(worker))
            if task.attempt < MAX_ATTEMPTS:
                warn(f"{path}: its Ray worker died ({type(err).__name__}); scoring it again "
                     f"(attempt {task.attempt + 1} of {MAX_ATTEMPTS})")
                waiting.appendleft(_Task(task.index, task.attempt + 1))
                return None
            return _failed(path, f"its Ray worker died {MAX_ATTEMPTS} times")
        except RayTaskError as err:
            idle.append(worker)
            return _failed(path, f"scoring failed on a Ray worker: {err.cause!r}")
        idle.append(worker)
        return result

    def _replace(self, dead: object) -> object:
        """A fresh worker in place of a dead one (its model loads again)."""
        ray.kill(dead, no_restart=True)
        fresh = self._actor.remote(self._recipe)
        self._workers[self._workers.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        """Leave the cluster (a local one stops) and remove the local one's files."""
        ray.shutdown()
        sys.stdout = self._stdout
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)


def _largest_first(paths: list[str]) -> list[int]:
    """Indexes of ``paths``, biggest file first: one large capture handed out last would
    keep one worker busy while the others idle (results are ordered by index anyway)."""
    def size(index: int) -> int:
        try:
            return os.path.getsize(paths[index])
        except OSError:  # the worker names what is wrong with it
            return 0

    return sorted(range(len(paths)), key=size, reverse=True)


def _get(ref: ray.ObjectRef) -> object:
    """``ray.get``, with the worker's own TrafficLMError (a bad model) raised as itself."""
    try:
        return ray.get(ref)
    except RayTaskError as err:
        if isinstance(err.cause, TrafficLMError):
            raise err.cause from None
        raise


def _failed(path: str, why: str) -> ScoredCapture:
    report = CaptureReport(path)
    report.error = CaptureError(path, why)
    return ScoredCapture(report, pl.DataFrame())
