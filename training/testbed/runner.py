"""One testbed run: set up, capture every scenario, label the flows, write the manifest.

Layout of the output directory:

    manifest.json              seed, tool versions, per-scenario timings and outcome
    captures/<name>.pcap       one capture per step (benign, each attack, mixed)
    labels/<name>.csv          CIC-IDS2017-style labels for every flow of that capture
    logs/                      every command's output, the servers' logs
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from trafficlm.training.testbed import packages
from trafficlm.training.testbed.labels import AttackWindow, label_capture, now_ns
from trafficlm.training.testbed.scenarios import (
    BENIGN_SCENARIOS,
    MIXED_ATTACKS,
    PASSWORDS,
    SCENARIOS,
    Budget,
    Scenario,
)
from trafficlm.training.testbed.servers import LOGIN_PASSWORD, Servers
from trafficlm.training.testbed.shell import TestbedError, in_ns, start
from trafficlm.training.testbed.topology import Topology, address, check_can_run
from trafficlm.training.testbed.webapp import PASSWORD as WEB_PASSWORD


@dataclass
class RunOptions:
    out: Path
    scenarios: list[str] | None = None  # None: every scenario
    seconds: float = 20.0  # per step
    seed: int = 0
    force: bool = False
    install: bool = True
    mixed: bool = True


@dataclass
class StepResult:
    name: str
    label: str
    started: float = 0.0
    ended: float = 0.0
    status: str = "ok"
    detail: str = ""
    flows: dict[str, int] = field(default_factory=dict)
    service_available: bool | None = None  # for DoS: could a client still fetch a page?


def check_output_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TestbedError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise TestbedError(f"{out} exists and is not empty (use --force to write into it)")


def choose(names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS.values())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise TestbedError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in names]


def run_testbed(options: RunOptions, say=print) -> dict:
    """Run the testbed and return the manifest (also written to OUT/manifest.json)."""
    check_output_dir(options.out, options.force)
    check_can_run()
    for sub in ("captures", "labels", "logs"):
        (options.out / sub).mkdir(parents=True, exist_ok=True)
    logs = options.out / "logs"
    chosen = choose(options.scenarios)
    needed = set(packages.INFRASTRUCTURE) | {t for s in chosen for t in s.tools}
    missing = packages.ensure_tools(needed, options.install, logs / "install.log")
    broken = [t for t in packages.INFRASTRUCTURE if t in missing]
    if broken:
        raise TestbedError(missing[broken[0]])
    runnable = [s for s in chosen if not any(t in missing for t in s.tools)]
    skipped = {s.name: missing[next(t for t in s.tools if t in missing)]
               for s in chosen if s not in runnable}
    for reason in skipped.values():
        say(f"skipped: {reason}")
    manifest = {"seed": options.seed, "seconds": options.seconds,
                "attacker": address("attacker"), "server": address("server"),
                "client": address("client"), "tools": packages.tool_versions(needed - set(missing)),
                "skipped": skipped, "steps": []}
    with _signals_end_the_run(), Topology() as topology, ExitStack() as stack:
        Servers(topology, logs / "servers").start(stack)
        run = _Run(topology, options, logs, say)
        manifest["run_id"] = topology.run_id
        for result in run.all_steps(runnable):
            manifest["steps"].append(result.__dict__)
            _write_manifest(options.out, manifest)
    _write_manifest(options.out, manifest)
    return manifest


def _write_manifest(out: Path, manifest: dict) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")


@contextmanager
def _signals_end_the_run():
    """SIGTERM and SIGINT unwind through every cleanup (namespaces, servers, user)."""
    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Run:
    """The steps of one run, sharing the topology, the wordlist and the benign rotation."""

    def __init__(self, topology: Topology, options: RunOptions, logs: Path, say) -> None:
        self.topology, self.options, self.logs, self.say = topology, options, logs, say
        self.wordlist = logs / "wordlist.txt"
        rng = random.Random(options.seed)
        words = rng.sample(PASSWORDS, len(PASSWORDS))
        position = rng.randrange(len(words) // 2, len(words))  # found, but late
        words[position:position] = [LOGIN_PASSWORD, WEB_PASSWORD]
        self.wordlist.write_text("\n".join(words) + "\n", encoding="utf-8")
        self.step_no = 0

    def all_steps(self, scenarios: list[Scenario]):
        benign = [s for s in scenarios if not s.is_attack] or BENIGN_SCENARIOS[:1]
        attacks = [s for s in scenarios if s.is_attack]
        yield self.step("benign", [], benign)
        for attack in attacks:
            yield self.step(attack.name, [attack], [benign[self.step_no % len(benign)]])
        mixed = [s for s in attacks if s.name in MIXED_ATTACKS] or attacks[:3]
        if self.options.mixed and mixed:
            yield self.step("mixed", mixed, benign, per_attack=self.options.seconds / 2)

    def step(self, name: str, attacks: list[Scenario], background: list[Scenario],
             per_attack: float | None = None) -> StepResult:
        """Capture one step: background benign traffic throughout, attacks one after another."""
        self.step_no += 1
        seconds = self.options.seconds
        per_attack = per_attack or seconds
        duration = max(seconds, len(attacks) * (per_attack + 2))
        label = attacks[0].label if len(attacks) == 1 else ("mixed" if attacks else "BENIGN")
        result = StepResult(name=name, label=label, started=time.time())
        self.say(f"[{self.step_no}] {name}: {duration:.0f} s")
        capture = self.options.out / "captures" / f"{name}.pcap"
        log = self.logs / f"{name}.log"
        windows: list[AttackWindow] = []
        with self._capture(capture, log):
            threads = [self._background(s, duration, log) for s in background]
            for attack in attacks:
                start_ns = now_ns()
                probe = self._probe_later(attack, per_attack, result)
                code = self._commands(attack, per_attack, log)
                windows.append(AttackWindow(attack.label, start_ns, now_ns()))
                if probe:
                    probe.join()
                if code not in (0, 124):
                    result.detail += f"{attack.name} exited {code}; "
                time.sleep(2)
            for thread in threads:
                thread.join()
        result.ended = time.time()
        counts = label_capture(capture, self.options.out / "labels" / f"{name}.csv",
                               address("attacker"), windows)
        result.flows = dict(counts)
        missing = [a.label for a in attacks if not counts.get(a.label)]
        if missing:
            result.status = "failed"
            result.detail += f"no flows labelled {', '.join(missing)} (see {log})"
            self.say(f"    failed: {result.detail}")
        return result

    def _commands(self, scenario: Scenario, seconds: float, log: Path) -> int:
        """Run a scenario's commands in its namespace until its time is up."""
        rng = random.Random(f"{self.options.seed}/{scenario.name}")
        budget = Budget(rng, seconds, str(self.wordlist))
        deadline = time.monotonic() + seconds
        code = 0
        namespace = self.topology.ns(scenario.host)
        for command in scenario.build(budget):
            remaining = deadline - time.monotonic()
            if remaining <= 0.2:
                break
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"$ [{scenario.host}] {' '.join(command)}\n")
                out.flush()
                status = subprocess.run(
                    in_ns(namespace, ["timeout", "-s", "INT", "-k", "3", f"{remaining:.1f}",
                                      *command]),
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=log.parent,  # where tools leave their state (hydra.restore)
                    timeout=remaining + 10).returncode
            code = code or (status if status not in (0, 124) else 0)
        return code

    def _background(self, scenario: Scenario, seconds: float, log: Path) -> threading.Thread:
        thread = threading.Thread(target=self._commands, args=(scenario, seconds, log),
                                  daemon=True)
        thread.start()
        return thread

    def _probe_later(self, attack: Scenario, seconds: float,
                     result: StepResult) -> threading.Thread | None:
        """For a DoS, check halfway through whether a client can still load the home page."""
        if not attack.label.startswith("DoS"):
            return None

        def probe() -> None:
            time.sleep(seconds / 2)
            check = subprocess.run(in_ns(self.topology.ns("client"), [
                "curl", "-s", "-o", "/dev/null", "--max-time", "3",
                f"http://{address('server')}/"]), capture_output=True, timeout=20)
            result.service_available = check.returncode == 0

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        return thread

    @contextmanager
    def _capture(self, path: Path, log: Path):
        process = start(in_ns(self.topology.switch, [
            "tcpdump", "-i", "br0", "-n", "-U", "-s", "0", "-w", str(path)]), log)
        deadline = time.monotonic() + 10
        while "listening on" not in log.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise TestbedError(f"tcpdump did not start (see {log})")
            time.sleep(0.05)
        try:
            yield
        finally:
            time.sleep(0.5)  # let the last packets reach the file
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
