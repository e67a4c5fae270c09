"""``trafficlm train``: pretrain, fine-tune and evaluate traffic models from TOML recipes."""

from __future__ import annotations

import argparse
import sys

from trafficlm.errors import ExitCode


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="pretrain, fine-tune, evaluate",
                                 description="Train traffic models from a TOML recipe "
                                             "(see configs/train/).")
    parser.add_argument("job", choices=("pretrain", "finetune", "evaluate", "all", "rehearsal"),
                        help="rehearsal: write the rehearsal set site adapters need into a "
                             "model fine-tuned before models carried one")
    parser.add_argument("--config", required=True, metavar="FILE", help="a recipe TOML")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.config import load_recipe
    from trafficlm.training.jobs import all_jobs, evaluate_job, finetune_job, rehearsal_job
    from trafficlm.training.pretrain import pretrain

    recipe = load_recipe(args.config)
    jobs = {"pretrain": pretrain, "finetune": finetune_job, "evaluate": evaluate_job,
            "all": all_jobs, "rehearsal": rehearsal_job}

    def say(message: str) -> None:
        print(f"trafficlm: {message}", file=sys.stderr)

    jobs[args.job](recipe, say=say)
    return ExitCode.OK
