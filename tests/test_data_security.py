"""Hostile or broken data: symlink traps, overwrites, a root moved by dataset.json, huge
labels, label gaps, image bombs, the decoded-image cache budget, a BOM in a list file."""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paddlecnn.cli import main
from paddlecnn.data import (ImageError, ListFileDataset, check_list, images, label_problems, make_lists,
                            open_image, parse_list)
from paddlecnn.errors import PaddleCNNError

REPO = Path(__file__).resolve().parents[1]


def png(path, size=(8, 8), colour=(120, 30, 200)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def png_header(path, width, height):
    """A PNG that declares ``width`` x ``height`` 1-bit gray pixels in a few dozen bytes: its
    header is all PIL reads on open, so a bomb is caught before any pixel is decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def class_tree(root, n=4):
    for k, name in enumerate(("ant", "bee")):
        for i in range(n):
            png(root / name / f"{i}.png", colour=(40 + 100 * k,) * 3)


# ----------------------------------------------------------------- writes: symlinks, overwrites
def test_make_lists_refuses_a_symlinked_labels_txt_and_leaves_the_outside_file_alone(tmp_path, capsys):
    root, outside = tmp_path / "root", tmp_path / "precious.txt"
    class_tree(root)
    outside.write_text("my own notes\n")
    (root / "labels.txt").symlink_to(outside)
    assert main(["data", "make-lists", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "labels.txt is a symlink" in err and "remove the link" in err
    assert outside.read_text() == "my own notes\n"
    assert not (root / "train.txt").exists()          # refused before anything was written
    (root / "labels.txt").unlink()
    (root / "train.txt").symlink_to(outside)          # the same for a list file, even with --force
    with pytest.raises(PaddleCNNError, match="train.txt is a symlink"):
        make_lists(root, force=True)
    assert outside.read_text() == "my own notes\n"


def test_make_lists_refuses_a_hand_written_train_txt_without_force(tmp_path, capsys):
    root = tmp_path / "root"
    class_tree(root)
    (root / "train.txt").write_text("ant/0.png 0\n")  # the user's own list
    assert main(["data", "make-lists", str(root)]) == 2
    err = capsys.readouterr().err
    assert "train.txt already exists" in err and "--force" in err
    assert (root / "train.txt").read_text() == "ant/0.png 0\n"
    assert not (root / "labels.txt").exists()
    assert main(["data", "make-lists", str(root), "--force"]) == 0
    assert len((root / "train.txt").read_text().splitlines()) == 6
    # make-lists may rewrite what it wrote itself, but not once the user edited it
    make_lists(root, seed=1)
    (root / "labels.txt").write_text("ant\nbee (edited)\n")
    with pytest.raises(PaddleCNNError, match="labels.txt already exists and was not written by make-lists"):
        make_lists(root, seed=2)
    assert (root / "labels.txt").read_text() == "ant\nbee (edited)\n"
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]   # no temp file left behind


# ----------------------------------------------------------------- reads: staying inside the root
def test_an_image_symlinked_outside_the_root_is_reported_and_refused(tmp_path, capsys):
    root = tmp_path / "root"
    png(root / "a.png")
    secret = png(tmp_path / "elsewhere" / "secret.png", colour=(1, 2, 3))
    (root / "b.png").symlink_to(secret)
    (root / "list.txt").write_text("a.png 0\nb.png 1\n")
    problems = check_list(root / "list.txt")
    assert [(p.line, p.kind) for p in problems] == [(2, "outside")]
    assert "outside the dataset root" in problems[0].message and "secret.png" in problems[0].message
    assert main(["data", "check", str(root / "list.txt")]) == 1
    out = capsys.readouterr().out
    assert "line 2: b.png" in out and "OK" not in out
    with pytest.raises(PaddleCNNError, match=r"list.txt, line 2: b.png: .*outside the dataset root"):
        ListFileDataset(root / "list.txt", mean=(0.5,) * 3, std=(0.5,) * 3)
    with pytest.warns(UserWarning, match="line 2: b.png"):
        skipped = ListFileDataset(root / "list.txt", on_error="skip", mean=(0.5,) * 3, std=(0.5,) * 3)
    assert len(skipped) == 1 and skipped.skipped == 1
    trusted = ListFileDataset(root / "list.txt", allow_outside_root=True, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert len(trusted) == 2 and trusted.image(1).getpixel((0, 0)) == (1, 2, 3)
    assert main(["data", "check", str(root / "list.txt"), "--allow-outside-root"]) == 0


def test_a_symlink_planted_after_loading_is_refused_at_read_time(tmp_path):
    root = tmp_path / "root"
    png(root / "a.png")
    png(root / "b.png")
    (root / "list.txt").write_text("a.png 0\nb.png 1\n")
    ds = ListFileDataset(root / "list.txt", mean=(0.5,) * 3, std=(0.5,) * 3)
    (root / "b.png").unlink()
    (root / "b.png").symlink_to(png(tmp_path / "secret.png"))
    with pytest.raises(PaddleCNNError, match="line 2: b.png: a symlink to .*secret.png"):
        ds[1]


@pytest.mark.parametrize("escape", ["/", "..", "../.."])
def test_dataset_json_cannot_move_the_root_outside_its_folder(tmp_path, capsys, escape):
    folder = tmp_path / "ds"
    png(folder / "a.png")
    (folder / "list.txt").write_text("etc/passwd 0\na.png 0\n")
    (folder / "dataset.json").write_text(json.dumps({"root": escape}))
    with pytest.raises(PaddleCNNError, match=r"ds/dataset.json: \"root\": .* points outside the folder"):
        ListFileDataset(folder / "list.txt")
    problems = check_list(folder / "list.txt")
    assert len(problems) == 1 and "dataset.json" in problems[0].message
    assert main(["data", "check", str(folder / "list.txt")]) == 1
    assert "points outside the folder of dataset.json" in capsys.readouterr().out


def test_dataset_json_may_name_a_folder_inside_its_own(tmp_path):
    folder = tmp_path / "ds"
    png(folder / "images" / "a.png")
    (folder / "list.txt").write_text("a.png 0\n")
    (folder / "dataset.json").write_text(json.dumps({"root": "images"}))
    assert len(ListFileDataset(folder / "list.txt", mean=(0.5,) * 3, std=(0.5,) * 3)) == 1


# ----------------------------------------------------------------- labels
_HUGE_LABEL_CHILD = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    from pathlib import Path
    from paddlecnn.data import ListFileDataset, check_list
    from paddlecnn.errors import PaddleCNNError
    list_file = Path(sys.argv[1])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    problems = check_list(list_file)
    try:
        ListFileDataset(list_file, mean=(0.5,) * 3, std=(0.5,) * 3)
        raised = ""
    except PaddleCNNError as exc:
        raised = str(exc)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak": peak, "rss_delta_kb": rss1 - rss0, "raised": raised,
                      "problems": [[p.line, p.kind, p.message] for p in problems]}))
""")


