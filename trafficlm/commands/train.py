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
    parser.add_argument("--only", metavar="STAGE[,STAGE]",
                        help="evaluate: run only these stages (corpus_kfold, sim_to_real, "
                             "corpus_detection, unseen_conditions, shortcut_audit, "
                             "explanations, baselines, probe, leave_one_attack_out, seeds), "
                             "each written to OUTPUT/evaluation/only/STAGE.json and .md")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitCode:
    from trafficlm.training.config import load_recipe
    from trafficlm.training.jobs import (
        all_jobs,
        evaluate_job,
        evaluate_only_job,
        finetune_job,
        pretrain_job,
        rehearsal_job,
    )

    recipe = load_recipe(args.config)
    jobs = {"pretrain": pretrain_job, "finetune": finetune_job, "evaluate": evaluate_job,
            "all": all_jobs, "rehearsal": rehearsal_job}

    def say(message: str) -> None:
        print(f"trafficlm: {message}", file=sys.stderr)

    if args.only and args.job != "evaluate":
        print("trafficlm: error: --only selects evaluation stages: use it with "
              "'train evaluate'", file=sys.stderr)
        return ExitCode.USAGE
    if args.only:
        evaluate_only_job(recipe, [n.strip() for n in args.only.split(",") if n.strip()], say)
    else:
        jobs[args.job](recipe, say=say)
    return ExitCode.OK
