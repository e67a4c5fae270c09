"""``trafficlm tokenize``: what the model sees, flow by flow."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from trafficlm.commands.options import add_flow_options, flow_config
from trafficlm.errors import ExitCode

if TYPE_CHECKING:
    from trafficlm.flows import FlowBatch
    from trafficlm.tokenizer import TrafficTokenizer


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tokenize", help="show the tokens the model reads per flow",
                                 description="Tokenize the flows of captures.")
    parser.add_argument("captures", nargs="+", metavar="CAPTURE")
    parser.add_argument("--flow", type=int, metavar="FLOW_ID", help="only this flow")
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    # defaults are the tokenizer's own (tokenizer/README.md), filled in by run: reading them
    # here would import numpy on every start
    parser.add_argument("--packets", type=int, metavar="P",
                        help="first packets per flow (default: the tokenizer's)")
    parser.add_argument("--payload-bytes", type=int, metavar="B",
                        help="first payload bytes per packet (default: the tokenizer's)")
    parser.add_argument("--max-length", type=int, metavar="N",
                        help="tokens per flow (default: the tokenizer's)")
    parser.add_argument("--query-window", type=int, metavar="H",
                        help="an HTTP request's first H bytes, then its query (default: off)")
    parser.add_argument("--context", action="store_true",
                        help="with each flow's session context (what its hosts did before)")
    add_flow_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.commands.capture_loop import each_capture_flows
    from trafficlm.tokenizer import TokenizerConfig, TrafficTokenizer

    chosen = {"packets": args.packets, "payload_bytes": args.payload_bytes,
              "max_length": args.max_length, "query_window": args.query_window}
    tokenizer_config = TokenizerConfig(**{k: v for k, v in chosen.items() if v is not None},
                                       context=args.context)
    tokenizer = TrafficTokenizer(tokenizer_config)
    config = flow_config(args, packets_per_flow=max(16, tokenizer_config.packets),
                         payload_bytes=max(128, tokenizer_config.payload_bytes))
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
    from trafficlm.flows.frame import addresses, flows_frame
    from trafficlm.tokenizer import decode, render

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
