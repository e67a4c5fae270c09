"""``trafficlm sensor``: score live traffic on an interface and append EVE alerts."""

from __future__ import annotations

import argparse

from trafficlm.commands.options import warn


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sensor", help="a daemon that scores live traffic on an interface",
        description="Capture from an interface (AF_PACKET ring, kernel BPF filter), score "
                    "every flow and append alerts to an EVE JSON file. Flags override the "
                    "--config file; every key is listed in configs/sensor.toml. SIGHUP "
                    "reopens the alert file and reloads the model and adapter; "
                    "SIGTERM/SIGINT flush and exit 0.")
    parser.add_argument("--iface", metavar="IF", help="interface to capture on")
    parser.add_argument("--bpf", metavar="EXPR", help="capture filter (tcpdump syntax)")
    parser.add_argument("--model", metavar="DIR", help="model directory (default: bundled)")
    parser.add_argument("--adapter", metavar="DIR", help="a site adapter for the model")
    parser.add_argument("--config", metavar="FILE", help="a sensor TOML file")
    parser.add_argument("--eve", metavar="FILE", help="EVE JSON file to append to")
    parser.add_argument("--metrics", metavar="HOST:PORT",
                        help="Prometheus endpoint (default 127.0.0.1:9781; '' = off)")
    parser.add_argument("--user", metavar="NAME",
                        help="drop to this user once the capture socket is open")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trafficlm.sensor.config import load_sensor_config
    from trafficlm.sensor.daemon import Sensor

    config = load_sensor_config(args.config, {
        "iface": args.iface, "bpf": args.bpf, "model": args.model, "adapter": args.adapter,
        "eve": args.eve,
        "metrics": args.metrics, "user": args.user})
    return Sensor(config, say=warn).run()
