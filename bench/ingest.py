"""Ingest benchmark: packets/s and flows/s of capture reading + flow assembly.

Compares TrafficLM's columnar reader and flow table with nfstream (its C
meter: one meter, no dissection, no statistics), dpkt with a dict flow table,
and scapy's PcapReader with a dict flow table, all in the same run on the
same capture, each in its own process so peak memory is its own.

    python bench/ingest.py                 # builds a >=1M-packet capture from ../shared/corpus
    python bench/ingest.py --capture big.pcap

scapy is measured on the first --scapy-packets packets (150,000 by default,
about a tenth of the capture, ~25 s; a full run would take minutes) and dpkt
on all of them unless --dpkt-packets says otherwise.
TrafficLM runs twice, on a quarter of the capture and on all of it, to show
that its peak memory does not grow with capture size.

Then the whole processes, start-up and imports included, as a user runs them:
``trafficlm flows CAPTURE --format csv --out FILE`` beside a Python process that
iterates nfstream's flows, each --repeats times alternately, median wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_capture import write_benchmark_capture


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _trafficlm(path: str, limit: int | None) -> tuple[int, int]:
    from trafficlm.capture import CaptureReport, read_packets
    from trafficlm.flows import FlowTable

    table, packets, flows = FlowTable(), 0, 0
    for batch in read_packets(path, CaptureReport(path)):
        packets += len(batch)
        flows += len(table.add(batch))
    return packets, flows + len(table.flush())


def _nfstream(path: str, limit: int | None) -> tuple[int, int]:
    import nfstream

    streamer = nfstream.NFStreamer(source=path, statistical_analysis=False, n_dissections=0,
                                   n_meters=1, splt_analysis=0)
    packets = flows = 0
    for flow in streamer:
        flows += 1
        packets += flow.bidirectional_packets
    return packets, flows


def _canonical(src, dst, sport, dport, proto) -> tuple:
    return (src, sport, dst, dport, proto) if (src, sport) <= (dst, dport) else (
        dst, dport, src, sport, proto)


def _dpkt(path: str, limit: int | None) -> tuple[int, int]:
    import dpkt

    flows: dict[tuple, list[int]] = {}
    packets = 0
    with open(path, "rb") as f:
        for _, frame in dpkt.pcap.Reader(f):
            packets += 1
            if limit and packets > limit:
                packets -= 1
                break
            try:
                ip = dpkt.ethernet.Ethernet(frame).data
            except dpkt.dpkt.UnpackError:
                continue
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            l4 = ip.data
            sport, dport = getattr(l4, "sport", 0), getattr(l4, "dport", 0)
            proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
            entry = flows.setdefault(_canonical(ip.src, ip.dst, sport, dport, proto), [0, 0])
            entry[0] += 1
            entry[1] += len(frame)
    return packets, len(flows)


def _scapy(path: str, limit: int | None) -> tuple[int, int]:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    flows: dict[tuple, list[int]] = {}
    packets = 0
    for pkt in PcapReader(path):
        packets += 1
        if limit and packets > limit:
            packets -= 1
            break
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            continue
        l4 = ip.payload
        sport, dport = getattr(l4, "sport", 0), getattr(l4, "dport", 0)
        proto = ip.proto if ip.version == 4 else ip.nh
        entry = flows.setdefault(_canonical(ip.src, ip.dst, sport, dport, proto), [0, 0])
        entry[0] += 1
        entry[1] += len(pkt)
    return packets, len(flows)


RUNNERS = {"trafficlm": _trafficlm, "nfstream": _nfstream, "dpkt": _dpkt, "scapy": _scapy}


def _child(name: str, path: str, limit: int | None, results) -> None:
    runner = RUNNERS[name]
    if name == "nfstream":
        import nfstream  # noqa: F401 - import cost is not ingest time
    elif name == "trafficlm":
        import trafficlm.flows  # noqa: F401
    before = _rss_mb()
    start = time.perf_counter()
    packets, flows = runner(path, limit)
    seconds = time.perf_counter() - start
    results.put((packets, flows, seconds, _rss_mb(), _rss_mb() - before))


def measure(name: str, path: str, limit: int | None = None) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, path, limit, results))
    proc.start()
    packets, flows, seconds, peak, growth = results.get()
    proc.join()
    return {"tool": name, "packets": packets, "flows": flows, "seconds": seconds,
            "pps": packets / seconds, "fps": flows / seconds, "peak_mb": peak, "growth_mb": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, help="capture to use (default: built from corpus)")
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--dpkt-packets", type=int, default=None)
    parser.add_argument("--scapy-packets", type=int, default=150_000)
    parser.add_argument("--repeats", type=int, default=3, help="whole-process runs of each")
    parser.add_argument("--whole-processes-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = args.capture
        if full is None:
            full = Path(tmp) / "bench.pcap"
            count = write_benchmark_capture(full, args.packets)
            print(f"built {full.name}: {count} packets from ../shared/corpus", file=sys.stderr)
        if not args.whole_processes_only:
            in_process_table(full, Path(tmp) / "quarter.pcap", args)
        print_whole_processes(str(full), Path(tmp) / "flows.csv", args.repeats)


def in_process_table(full: Path, quarter: Path, args: argparse.Namespace) -> None:
    write_quarter(full, quarter)
    rows = [
        measure("trafficlm", str(quarter)) | {"tool": "trafficlm (1/4 capture)"},
        measure("trafficlm", str(full)),
        measure("nfstream", str(full)),
        measure("dpkt", str(full), args.dpkt_packets),
        measure("scapy", str(full), args.scapy_packets),
    ]
    print_table(rows, ours=rows[1])


def write_quarter(full: Path, out: Path) -> None:
    """The first quarter of a pcap's bytes, cut at a record boundary."""
    from trafficlm.capture import CaptureReport, read_records

    size = full.stat().st_size // 4
    end = 24
    for records in read_records(str(full), CaptureReport(str(full))):
        ends = records.file_offset + 16 + records.caplen
        end = int(ends[ends <= size].max(initial=end))
        if ends.max() > size:
            break
    with open(full, "rb") as src, open(out, "wb") as dst:
        dst.write(src.read(end))


