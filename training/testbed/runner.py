"""One testbed run: set up, capture every scenario, label the flows, write the manifest.

Layout of the output directory:

    manifest.json              seed, tool versions, per-scenario timings and outcome
    captures/<name>.pcap       one capture per step (benign, each attack, mixed)
    labels/<name>.csv          CIC-IDS2017-style labels for every flow of that capture
    logs/                      every command's output, the servers' logs
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from trafficlm.training.testbed import packages
from trafficlm.training.testbed.labels import AttackWindow, label_capture, now_ns
from trafficlm.training.testbed.plan import Plan, plan_run
from trafficlm.training.testbed.scenarios import PASSWORDS, Budget, Scenario
from trafficlm.training.testbed.server_programs import LOGIN_PASSWORD, PROGRAMS
from trafficlm.training.testbed.servers import Servers
from trafficlm.training.testbed.shell import TestbedError, in_ns, start
from trafficlm.training.testbed.topology import Topology, check_can_run
from trafficlm.training.testbed.webapp import PASSWORD as WEB_PASSWORD
from trafficlm.training.testbed.website import plan_site
from trafficlm.training.testbed.wide_scenarios import DIRECTORY_WORDS
from trafficlm.training.testbed.world import SPOOF_RANGE, World, draw_world

MAX_COMMANDS_RECORDED = 12  # per scenario and step; the count of all of them is recorded too


@dataclass
class RunOptions:
    out: Path
    scenarios: list[str] | None = None  # None: every scenario (wide: every slot)
    seconds: float = 20.0  # per step
    seed: int = 0
    force: bool = False
    install: bool = True
    mixed: bool = True
    profile: str = "lab"


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
    attacks: list[dict] = field(default_factory=list)  # per attack: variant, host, commands
    background: list[dict] = field(default_factory=list)  # per benign scenario: host, commands


def check_output_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TestbedError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise TestbedError(f"{out} exists and is not empty (use --force to write into it)")


def run_testbed(options: RunOptions, say=print) -> dict:
    """Run the testbed and return the manifest (also written to OUT/manifest.json)."""
    options = replace(options, out=options.out.resolve())  # servers' configs name it absolutely
    world = draw_world(options.profile, options.seed)
    plan = plan_run(options.profile, options.seed, options.scenarios)  # names checked first
    check_output_dir(options.out, options.force)
    check_can_run()
    for sub in ("captures", "labels", "logs"):
        (options.out / sub).mkdir(parents=True, exist_ok=True)
    logs = options.out / "logs"
    server_tools = {t for p in world.services.values() for t in PROGRAMS[p.program].tools}
    if world.applies_conditions:
        server_tools |= set(packages.CONDITIONS)
    needed = set(packages.INFRASTRUCTURE) | server_tools | plan.tools()
    missing = packages.ensure_tools(needed, options.install, logs / "install.log")
    broken = [t for t in (*packages.INFRASTRUCTURE, *sorted(server_tools)) if t in missing]
    if broken:
        raise TestbedError(missing[broken[0]])
    plan = plan.runnable(set(missing))
    for reason in plan.skipped.values():
        say(f"skipped: {reason}")
    manifest = {"seed": options.seed, "profile": options.profile, "seconds": options.seconds,
                "started": time.time(), "complete": False,
                **{h.name: h.address for h in world.hosts}, "conditions": world.record(),
                "tools": packages.tool_versions(needed - set(missing)),
                "skipped": plan.skipped, "steps": []}
    lifetime = (len(plan.attacks) + 3) * (options.seconds + 10) * 2 + 600
    with _signals_end_the_run(), Topology(world, logs, lifetime) as topology, \
            ExitStack() as stack:
        Servers(topology, logs / "servers").start(stack)
        run = _Run(topology, options, logs, say)
        manifest["run_id"] = topology.run_id
        for result in run.all_steps(plan):
            manifest["steps"].append(result.__dict__)
            _write_manifest(options.out, manifest)
        manifest["foreign_source_drops"] = topology.foreign_source_drops()
    manifest["complete"] = True
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


def _write_wordlists(logs: Path, rng: random.Random, pages: tuple[str, ...]) -> Path:
    """The password list (the real passwords in it, late) and, beside it, the directory
    list web directory scans use (common names and the site's own sections)."""
    wordlist = logs / "wordlist.txt"
    words = rng.sample(PASSWORDS, len(PASSWORDS))
    position = rng.randrange(len(words) // 2, len(words))  # found, but late
    words[position:position] = [LOGIN_PASSWORD, WEB_PASSWORD]
    wordlist.write_text("\n".join(words) + "\n", encoding="utf-8")
    directories = [*DIRECTORY_WORDS, *(p.split("/")[1] for p in pages[:40])]
    (logs / "wordlist.txt.dirs").write_text(
        "\n".join(rng.sample(directories, len(directories))) + "\n", encoding="utf-8")
    return wordlist


def _spoofed_sources(rng: random.Random, count: int = 64) -> tuple[str, ...]:
    """Addresses floods may forge, all inside the spoofed range the switch swallows."""
    spoof = ipaddress.ip_network(SPOOF_RANGE)
    return tuple(str(spoof.network_address + rng.randrange(1, spoof.num_addresses - 1))
                 for _ in range(count))


class _Run:
    """The steps of one run, sharing the topology, the wordlists and the benign rotation."""

    def __init__(self, topology: Topology, options: RunOptions, logs: Path, say) -> None:
        self.topology, self.options, self.logs, self.say = topology, options, logs, say
        self.world: World = topology.world
        rng = random.Random(options.seed)
        site = plan_site(self.world.profile, options.seed)
        self.wordlist = _write_wordlists(logs, rng, site.page_paths)
        self.pages, self.search = site.page_paths, site.search
        self.assets = {p.path: p.assets for p in site.pages}
        self.targets = {s: self.world.service_address(s) for s in self.world.services}
        self.spoofed = _spoofed_sources(rng) if self.world.applies_conditions else ()
        self.macs = topology.macs()
        self.rng = random.Random(f"{options.seed}/hosts")
        self.step_no = 0

    def all_steps(self, plan: Plan):
        benign = plan.benign
        yield self.step("benign", [], benign)
        for slot, attack in plan.attacks:
            yield self.step(slot, [attack], [benign[self.step_no % len(benign)]])
        mixed = plan.mixed()
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
            threads = [self._background(s, self._client(i), duration, log, result)
                       for i, s in enumerate(background)]
            for attack in attacks:
                host = self._attacker()
                start_ns = now_ns()
                probe = self._probe_later(attack, per_attack, result)
                code, record = self._commands(attack, host, per_attack, log)
                windows.append(AttackWindow(attack.label, start_ns, now_ns(),
                                            self.world.address(host)))
                result.attacks.append(record)
                if probe:
                    probe.join()
                if code not in (0, 124):
                    result.detail += f"{attack.name} exited {code}; "
                time.sleep(2)
            for thread in threads:
                thread.join()
        result.ended = time.time()
        counts = label_capture(capture, self.options.out / "labels" / f"{name}.csv", windows)
        result.flows = dict(counts)
        missing = [a.label for a in attacks if not counts.get(a.label)]
        if missing:
            result.status = "failed"
            result.detail += f"no flows labelled {', '.join(missing)} (see {log})"
            self.say(f"    failed: {result.detail}")
        return result

    def _attacker(self) -> str:
        return self.rng.choice(self.world.of_role("attacker")).name

    def _client(self, index: int) -> str:
        clients = self.world.of_role("client")
        return clients[(self.step_no + index) % len(clients)].name

    def _budget(self, scenario: Scenario, host: str, seconds: float) -> Budget:
        rng = random.Random(f"{self.options.seed}/{scenario.name}/{self.step_no}")
        return Budget(rng, seconds, str(self.wordlist), self.targets, self.pages, self.spoofed,
                      self.assets, self.world.address(host), self.macs, self.search)

    def _commands(self, scenario: Scenario, host: str, seconds: float,
                  log: Path) -> tuple[int, dict]:
        """Run a scenario's commands in its host's namespace until its time is up."""
        deadline = time.monotonic() + seconds
        code = 0
        namespace = self.topology.ns(host)
        ran: list[str] = []
        for command in scenario.build(self._budget(scenario, host, seconds)):
            remaining = deadline - time.monotonic()
            if remaining <= 0.2:
                break
            line = " ".join(command)
            ran.append(line)
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"$ [{host}] {line}\n")
                out.flush()
                status = subprocess.run(
                    in_ns(namespace, ["timeout", "-s", "INT", "-k", "3", f"{remaining:.1f}",
                                      *command]),
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    # where tools leave their state: hydra.restore in the working directory,
                    # ncrack's restore files and other dotfiles under HOME
                    cwd=log.parent, env={**os.environ, "HOME": str(log.parent)},
                    timeout=remaining + 10).returncode
            code = code or (status if status not in (0, 124) else 0)
        tools = [c for c in ran if not c.startswith("sleep ")]
        return code, {"scenario": scenario.name, "label": scenario.label, "host": host,
                      "tools": sorted(set(scenario.tools)),
                      "commands": tools[:MAX_COMMANDS_RECORDED], "commands_total": len(tools)}

    def _background(self, scenario: Scenario, host: str, seconds: float, log: Path,
                    result: StepResult) -> threading.Thread:
        def run() -> None:
            result.background.append(self._commands(scenario, host, seconds, log)[1])

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _probe_later(self, attack: Scenario, seconds: float,
                     result: StepResult) -> threading.Thread | None:
        """For a DoS, check halfway through whether a client can still load the home page."""
        if not attack.label.startswith("DoS"):
            return None

        def probe() -> None:
            time.sleep(seconds / 2)
            check = subprocess.run(in_ns(self.topology.ns(self._client(0)), [
                "curl", "-s", "-o", "/dev/null", "--max-time", "3",
                f"http://{self.targets['http']}/"]), capture_output=True, timeout=20)
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
