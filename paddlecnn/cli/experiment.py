"""``python -m paddlecnn experiment list | verdicts | NAME --scale quick|cpu|paper``: the sources' findings re-run."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment", help="re-run a finding of the sources and judge it (list, verdicts, or an experiment name)",
        description="Runs every training run of one experiment (skipping finished runs, resuming interrupted "
                    "ones) under LOGS/NAME/SCALE/, judges its claims and writes NAME-SCALE.json/.md with "
                    "provenance. 'list' names the experiments and their claims; 'verdicts' prints the table "
                    "of every claim from the committed results.")
    p.add_argument("name", help="an experiment name, 'list' or 'verdicts'")
    p.add_argument("--scale", choices=("quick", "cpu", "paper"),
                   help="quick (the default for a run): seconds (tests); cpu (the default for verdicts): what the lessons commit (2 cores); paper: the source's "
                        "setting at 224 px (a GPU's work)")
    p.add_argument("--logs", help="folder above NAME/SCALE/ (default: logs/)")
    p.add_argument("--seeds", type=int, help="seeds per run (default: the scale's)")
    p.add_argument("--results", help="folder of the results file (default: notebooks/results/experiments/ for "
                                     "cpu, else the experiment's logs folder); for verdicts: where to read them")
    p.add_argument("--format", choices=("table", "short", "doc"), default="table",
                   help="for verdicts: the full table (default), the README's short form, or docs/experiments.md")
    p.add_argument("--write-docs", action="store_true",
                   help="for verdicts: rewrite docs/experiments.md and the README's verdict table of this checkout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import experiments

    if args.name == "list":
        for exp in experiments.EXPERIMENTS.values():
            mins = experiments.catalog.estimated_minutes(exp.name, "cpu")
            print(f"{exp.name}: {exp.about} (cpu scale ~{mins:.0f} min of its own runs)")
            for claim in exp.claims:
                print(f"    {claim.id}: {claim.text} ({claim.source})")
        return 0
    if args.name == "verdicts":
        from ..experiments import verdicts

        if args.write_docs:
            for path in verdicts.write_docs(verdicts.results_dir().parents[2], args.scale or "cpu"):
                print(f"wrote {path.name}")
            return 0
        show = {"table": verdicts.verdict_table, "short": verdicts.short_table, "doc": verdicts.document}
        print(show[args.format](args.results, args.scale or "cpu"))
        return 0
    command = "python -m paddlecnn " + " ".join(getattr(args, "argv", []) or ["experiment", args.name])
    experiments.run_experiment(args.name, args.scale or "quick", logs=args.logs, seeds=args.seeds, results_dir=args.results,
                               command=command)
    return 0
