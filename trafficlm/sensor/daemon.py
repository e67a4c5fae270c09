"""``trafficlm sensor``: the live pipeline, its signals and its shutdown.

Start-up does everything that can fail (model, alert file, capture socket,
metrics port, privilege drop) before the first packet, so bad setup ends the
process at once with one line. Then the capture and flow stages run as
threads and the main thread scores, builds sessions and writes alerts.
Signals only set flags the main loop reads: SIGHUP reopens the EVE file and
reloads the model; SIGTERM/SIGINT stop capture, flush every open flow, score
all of them, report every held session, write a last stats event and exit 0.
"""

from __future__ import annotations

import os
import pwd
import queue
import signal
import threading
import time

from trafficlm.detect import scored_frame
from trafficlm.errors import TrafficLMError
from trafficlm.eve import eve_lines, stats_event
from trafficlm.flows import FlowConfig
from trafficlm.live.afpacket import RingCapture, RingConfig
from trafficlm.model import TrafficModel
from trafficlm.sensor.config import SensorConfig
from trafficlm.sensor.evefile import EveFile
from trafficlm.sensor.live_sessions import LiveSessions
from trafficlm.sensor.metrics import Metrics
from trafficlm.sensor.metrics_server import MetricsServer
from trafficlm.sensor.stages import RECORD_QUEUE_BLOCKS, CaptureStage, FlowStage, PendingFlows

IDLE_WAIT_S = 0.05
SESSION_CHECK_S = 1.0  # how often held sessions are checked for being due
RETRY_WRITE_S = 1.0  # how often lines held back by a full disk are tried again
SCORING_WAIT_S = 0.5  # flows wait this long for company: one call for many flows is cheaper


class SensorError(TrafficLMError):
    """The sensor cannot start as configured."""