NFSTREAM_PROCESS = """import sys, nfstream
streamer = nfstream.NFStreamer(source=sys.argv[1], statistical_analysis=False, n_dissections=0,
                               n_meters=1, splt_analysis=0)
print(sum(1 for _ in streamer))
"""


def print_whole_processes(capture: str, flows_out: Path, repeats: int) -> None:
    """Median wall seconds of each whole process, the two run alternately."""
    trafficlm = [str(Path(sys.executable).with_name("trafficlm")), "flows", capture,
                 "--format", "csv", "--out", str(flows_out)]
    nfstream = [sys.executable, "-c", NFSTREAM_PROCESS, capture]
    help_cmd = [trafficlm[0], "--help"]
    times: dict[str, list[float]] = {"trafficlm flows": [], "nfstream": [], "trafficlm --help": []}
    for _ in range(repeats):
        for name, cmd in (("trafficlm flows", trafficlm), ("nfstream", nfstream),
                          ("trafficlm --help", help_cmd)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\nwhole processes, median of {repeats}:")
    for name, seconds in median.items():
        print(f"  {name:<18}{seconds:>7.2f} s")
    print(f"  trafficlm flows is {median['nfstream'] / median['trafficlm flows']:.1f}x "
          "nfstream, start-up included")


def print_table(rows: list[dict], ours: dict) -> None:
    print(f"{'tool':<26}{'packets':>10}{'flows':>9}{'seconds':>9}{'packets/s':>12}"
          f"{'flows/s':>10}{'ours x':>8}{'peak MB':>9}{'growth MB':>11}")
    for r in rows:
        ratio = ours["pps"] / r["pps"]
        print(f"{r['tool']:<26}{r['packets']:>10}{r['flows']:>9}{r['seconds']:>9.2f}"
              f"{r['pps']:>12,.0f}{r['fps']:>10,.0f}{ratio:>8.1f}{r['peak_mb']:>9.0f}"
              f"{r['growth_mb']:>11.0f}")
    print("'ours x' = TrafficLM packets/s divided by that tool's packets/s, same run, same capture")


if __name__ == "__main__":
    main()