@pytest.mark.parametrize("label", ["100000000000000000000", "100000000"])
def test_one_huge_label_fails_fast_naming_the_line(tmp_path, label):
    for name in ("a", "b", "c"):
        png(tmp_path / f"{name}.png")
    (tmp_path / "list.txt").write_text(f"a.png 0\nb.png {label}\nc.png 1\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", _HUGE_LABEL_CHILD, str(tmp_path / "list.txt")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["seconds"] < 5 and result["peak"] < 50e6 and result["rss_delta_kb"] < 500_000
    assert [p[:2] for p in result["problems"]] == [[2, "label"]]
    assert f"label {label} is larger than the number of entries (3)" in result["problems"][0][2]
    assert "list.txt, line 2: b.png" in result["raised"] and "\n" not in result["raised"]


def test_label_bound_is_num_classes_when_given(tmp_path):
    for name in ("a", "b"):
        png(tmp_path / f"{name}.png")
    (tmp_path / "list.txt").write_text("a.png 0\nb.png 5\n")   # 5 > 2 entries: fine with 10 classes
    entries, problems = parse_list(tmp_path / "list.txt", num_classes=10)
    assert [e.label for e in entries] == [0, 5] and problems == []
    entries, problems = parse_list(tmp_path / "list.txt", num_classes=4)
    assert [(p.line, p.kind) for p in problems] == [(2, "label")] and ">= num_classes 4" in problems[0].message
    with pytest.raises(PaddleCNNError, match="num_classes=0"):
        parse_list(tmp_path / "list.txt", num_classes=0)


def test_label_problems_reports_gaps_and_out_of_range_labels():
    assert label_problems([0, 1, 2, 1]) == []
    (gap,) = label_problems([0, 7, 7])
    assert "skip 6 class(es) (1-6)" in gap and "8 outputs" in gap and "num_classes" in gap
    (single,) = label_problems([999])
    assert "skip 999 class(es) (0-998)" in single and "1000 outputs" in single
    assert label_problems([0, 7], num_classes=8) == []          # the user declared 8 classes
    (over,) = label_problems([0, 9], num_classes=8)
    assert "label 9 >= num_classes 8" in over
    (huge,) = label_problems([0, 10 ** 20])                      # ranges, not a loop over 1e20
    assert "skip 99999999999999999999 class(es)" in huge
    assert label_problems([]) == ["no labels: the dataset has no samples"]


def test_check_lists_label_gaps(tmp_path, capsys):
    lines = []
    for i in range(8):
        png(tmp_path / f"{i}.png")
        lines.append(f"{i}.png {0 if i < 4 else 7}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    problems = check_list(tmp_path / "list.txt")
    assert [p.kind for p in problems] == ["labels"] and "(1-6)" in problems[0].message
    assert main(["data", "check", str(tmp_path / "list.txt")]) == 1
    assert "labels skip 6 class(es)" in capsys.readouterr().out


# ----------------------------------------------------------------- image bombs
def bomb_set(tmp_path):
    """good, a PIL bomb (header says 30000x30000), a file over our 64 MP budget (9000x9000),
    a corrupt file after them: every one must be listed."""
    png(tmp_path / "good.png")
    png_header(tmp_path / "bomb.png", 30000, 30000)
    png_header(tmp_path / "big.png", 9000, 9000)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    png(tmp_path / "good2.png")
    (tmp_path / "list.txt").write_text("good.png 0\nbomb.png 1\nbig.png 0\nbad.png 1\ngood2.png 1\n")
    return tmp_path / "list.txt"


def test_image_bombs_raise_image_error_naming_the_file(tmp_path):
    bomb_set(tmp_path)
    assert (tmp_path / "bomb.png").stat().st_size < 200
    with pytest.raises(ImageError, match=r"bomb.png: decompression bomb") as info:
        open_image(tmp_path / "bomb.png")
    assert info.value.path == str(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match=r"big.png: 9000x9000 = 81.0 MP is over the pixel budget of 64 MP"):
        open_image(tmp_path / "big.png")
    with pytest.raises(ImageError, match="over the pixel budget of 5e-05 MP"):
        open_image(tmp_path / "good.png", max_pixels=50)


def test_check_lists_every_problem_past_a_bomb(tmp_path, capsys):
    lst = bomb_set(tmp_path)
    problems = check_list(lst)
    assert [(p.line, p.path, p.kind) for p in problems] == [
        (2, "bomb.png", "image"), (3, "big.png", "image"), (4, "bad.png", "image")]
    assert main(["data", "check", str(lst)]) == 1
    out = capsys.readouterr().out
    assert "line 2: bomb.png: decompression bomb" in out and "line 3: big.png: 9000x9000" in out
    assert "3 problem(s)" in out


@pytest.mark.parametrize("cache", [True, False])
def test_training_dataset_skips_bombs_with_on_error_skip_and_names_them_otherwise(tmp_path, cache):
    lst = bomb_set(tmp_path)
    kw = dict(mean=(0.5,) * 3, std=(0.5,) * 3, input_size=8)
    with pytest.warns(UserWarning, match="bomb.png"):
        ds = ListFileDataset(lst, on_error="skip", cache=cache, **kw)
        got = [ds[i] for i in range(len(ds))]
    kept = [g for g in got if g is not None]
    assert len(kept) == 2 and all(x.shape == (3, 8, 8) for x, _ in kept)
    if cache:
        assert len(ds) == 2 and ds.skipped == 3
    with pytest.raises(PaddleCNNError, match=r"list.txt, line 2: bomb.png: decompression bomb"):
        ListFileDataset(lst, cache=True, **kw)


def test_budget_constant_is_overridable(tmp_path, monkeypatch):
    png(tmp_path / "a.png", size=(10, 10))
    monkeypatch.setattr(images, "MAX_PIXELS", 99)
    with pytest.raises(ImageError, match="10x10"):
        open_image(tmp_path / "a.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    assert open_image(tmp_path / "a.png").size == (10, 10)


def test_predict_reports_a_bomb_per_file(tmp_path):
    import paddle

    from paddlecnn.prediction import predict

    bomb_set(tmp_path)
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 2, 8), paddle.nn.Flatten())
    results = {Path(r.path).name: r for r in predict(model, tmp_path, topk=1, input_size=8)}
    assert results["good.png"].top and results["good.png"].error is None
    assert results["bomb.png"].error.startswith("decompression bomb") and not results["bomb.png"].top
    assert "pixel budget" in results["big.png"].error
    assert str(results["big.png"]).count("big.png") == 1       # "PATH: error: REASON", the path once


# ----------------------------------------------------------------- the cache budget is measured
def test_cache_budget_counts_what_it_holds_not_the_first_image(tmp_path, monkeypatch):
    png(tmp_path / "small.png", size=(4, 4))                    # 48 bytes: the old estimate's sample
    lines = ["small.png 0"]
    for i in range(6):                                          # 6 x 64x64x3 = 72 KiB
        png(tmp_path / f"big{i}.png", size=(64, 64))
        lines.append(f"big{i}.png {i % 2}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    kw = dict(mean=(0.5,) * 3, std=(0.5,) * 3, input_size=4)
    budget_mb = 40 / 1024                                       # 40 KiB: three big images fit, six do not
    monkeypatch.setenv("PADDLECNN_CACHE_MB", str(budget_mb))
    held = []
    real_decode = ListFileDataset._decode

    def spy(self, entry):
        img = real_decode(self, entry)
        held.append(np.asarray(img).nbytes)
        return img

    monkeypatch.setattr(ListFileDataset, "_decode", spy)
    with pytest.warns(UserWarning, match="over PADDLECNN_CACHE_MB"):
        ds = ListFileDataset(tmp_path / "list.txt", cache=True, **kw)
    assert ds._images is None and len(ds) == 7                 # released: decoded on access instead
    assert sum(held[:-1]) <= budget_mb * 2 ** 20 < sum(held)    # stopped at the first image over it
    assert len(held) == 5                                       # never decoded the rest for the cache
    monkeypatch.setenv("PADDLECNN_CACHE_MB", "1")
    ds = ListFileDataset(tmp_path / "list.txt", cache=True, **kw)
    assert sum(np.asarray(img).nbytes for img in ds._images) == 48 + 6 * 64 * 64 * 3 <= 2 ** 20


# ----------------------------------------------------------------- messages
def test_a_bom_is_not_part_of_the_first_path(tmp_path):
    png(tmp_path / "a.png")
    (tmp_path / "list.txt").write_bytes("a.png 0\nmissing.png 0\n".encode("utf-8-sig"))
    (tmp_path / "labels.txt").write_bytes("ant\n".encode("utf-8-sig"))
    entries, _ = parse_list(tmp_path / "list.txt")
    assert entries[0].path == "a.png"
    problems = check_list(tmp_path / "list.txt")
    assert [(p.line, p.path) for p in problems] == [(2, "missing.png")]
    ds = ListFileDataset(tmp_path / "list.txt", on_error="skip", mean=(0.5,) * 3, std=(0.5,) * 3)
    assert ds.class_names == ["ant"]


def test_caltech16_refuses_to_replace_a_hand_written_list(tmp_path):
    from paddlecnn.data import caltech16_from_101

    src = tmp_path / "101"
    class_tree(src, n=5)
    out = tmp_path / "out"
    out.mkdir()
    (out / "Train.txt").write_text("mine 0\n")
    with pytest.raises(PaddleCNNError, match="Train.txt already exists"):
        caltech16_from_101(src, ["bee", "ant"], out)
    assert (out / "Train.txt").read_text() == "mine 0\n" and not (out / "Images").exists()
    caltech16_from_101(src, ["bee", "ant"], out, force=True)
    caltech16_from_101(src, ["bee", "ant"], out, seed=1)        # its own lists: rewritten freely
    assert len(ListFileDataset(out / "Train.txt", mean=(0.5,) * 3, std=(0.5,) * 3)) == 6


@pytest.mark.parametrize("argv, needle", [
    (["make-lists", "{root}", "--seed", "-1"], "--seed -1: give a whole number >= 0"),
    (["prepare", "shapes16", "--size", "0"], "--size 0: shapes16 is drawn at 16 pixels or more"),
    (["check", "{root}/train.txt", "--num-classes", "0"], "num_classes=0 (--num-classes)"),
])
def test_nonsense_data_options_are_one_line_errors(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.setenv("PADDLECNN_DATA", str(tmp_path / "data"))
    root = tmp_path / "root"
    class_tree(root)
    (root / "train.txt").write_text("ant/0.png 0\n")
    code = main(["data"] + [a.format(root=root) for a in argv])
    captured = capsys.readouterr()
    assert code in (1, 2) and needle in captured.out + captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "data").exists()


def test_a_labels_txt_symlinked_outside_is_not_read(tmp_path):
    root = tmp_path / "root"
    png(root / "a.png")
    (root / "list.txt").write_text("a.png 0\n")
    (tmp_path / "private.txt").write_text("secret line\n")
    (root / "labels.txt").symlink_to(tmp_path / "private.txt")
    with pytest.raises(PaddleCNNError, match=r"labels.txt is a symlink to .*private.txt, outside the dataset"):
        ListFileDataset(root / "list.txt", mean=(0.5,) * 3, std=(0.5,) * 3)
    (problem,) = check_list(root / "list.txt")
    assert "labels.txt is a symlink" in problem.message and "secret" not in problem.message
    ds = ListFileDataset(root / "list.txt", mean=(0.5,) * 3, std=(0.5,) * 3, allow_outside_root=True)
    assert ds.class_names == ["secret line"]
