"""``python -m paddlecnn recipes [NAME]``: the named training recipes and their fields."""
from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "recipes", help="list the training recipes (the sources' and the CPU ones) with their fields",
        description="Each recipe fixes optimizer, lr, momentum, weight decay, LR schedule, warm-up, batch, "
                    "epochs, label smoothing, augmentation and (CPU recipes) the scale. Use one with "
                    "`train --recipe NAME`; explicit flags override single fields.")
    p.add_argument("name", nargs="?", help="one recipe: print its fields as JSON")
    p.add_argument("--model", help="also say which recipe this registry model trains with by default")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine import recipe_book

    if args.name:
        print(json.dumps(recipe_book.recipe(args.name), indent=1))
    else:
        print(recipe_book.table())
    if args.model:
        from ..engine.config import validate_model_name

        validate_model_name(args.model)
        source = recipe_book.source_recipe(args.model)
        print(f"{args.model} trains with the {recipe_book.default_recipe(args.model)!r} recipe by default"
              + (f"; its source trained it with {source!r}" if source else ""))
    return 0
