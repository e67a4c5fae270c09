"""``trafficlm tokenize``: what the model sees, flow by flow."""

from __future__ import annotations

import argparse
import json
import sys

from trafficlm.commands.common import add_flow_options, each_capture_flows, flow_config
from trafficlm.errors import ExitCode
from trafficlm.flows import FlowBatch
from trafficlm.flows.frame import addresses, flows_frame
from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer, decode, render


def add_parser(commands: argparse._SubParsersAction) -> None:
    defaults = TokenizerConfig()
    parser = commands.add_parser("tokenize", help="show the tokens the model reads per flow",
                                 description="Tokenize the flows of captures.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE")
    parser.add_argument("--flow", type=int, metavar="FLOW_ID", help="only this flow")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.add_argument("--packets", type=int, default=defaults.packets,
                        help="first packets per flow (P)")
    parser.add_argument("--payload-bytes", type=int, default=defaults.payload_bytes,
                        help="first payload bytes per packet (B)")
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    tokenizer = TrafficTokenizer(TokenizerConfig(args.packets, args.payload_bytes,
                                                 args.max_length))
    config = flow_config(args, packets_per_flow=max(16, args.packets),
                         payload_bytes=max(128, args.payload_bytes))
    found = []

    def show(flows: FlowBatch, path: str) -> None:
        if args.flow is not None:
            flows = flows.select(flows.flow_id == args.flow)
        if len(flows):
            found.append(len(flows))
            _write(tokenizer, flows, args.format)

    code = each_capture_flows(args.captures, config, show)
    if args.flow is not None and not found:
        print(f"trafficlm: no flow with id {args.flow}", file=sys.stderr)
        return ExitCode.FAILURE
    return code


def _write(tokenizer: TrafficTokenizer, flows: FlowBatch, fmt: str) -> None:
    encoded = tokenizer.encode(flows)
    if fmt == "jsonl":
        for flow_id, ids, length in zip(flows.flow_id.tolist(), encoded.ids, encoded.lengths,
                                        strict=True):
            sys.stdout.write(json.dumps({"flow_id": flow_id, "ids": ids[:length].tolist()}) + "\n")
        return
    frame = flows_frame(flows)
    src = addresses(flows.init_hi, flows.init_lo)
    dst = addresses(flows.resp_hi, flows.resp_lo)
    for row, ids in enumerate(encoded.ids):
        title = (f"flow {flows.flow_id[row]}  {src[row]}:{flows.init_port[row]} -> "
                 f"{dst[row]}:{flows.resp_port[row]}  {frame['start'][row]}  "
                 f"{encoded.lengths[row]} tokens")
        sys.stdout.write(render(decode(tokenizer.vocab, ids), title) + "\n\n")
