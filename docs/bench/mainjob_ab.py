"""Main job A/B: the code before the oneDNN backend (commit cfa56f2) against now, alternated, one after another.

    git worktree add /work/wt-old cfa56f2         # the "before" checkout (OLD below); NEW is this checkout
    python docs/bench/mainjob_ab.py docs/bench/mainjob-DATE-CPU.json

Each run is `python -m paddlecnn train --run-dir D --quiet [flags]` (the README's main job) in a fresh
process under /usr/bin/time (peak RSS); epoch times, images/s and eval top-1 come from its history.json.
"""
import json, os, resource, subprocess, sys, time
from pathlib import Path
OLD, NEW = "/work/wt-old", "/work/main"
runs = []
env0 = dict(os.environ, PADDLECNN_DATA="/work/main/data")
for i, (label, code, flags) in enumerate([("before", OLD, []), ("now", NEW, []), ("before-2", OLD, []), ("now-2", NEW, []),
                                          ("now-fastconv-on", NEW, ["--fastconv", "on"])]):
    rd = Path(f"/tmp/mainjob/{label}")
    subprocess.run(["rm", "-rf", str(rd)])
    env = dict(env0, PYTHONPATH=code)
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "paddlecnn", "train", "--run-dir", str(rd), "--quiet", *flags],
                       env=env, cwd=code, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = next((int(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("MAXRSS ")), None)
    hist = json.loads((rd / "history.json").read_text()) if (rd / "history.json").is_file() else []
    recs = hist["records"] if isinstance(hist, dict) else hist
    row = {"label": label, "code": "cfa56f2" if code == OLD else "now", "flags": " ".join(flags), "wall_s": round(wall, 2),
           "rc": p.returncode, "max_rss_kb": rss,
           "epoch_time_s": [round(r["epoch_time"], 2) for r in recs],
           "images_per_sec": [round(r["images_per_sec"], 1) for r in recs],
           "eval_top1": [round(r["eval_acc"], 4) for r in recs],
           "eval_top5_last": round(recs[-1]["eval_top5"], 4) if recs else None,
           "stderr_tail": p.stderr.strip().splitlines()[-3:]}
    print(json.dumps(row), flush=True)
    runs.append(row)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "-C", NEW, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
out = {"made_by": "docs/bench/mainjob_ab.py: python -m paddlecnn train --run-dir D --quiet "
                  "[flags], before (a checkout of commit cfa56f2 on PYTHONPATH) and now alternated, one after another",
       "cpu": cpu + " (2 cores)", "date": time.strftime("%Y-%m-%d"), "commit_now": commit, "runs": runs}
Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")
