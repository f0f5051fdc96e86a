"""``python -m paddlecnn data ACTION``: make list files, compute stats, check data, build built-ins.

::

    python -m paddlecnn data make-lists ROOT --split 0.75 [--test 0.1] --seed 0 [--out DIR] [--force]
    python -m paddlecnn data stats LIST [--root ROOT] [--out stats.json]
    python -m paddlecnn data check LIST [--root ROOT] [--num-classes K] [--allow-outside-root]
    python -m paddlecnn data prepare {shapes16,mnist5k,animals10} [--size 224]
    python -m paddlecnn data caltech16 101_ObjectCategories --classes a,b,... --out DIR
    python -m paddlecnn data list
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="list files, mean/std, data checks, built-in datasets",
                              description="Prepare and check image data: class folders -> list files, "
                                          "per-channel mean/std, a full scan for bad entries, built-in sets.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    m = actions.add_parser("make-lists", help="class folders ROOT/<class>/<image> -> train/eval[/test] lists",
                           description="Write stratified, seeded train.txt, eval.txt (and test.txt) and "
                                       "labels.txt from ROOT/<class>/<image>; every image in exactly one list.")
    m.add_argument("root", help="folder with one sub-folder per class")
    m.add_argument("--split", type=float, default=0.75, help="training fraction of each class (default 0.75)")
    m.add_argument("--test", type=float, default=0.0, help="test fraction of each class (default 0: no test.txt)")
    m.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    m.add_argument("--out", default=None, help="folder for the lists (default: ROOT)")
    m.add_argument("--force", action="store_true",
                   help="replace a train.txt/eval.txt/test.txt/labels.txt that make-lists did not write "
                        "(default: refuse, naming the file); a symlinked target is refused always")
    m.set_defaults(func=run_make_lists)

    s = actions.add_parser("stats", help="per-channel mean/std of a list's images (prints and saves JSON)")
    s.add_argument("list", help="list file (usually the training list)")
    s.add_argument("--root", default=None, help="folder the list's paths are relative to (default: its folder)")
    s.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="1 = gray, 3 = RGB (default: the first image's)")
    s.add_argument("--out", default=None, help="JSON file to write (default: stats.json next to the list)")
    s.set_defaults(func=run_stats)

    c = actions.add_parser("check", help="scan every entry and image; report all problems, exit 1 if any")
    c.add_argument("list", help="list file")
    c.add_argument("--root", default=None, help="folder the list's paths are relative to (default: its folder)")
    c.add_argument("--num-classes", type=int, default=None,
                   help="labels must be < K (default: the names in labels.txt next to the list)")
    c.add_argument("--allow-outside-root", action="store_true",
                   help="read images that symlinks lead outside the root, and a dataset.json root outside "
                        "its folder (default: report them); only for data you trust")
    c.set_defaults(func=run_check)

    b = actions.add_parser("prepare", help="materialise a built-in dataset under data/ now")
    b.add_argument("name", choices=("shapes16", "mnist5k", "animals10"))
    b.add_argument("--size", type=int, default=None, help="shapes16 only: image side (default 64)")
    b.set_defaults(func=run_prepare)

    k = actions.add_parser("caltech16", help="the PaddlePaddle tutorial's 16-class mini set from a Caltech-101 folder")
    k.add_argument("src", help="the 101_ObjectCategories folder")
    k.add_argument("--classes", required=True, help="comma-separated class folder names, in label order")
    k.add_argument("--out", required=True, help="output folder (Images/, Train.txt, Eval.txt, Test.txt)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--force", action="store_true",
                   help="replace a Train.txt/Eval.txt/Test.txt/labels.txt in --out that this command did not write")
    k.set_defaults(func=run_caltech16)

    lst = actions.add_parser("list", help="built-in datasets and transform presets")
    lst.set_defaults(func=run_list)


def run_make_lists(args: argparse.Namespace) -> int:
    from ..data import make_lists
    from ..data.lists import parse_list

    written = make_lists(args.root, split=args.split, test=args.test, seed=args.seed, out=args.out,
                         force=args.force)
    classes = len(Path(written["labels"]).read_text(encoding="utf-8").splitlines())
    for split in ("train", "eval", "test"):
        if split in written:
            entries, _ = parse_list(written[split], args.root, num_classes=classes)
            print(f"{written[split]}: {len(entries)} images")
    print(f"{written['labels']}: {classes} classes")
    if args.out is not None and Path(args.out).resolve() != Path(args.root).resolve():
        print(f"the lists' paths are relative to {args.root}: load them with --root {args.root}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    import json

    from ..data.stats import STATS_FILE, channel_stats, save_stats

    stats = channel_stats(args.list, args.root, channels=args.channels)
    out = Path(args.out) if args.out else Path(args.list).parent / STATS_FILE
    try:  # keep keys we do not compute (a built-in dataset's version stamp)
        previous = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    except ValueError:
        previous = {}
    save_stats({**previous, **stats} if isinstance(previous, dict) else stats, out)
    fmt = lambda values: "[" + ", ".join(f"{v:.4f}" for v in values) + "]"  # noqa: E731
    print(f"{args.list}: {stats['images']} images, {stats['channels']} channel(s)")
    print(f"mean {fmt(stats['mean'])}  std {fmt(stats['std'])}  (0-1 units; x255: "
          f"mean {fmt([v * 255 for v in stats['mean']])})")
    print(f"saved {out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..data.check import check_list, summary

    problems = check_list(args.list, args.root, args.num_classes, allow_outside_root=args.allow_outside_root)
    for p in problems:
        print(p.describe(args.list))
    if problems:
        print(f"{len(problems)} problem(s) in {args.list}")
        return 1
    print(summary(args.list, args.root, allow_outside_root=args.allow_outside_root))
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from ..data import materialise
    from ..data.stats import read_stats

    folder = materialise(args.name, args.size)
    stats = read_stats(folder) or {}
    print(f"{args.name}: {folder} (train mean {stats.get('mean')}, std {stats.get('std')})")
    return 0


def run_caltech16(args: argparse.Namespace) -> int:
    from ..data import caltech16_from_101

    names = [c.strip() for c in args.classes.split(",") if c.strip()]
    written = caltech16_from_101(args.src, names, args.out, seed=args.seed, force=args.force)
    print(f"{len(names)} classes -> {Path(written['train']).parent} (Train.txt, Eval.txt, Test.txt, labels.txt)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..data import builtin, transforms

    print("built-in datasets (training transform when none is given):")
    for name, line in builtin.describe().items():
        print(f"  {name:<20} {line} [{builtin.default_transform(name)}]")
    print(f"  {'your list/folder':<20} [{builtin.LIST_DEFAULT_TRANSFORM}, or the \"transform\" of its dataset.json]")
    print("transform presets (s = input size):")
    for name, line in transforms.describe_presets().items():
        print(f"  {name:<20} {line}")
    return 0
