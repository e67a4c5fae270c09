"""Running commands on the host and inside the testbed's namespaces."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from trafficlm.errors import TrafficLMError


class TestbedError(TrafficLMError):
    """The testbed cannot run here (not root, no namespaces, a tool missing, ...)."""


def run(args: list[str], *, check: bool = True, timeout: float = 60,
        log: Path | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion; its output goes to ``log`` when given."""
    try:
        if log is None:
            return subprocess.run(args, check=check, capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ {shlex.join(args)}\n")
            out.flush()
            return subprocess.run(args, check=check, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout, cwd=cwd)
    except FileNotFoundError as err:
        raise TestbedError(f"{args[0]}: not installed") from err
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or "").strip().splitlines()[-1:] or [f"exit {err.returncode}"]
        raise TestbedError(f"{shlex.join(args)} failed: {detail[0]}") from err


def in_ns(namespace: str, args: list[str]) -> list[str]:
    """The command line that runs ``args`` inside ``namespace``."""
    return ["ip", "netns", "exec", namespace, *args]


def start(args: list[str], log: Path) -> subprocess.Popen:
    """Start a long-running process (a server, tcpdump) with its output in ``log``."""
    out = open(log, "a", encoding="utf-8")  # noqa: SIM115 - owned by the process record
    out.write(f"$ {shlex.join(args)}\n")
    out.flush()
    try:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except FileNotFoundError as err:
        raise TestbedError(f"{args[0]}: not installed") from err
    finally:
        out.close()