class Sensor:
    def __init__(self, config: SensorConfig, say=print) -> None:
        self.config, self.say = config, say
        self.metrics = Metrics()
        self.ring = RingCapture(config.iface, config.bpf, RingConfig(
            block_kib=1024, blocks=config.ring_mb, block_timeout_ms=config.block_timeout_ms,
            promiscuous=config.promiscuous))
        self.eve = EveFile(config.eve, self.metrics, config.max_unwritten_lines)
        self.metrics_server = self._serve_metrics()
        self.model = self._load_model()
        if config.user:
            _drop_privileges(config.user, self.eve)
        self.sessions = LiveSessions(config.session_gap_s, config.session_report_s,
                                     config.max_session_flows, floors=config.floors())
        self.pending = PendingFlows(config.max_pending_flows, self.metrics)
        self.stop = threading.Event()
        self.capture_done = threading.Event()
        self.hangup = False
        self._last_scored = self._next_retry = self._next_session_check = time.monotonic()
        self._next_stats = time.monotonic() + config.stats_interval_s

    def _serve_metrics(self):
        address = self.config.metrics_address()
        if address is None:
            return None
        try:
            return MetricsServer(self.metrics, *address)
        except OSError as err:
            raise SensorError(f"metrics: cannot listen on {self.config.metrics}: "
                              f"{err.strerror or err}") from None

    def run(self) -> int:
        records: queue.Queue = queue.Queue(RECORD_QUEUE_BLOCKS)
        capture = CaptureStage(self.ring, records, self.metrics, self.stop, self.say)
        flows = FlowStage(FlowConfig(idle_timeout_s=self.config.idle_timeout_s,
                                     active_timeout_s=self.config.active_timeout_s,
                                     max_flows=self.config.max_flows),
                          records, self.pending, self.metrics, self.capture_done)
        self._install_signals()
        capture.start()
        flows.start()
        self.say(f"capturing on {self.config.iface}, alerts to {self.config.eve}")
        while not self.stop.is_set():
            self._tick()
        return self._shut_down(capture, flows)

    def _tick(self) -> None:
        """One turn of the main loop: signals, scoring, due sessions, retries, stats."""
        now = time.monotonic()
        self._handle_hangup()
        waited = now - self._last_scored >= SCORING_WAIT_S
        if (len(self.pending) >= self.config.scoring_batch or waited) and self._score_some():
            self._last_scored = now
        else:
            time.sleep(IDLE_WAIT_S)
        if now >= self._next_session_check:  # seconds matter to sessions, not milliseconds
            self._report(self.sessions.due(time.time_ns()))
            self._next_session_check = now + SESSION_CHECK_S
        if self.eve.backlog and now >= self._next_retry:  # the disk was full
            self.eve.flush()
            self._next_retry = now + RETRY_WRITE_S
        if self.config.stats_interval_s and now >= self._next_stats:
            self._write_stats()
            self._next_stats = now + self.config.stats_interval_s

    def _score_some(self) -> bool:
        flows = self.pending.take(self.config.scoring_batch)
        if flows is None:
            return False
        started = time.monotonic()
        self.sessions.add(scored_frame(self.model, flows, self.config.iface))
        self.metrics.observe_latency(time.monotonic() - started)
        self.metrics.add("flows_scored", len(flows))
        self.metrics.add("packets_scored", int(flows.packets_fwd.sum() + flows.packets_bwd.sum()))
        self.metrics.set("open_session_flows", len(self.sessions))
        return True

    def _report(self, sessions) -> None:
        self.metrics.set("open_session_flows", len(self.sessions))
        if sessions is None:
            return
        for verdict, count in sessions["verdict"].value_counts().iter_rows():
            self.metrics.add("alerts", count, verdict)
        self.metrics.set_total("sessions_reported_early", self.sessions.reported_early)
        for rule, count in self.sessions.held_back.items():
            self.metrics.set_total("sessions_held_back", count, rule)
        self.metrics.set_total("sessions_context_evicted", self.sessions.context_evicted)
        self.eve.write(eve_lines(sessions, self.model.labels, self.model.metadata))

    def _write_stats(self) -> None:
        self.eve.write([stats_event(self.metrics.snapshot())])

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "hangup", True))

    def _handle_hangup(self) -> None:
        """logrotate moved the file, or a new model was installed: pick both up."""
        if not self.hangup:
            return
        self.hangup = False
        try:
            self.eve.reopen()
        except TrafficLMError as err:
            self.say(f"SIGHUP: {err}; still writing to the old file")
        try:
            self.model = self._load_model()
            adapter = f" with adapter {self.config.adapter}" if self.config.adapter else ""
            self.say(f"SIGHUP: reopened {self.config.eve}, reloaded {self.config.model}"
                     f"{adapter}")
        except Exception as err:  # a half-copied model must not end the daemon
            reason = err if isinstance(err, TrafficLMError) else f"{type(err).__name__}: {err}"
            self.say(f"SIGHUP: keeping the current model: {reason}")

    def _load_model(self) -> TrafficModel:
        return TrafficModel(self.config.model, self.config.adapter or None)

    def _shut_down(self, capture: CaptureStage, flows: FlowStage) -> int:
        capture.join()
        self.capture_done.set()
        while flows.is_alive() or len(self.pending):
            if not self._score_some():
                flows.join(IDLE_WAIT_S)
        self._report(self.sessions.take_all())
        capture.read_kernel_drops()
        self._write_stats()
        self.eve.close()
        self.ring.close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        self.say(f"stopped: {self.metrics.value('flows_scored')} flows scored, "
                 f"{self.metrics.value('alerts')} alerts")
        return 0


def _drop_privileges(user: str, eve: EveFile) -> None:
    """Become ``user`` now that the capture socket is open (it stays usable); the EVE
    file, opened as root, is handed over first."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SensorError(f"user {user!r}: no such user to drop privileges to") from None
    eve.hand_to(entry.pw_uid, entry.pw_gid, user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
