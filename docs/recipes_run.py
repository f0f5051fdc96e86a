"""Run the default-recipe commands of docs/recipes.md and record what they gave.

    python docs/recipes_run.py            # about 10 minutes on 2 cores; writes docs/recipes_results.json

Each run is the command a new user types (``python -m paddlecnn train --model M --data D``,
nothing else but a seed), then ``python -m paddlecnn evaluate RUN`` on the test split.
The results file keeps the provenance: command, commit, paddle version, CPU model, minutes.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMANDS = [
    ("lenet5", "mnist5k", []),
    ("lenet5", "mnist5k", ["--epochs", "3", "--batch-size", "64"]),   # the command that stayed at chance before
    ("cnn_alltricks", "shapes16", []),
    ("alexnet", "animals10", []),
]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run_one(model: str, data: str, extra: list, logs: Path) -> dict:
    run_dir = logs / f"{model}-{data}{'-' + '-'.join(x.strip('-') for x in extra) if extra else ''}"
    train = [sys.executable, "-m", "paddlecnn", "train", "--model", model, "--data", data, "--seed", "0",
             *extra, "--quiet", "--run-dir", str(run_dir)]
    start = time.time()
    subprocess.run(train, check=True)
    minutes = (time.time() - start) / 60
    subprocess.run([sys.executable, "-m", "paddlecnn", "evaluate", str(run_dir), "--out", str(run_dir / "test")],
                   check=True, stdout=subprocess.DEVNULL)
    config = json.loads((run_dir / "config.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    test = json.loads((run_dir / "test" / "metrics.json").read_text())
    options = config["options"]
    return {"command": "python -m paddlecnn train --model {} --data {} --seed 0 {}".format(model, data,
                                                                                        " ".join(extra)).strip(),
            "recipe": options["recipe"], "optimizer": options["optimizer"], "lr": options["lr"],
            "epochs": options["epoch_num"], "batch_size": options["batch_size"], "transform": options["transform"],
            "input_size": config["data_info"]["input_size"], "width": options.get("width"),
            "eval_top1_per_epoch": [round(r["eval_acc"], 4) for r in history["records"]],
            "test_top1": round(test["top1"], 4), "minutes": round(minutes, 2)}


def readme_rows(results: dict) -> list:
    """The README's rows of the default-recipe table (a test keeps them equal to the results file)."""
    return [f"| `{r['command']}` | {r['recipe']} | {r['epochs']} | {r['test_top1'] * 100:.1f}% | {r['minutes']:.1f} |"
            for r in results["runs"]]


def render(results: dict) -> str:
    """docs/recipes.md: the recipes (from the recipe book) and what the default ones gave here."""
    from paddlecnn.engine import recipe_book

    lines = ["# Training recipes", "",
             "A recipe fixes optimizer, learning rate, momentum, weight decay, LR schedule (per epoch or per "
             "iteration), warm-up, batch, epochs, label smoothing, augmentation and, for the CPU recipes, the "
             "scale (input size, width). `python -m paddlecnn train --recipe NAME` uses one; an explicit flag "
             "overrides that one field; `config.json` records the recipe and every resolved value. Without "
             "`--recipe` a registry model trains with its CPU default (`lenet-cpu` for LeNet-5, else `cpu`); "
             "`python -m paddlecnn recipes --model M` also names the recipe M's source trained it with.",
             "", "This page is written by `python docs/recipes_run.py`; do not edit it by hand.", "",
             "## The recipes", "", "```", recipe_book.table(), "```", "",
             "## What the default recipes gave", "",
             f"Commit {results['commit']}, paddle {results['paddle']}, {results['cpu']}, {results['date']}; test "
             "top-1 on the dataset's test split (`python -m paddlecnn evaluate RUN`); minutes of the train "
             "command, wall clock (the machine may have been shared: times are indicative).", "",
             "| command | recipe | epochs | test top-1 | minutes | eval top-1 per epoch |", "|---|---|---|---|---|---|"]
    for r in results["runs"]:
        curve = " ".join(f"{v * 100:.0f}" for v in r["eval_top1_per_epoch"])
        lines.append(f"| `{r['command']}` | {r['recipe']} ({r['optimizer']} lr {r['lr']}, batch {r['batch_size']}, "
                     f"{r['input_size']} px{', width ' + str(r['width']) if r['width'] else ''}, {r['transform']}) | "
                     f"{r['epochs']} | {r['test_top1'] * 100:.1f}% | {r['minutes']:.1f} | {curve} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    import paddle

    with tempfile.TemporaryDirectory() as logs:
        runs = [run_one(m, d, extra, Path(logs)) for m, d, extra in COMMANDS]
    out = {"made_by": "python docs/recipes_run.py", "commit": commit, "paddle": paddle.__version__,
           "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"), "runs": runs}
    (HERE / "recipes_results.json").write_text(json.dumps(out, indent=1) + "\n")
    (HERE / "recipes.md").write_text(render(out))
    print("\n".join(readme_rows(out)))


if __name__ == "__main__":
    main()
