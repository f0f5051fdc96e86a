"""Main job A/B: the code before the oneDNN backend against this checkout, alternated, one after another.

    git worktree add ../before cfa56f2                 # a checkout of the code to compare against
    python docs/bench/mainjob_ab.py ../before docs/bench/mainjob-DATE-CPU.json

Each run is `python -m paddlecnn train --run-dir D --quiet [flags]` (the README's main job) in a fresh
process under /usr/bin/time (peak RSS), with the checkout first on PYTHONPATH; epoch times, images/s
and eval top-1 come from its history.json. Both checkouts read the datasets of PADDLECNN_DATA when it
is set, else each its own data folder. Run folders go to a temporary folder that is removed at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOW = Path(__file__).resolve().parents[2]               # this checkout
PLAN = [("before", False, []), ("now", True, []), ("before-2", False, []), ("now-2", True, []),
        ("now-fastconv-on", True, ["--fastconv", "on"])]


def short_commit(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def one_run(label: str, checkout: Path, flags: list, run_dir: Path) -> dict:
    """The main job once in a fresh process: wall time, peak RSS and what its history.json recorded."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "paddlecnn", "train",
                           "--run-dir", str(run_dir), "--quiet", *flags],
                          env=dict(os.environ, PYTHONPATH=str(checkout)), cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - start
    rss = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("MAXRSS ")), None)
    history = run_dir / "history.json"
    hist = json.loads(history.read_text()) if history.is_file() else []
    recs = hist["records"] if isinstance(hist, dict) else hist
    return {"label": label, "code": short_commit(checkout), "flags": " ".join(flags), "wall_s": round(wall, 2),
            "rc": proc.returncode, "max_rss_kb": rss,
            "epoch_time_s": [round(r["epoch_time"], 2) for r in recs],
            "images_per_sec": [round(r["images_per_sec"], 1) for r in recs],
            "eval_top1": [round(r["eval_acc"], 4) for r in recs],
            "eval_top5_last": round(recs[-1]["eval_top5"], 4) if recs else None,
            "stderr_tail": proc.stderr.strip().splitlines()[-3:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="a checkout of the code to compare against")
    parser.add_argument("out", type=Path, help="the JSON file to write")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, is_now, flags in PLAN:
            row = one_run(label, NOW if is_now else args.before.resolve(), flags, Path(tmp) / label)
            print(json.dumps(row), flush=True)
            runs.append(row)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?")
    out = {"made_by": "docs/bench/mainjob_ab.py: python -m paddlecnn train --run-dir D --quiet [flags], the "
                      "'before' checkout (on PYTHONPATH) and this one alternated, one after another",
           "cpu": f"{cpu} ({os.cpu_count()} cores)", "date": time.strftime("%Y-%m-%d"),
           "commit_now": short_commit(NOW), "runs": runs}
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
