"""Sensor benchmark: the highest replay rate at which the live sensor scores every flow.

One sensor runs on a veth pair in a private network namespace (root needed);
tcpreplay injects a capture at rising packet rates, ``--seconds`` per step.
After each step the sensor is given time to finish (short idle timeout), and
the step passes when nothing was shed or dropped (kernel, queue or scoring).
The baseline, measured in the same run on the same capture, is offline
``trafficlm triage`` (packets/s from file to alerts), so the ratio says what
the live path costs on this machine.

    sudo python bench/sensor.py [--capture pcaps/testbed-mixed.pcap] [--seconds 8]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from live_link import REPLAY_END, LiveLink, link_name  # noqa: E402

RATES = (2_000, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000)
LOSSES = ("packets_kernel_dropped_total", "packets_dropped_total", "flows_shed_total")
CONFIG = "idle_timeout_s = 3.0\nsession_gap_s = 2.0\nsession_report_s = 5.0\n"


def metric_sums(link: LiveLink) -> dict[str, float]:
    text = link.run("curl", "-s", "127.0.0.1:9781/metrics").stdout
    sums: dict[str, float] = {}
    for name, value in re.findall(r"^trafficlm_sensor_(\w+?)(?:\{[^}]*\})? (\S+)$", text, re.M):
        sums[name] = sums.get(name, 0.0) + float(value)
    return sums


def settle(link: LiveLink, limit_s: float = 60) -> None:
    """Wait until the sensor has no open, pending or queued work."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        m = metric_sums(link)
        if m.get("open_flows", 1) == 0 and m.get("pending_flows", 1) == 0:
            return
        time.sleep(0.5)


def packets_in(capture: str) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", capture], capture_output=True, text=True)
    return int(re.search(r"Number of packets:\s+(\d+)", out.stdout).group(1))


def step(link: LiveLink, capture: str, rate: int, seconds: float, per_loop: int) -> dict:
    before = metric_sums(link)
    loops = max(1, round(rate * seconds / per_loop))
    started = time.perf_counter()
    link.replay(capture, "--pps", str(rate), "--loop", str(loops), timeout=seconds * 4 + 60)
    sent_s = time.perf_counter() - started
    settle(link)
    after = metric_sums(link)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in (*LOSSES, "packets_received_total",
                                                             "flows_scored_total")}
    delta["achieved_pps"] = loops * per_loop / sent_s
    return delta


def offline_pps(capture: str, repeats: int, tmp: Path) -> float:
    """Baseline: triage's work (flows, scoring, sessions) on the capture looped ``repeats``
    times, each copy shifted after the last as a replay loop would be; model loaded first."""
    from trafficlm.capture import CaptureReport
    from trafficlm.detect import scored_frame
    from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
    from trafficlm.pipeline import capture_flows
    from trafficlm.sessions import build_sessions

    span = subprocess.run(["capinfos", "-u", "-M", capture], capture_output=True, text=True)
    seconds = float(re.search(r"Capture duration:\s+([\d.]+)", span.stdout).group(1)) + 1
    copies = []
    for i in range(repeats):
        copies.append(str(tmp / f"copy{i}.pcap"))
        subprocess.run(["editcap", "-t", str(i * seconds), capture, copies[-1]], check=True)
    looped = str(tmp / "looped.pcap")
    subprocess.run(["mergecap", "-a", "-w", looped, *copies], check=True)
    model = TrafficModel(DEFAULT_MODEL_DIR)
    started = time.perf_counter()
    frames = [scored_frame(model, flows, looped)
              for flows in capture_flows(looped, CaptureReport(looped))]
    build_sessions(pl.concat(frames))
    return packets_in(looped) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", default=str(REPO / "pcaps" / "testbed-mixed.pcap"))
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    per_loop = packets_in(args.capture)
    link = LiveLink(link_name())
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sensor = link.start_sensor(Path(tmp), config=CONFIG)
            best = 0.0
            print(f"{'target pps':>10} {'achieved':>10} {'received':>9} {'scored flows':>12} "
                  f"{'kernel drop':>11} {'queue drop':>10} {'shed flows':>10}")
            for rate in RATES:
                d = step(link, args.capture, rate, args.seconds, per_loop)
                print(f"{rate:>10,} {d['achieved_pps']:>10,.0f} "
                      f"{d['packets_received_total']:>9,.0f} "
                      f"{d['flows_scored_total']:>12,.0f} {d[LOSSES[0]]:>11,.0f} "
                      f"{d[LOSSES[1]]:>10,.0f} {d[LOSSES[2]]:>10,.0f}")
                if any(d[k] for k in LOSSES):
                    break
                best = d["achieved_pps"]
            sensor.stop()
            baseline = offline_pps(args.capture, 10, Path(tmp))
        finally:
            link.close()
    print(f"\nhighest rate with every flow scored: {best:,.0f} packets/s (on {REPLAY_END})")
    print(f"offline triage of the same packets:   {baseline:,.0f} packets/s")
    print(f"live / offline: {best / baseline:.2f}x")


if __name__ == "__main__":
    main()
