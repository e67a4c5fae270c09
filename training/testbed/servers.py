"""Real servers in the server namespaces, one program per service as the world says.

Which program serves which service on which server host comes from the run's
``World``; each program is configured from scratch in that host's work
directory (``server_programs``), so nothing on the host is read or changed
(but for one throwaway login account, removed again at the end). The web
application runs beside whichever HTTP server the world chose.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from trafficlm.training.testbed.server_programs import (
    LOGIN_PASSWORD,
    LOGIN_USER,
    PROGRAMS,
    WEBAPP_PORT,
    ServerContext,
)
from trafficlm.training.testbed.shell import TestbedError, in_ns, run, start
from trafficlm.training.testbed.topology import Topology
from trafficlm.training.testbed.website import plan_site, write_site
from trafficlm.training.testbed.world import SUBNET

__all__ = ["LOGIN_PASSWORD", "LOGIN_USER", "Servers", "ThrowawayUser"]


@dataclass
class Servers:
    """Starts every placed program inside its server host's namespace.

    The programs' files live in a scratch directory under /tmp that their own
    users (postgres, www-data, nobody) can reach whatever ``--out`` is (a
    root-only home directory, pytest's 0700 temporary directories); at the end
    their logs and configurations are copied to ``keep`` and the scratch is
    removed."""

    topology: Topology
    keep: Path
    work: Path = field(init=False)  # the scratch directory, made by start()

    def start(self, stack: ExitStack) -> None:
        world = self.topology.world
        self.work = Path(tempfile.mkdtemp(prefix=f"trafficlm-testbed-{self.topology.run_id}-"))
        self.work.chmod(0o755)
        stack.callback(self._collect)
        stack.enter_context(ThrowawayUser())
        hosts = sorted({p.host for p in world.services.values()})
        for host in hosts:
            self._prepare(host)
        for service, placement in world.services.items():
            program = PROGRAMS[placement.program]
            context = self._context(placement.host)
            commands = {program.name: program.command(context)}
            if service == "http":
                commands["webapp"] = [sys.executable, "-m", "trafficlm.training.testbed.webapp",
                                      str(WEBAPP_PORT)]
            for name, args in commands.items():
                process = start(in_ns(self.topology.ns(placement.host), args),
                                context.work / f"{name}.log")
                stack.callback(_stop, process)
        for host in hosts:
            self._wait_listening(host)

    def _collect(self) -> None:
        """Keep every log and configuration (not the site, the data or the keys)."""
        for path in self.work.rglob("*"):
            wanted = path.suffix in (".log", ".conf", ".cf") or path.name.endswith("_config")
            if path.is_file() and wanted and "www" not in path.parts:
                target = self.keep / path.relative_to(self.work)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        shutil.rmtree(self.work, ignore_errors=True)

    def _context(self, host: str) -> ServerContext:
        world = self.topology.world
        return ServerContext(self.work / host, world.address(host), f"{SUBNET}.0/24",
                             world.ftp_passive, world.logins)

    def _prepare(self, host: str) -> None:
        """The host's work directory: web site, FTP files, TLS certificate."""
        work = self.work / host
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o755)
        world = self.topology.world
        if world.services["http"].host == host:
            write_site(plan_site(world.profile, world.seed), work / "www")
        ftp = work / "ftp"
        ftp.mkdir(exist_ok=True)
        for i in range(5):
            (ftp / f"report{i}.txt").write_text("quarterly numbers\n" * 2000 * (i + 1))
        run(["chmod", "-R", "a+rwX", str(ftp)])
        empty = work / "empty"
        empty.mkdir(exist_ok=True)
        empty.chmod(0o755)
        if not (work / "cert.pem").exists():
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=www.testbed.lan", "-keyout", str(work / "key.pem"),
                 "-out", str(work / "cert.pem")])

    def _wait_listening(self, host: str, seconds: float = 20.0) -> None:
        world, namespace = self.topology.world, self.topology.ns(host)
        wanted = [port for p in world.services.values() if p.host == host
                  for port in PROGRAMS[p.program].ports]
        deadline = time.monotonic() + seconds
        while True:
            listening = {"tcp": run(in_ns(namespace, ["ss", "-Hltn"])).stdout,
                         "udp": run(in_ns(namespace, ["ss", "-Hlun"])).stdout}
            missing = [w for w in wanted if f":{w.split('/')[1]} " not in listening[w[:3]]]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TestbedError(f"servers on {host} not listening after {seconds:.0f} s: "
                                   f"{', '.join(missing)} (logs in {self.keep / host})")
            time.sleep(0.2)


class ThrowawayUser:
    """A login account for SSH and FTP, created for the run unless it already exists.

    Runs may overlap (``testbed many`` beside a test run), so the account is
    shared under a lock: the first run that needs it creates it, the last one
    out removes it, and only if a run created it. Runs that died without
    leaving (SIGKILL) are recognised by their process ids and no longer count."""

    def __enter__(self) -> ThrowawayUser:
        with _user_lock() as state:
            if not state["pids"]:
                state["created"] = run(["id", LOGIN_USER], check=False).returncode != 0
                if state["created"]:
                    run(["useradd", "--no-create-home", "--home-dir", "/tmp", "--shell",
                         "/bin/bash", LOGIN_USER])
            state["pids"].append(os.getpid())
        subprocess.run(["chpasswd"], input=f"{LOGIN_USER}:{LOGIN_PASSWORD}\n", text=True,
                       check=True, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        with _user_lock() as state:
            state["pids"] = [pid for pid in state["pids"] if pid != os.getpid()]
            if not state["pids"] and state["created"]:
                run(["userdel", LOGIN_USER], check=False)
                state["created"] = False


USER_STATE = Path("/run/trafficlm-testbed-user.json")


@contextlib.contextmanager
def _user_lock():
    """The account's shared state (the runs using it, whether one created it), locked."""
    with open(USER_STATE.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(USER_STATE.read_text()) if USER_STATE.exists() else {}
        except ValueError:
            state = {}
        state = {"pids": [pid for pid in state.get("pids", []) if _alive(pid)],
                 "created": bool(state.get("created"))}
        yield state
        if state["pids"]:
            USER_STATE.write_text(json.dumps(state))
        else:
            USER_STATE.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
