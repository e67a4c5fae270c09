"""``trafficlm flows``: what the flow table sees, one row per flow."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from trafficlm.commands.options import add_flow_options, flow_config
from trafficlm.errors import ExitCode
from trafficlm.output import FORMATS, refuse_inputs_as_outputs

if TYPE_CHECKING:
    from trafficlm.flows import FlowBatch

TABLE_COLUMNS = ["flow_id", "start", "src_ip", "src_port", "dst_ip", "dst_port", "proto",
                 "packets_fwd", "packets_bwd", "bytes_fwd", "bytes_bwd", "end_reason"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("flows", help="list the flows in captures",
                                 description="List the flows of pcap/pcapng captures.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE",
                        help="capture files or directories (pcap, pcapng, optionally gzipped)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.commands.capture_loop import each_capture_flows
    from trafficlm.flows.frame import flows_frame
    from trafficlm.frame_writer import FrameWriter

    # one row per flow needs no packet kept inside it (the tokenizer's first packets and
    # payload bytes): storing none makes the table a third faster
    config = flow_config(args, packets_per_flow=1, payload_bytes=0)
    outputs = [args.out] if args.out else []
    refuse_inputs_as_outputs(args.captures, outputs)
    with FrameWriter(args.format, args.out, TABLE_COLUMNS) as writer:

        def write(flows: FlowBatch, path: str) -> None:
            writer.write(flows_frame(flows, capture=path).sort("start"))

        return each_capture_flows(args.captures, config, write, outputs)
