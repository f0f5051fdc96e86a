"""List files, ListFileDataset, bad input (raise / skip), image modes, DataLoader, make-lists, stats."""
import warnings

import numpy as np
import paddle
import pytest
from PIL import Image

from paddlecnn.data import (ListFileDataset, caltech16_from_101, channel_stats, collate_skip, load,
                            make_lists, parse_list)
from paddlecnn.data.images import open_image, to_channels
from paddlecnn.data.stats import read_stats
from paddlecnn.errors import PaddleCNNError


def solid(path, colour, size=(8, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def tiny_set(tmp_path, n_per_class=3, classes=("cat", "dog")):
    """classes x n_per_class 8x8 RGB PNGs; class k is filled with value 40 + 100 k."""
    lines = []
    for k, name in enumerate(classes):
        for i in range(n_per_class):
            solid(tmp_path / "img" / name / f"{i}.png", (40 + 100 * k,) * 3)
            lines.append(f"img/{name}/{i}.png {k}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "labels.txt").write_text("\n".join(classes) + "\n")
    return tmp_path / "train.txt"


# ------------------------------------------------------------------- list parsing
def test_parse_list_label_is_last_field_paths_with_spaces_and_comments(tmp_path):
    solid(tmp_path / "my photos" / "a b.jpg", (1, 2, 3))
    (tmp_path / "l.txt").write_text("# comment\n\nmy photos/a b.jpg 1\n  my photos/a b.jpg\t2  \n")
    entries, problems = parse_list(tmp_path / "l.txt")
    assert [(e.line, e.path, e.label) for e in entries] == [(3, "my photos/a b.jpg", 1), (4, "my photos/a b.jpg", 2)]
    assert [(p.line, p.kind) for p in problems] == [(4, "duplicate")]


def test_dataset_item_shape_dtype_normalisation_and_attributes(tmp_path):
    lst = tiny_set(tmp_path)
    ds = ListFileDataset(lst, transform="eval", input_size=8, mean=[0.5] * 3, std=[0.25] * 3)
    x, y = ds[4]
    assert x.shape == (3, 8, 8) and x.dtype == np.float32
    assert isinstance(y, np.int64) and y == 1
    np.testing.assert_allclose(x, (140 / 255 - 0.5) / 0.25, atol=1e-6)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2 and len(ds) == 6
    assert ds.samples[0] == ("img/cat/0.png", 0) and ds.labels == [0, 0, 0, 1, 1, 1]
    assert ds.root == tmp_path and ds.input_size == 8 and ds.channels == 3


def test_dataset_computes_and_saves_training_stats_when_missing(tmp_path):
    lst = tiny_set(tmp_path)
    ds = ListFileDataset(lst)
    # half the pixels 40/255, half 140/255: mean 90/255, std 50/255
    np.testing.assert_allclose(ds.mean, [90 / 255] * 3, atol=1e-5)
    np.testing.assert_allclose(ds.std, [50 / 255] * 3, atol=1e-5)
    assert read_stats(lst)["images"] == 6
    assert ds.input_size == 8  # every image is 8x8, so that is the native size


def test_channel_stats_known_values(tmp_path):
    solid(tmp_path / "a.png", (0, 255, 51))
    solid(tmp_path / "b.png", (255, 255, 153))
    (tmp_path / "l.txt").write_text("a.png 0\nb.png 1\n")
    stats = channel_stats(tmp_path / "l.txt")
    np.testing.assert_allclose(stats["mean"], [0.5, 1.0, 0.4], atol=1e-6)
    np.testing.assert_allclose(stats["std"], [0.5, 0.0, 0.2], atol=1e-6)
    assert stats["channels"] == 3 and stats["images"] == 2 and stats["image_size"] == [8, 8]


# ------------------------------------------------------------------ image modes
@pytest.mark.parametrize("mode,value,channels,expected", [
    ("L", 200, 3, [200, 200, 200]),          # gray -> RGB repeats the channel
    ("RGB", (255, 0, 0), 1, [76]),            # RGB -> gray by luma 0.299 R
    ("RGBA", (0, 0, 0, 0), 3, [255, 255, 255]),  # transparent -> white background
    ("RGBA", (255, 0, 0, 255), 3, [255, 0, 0]),  # opaque alpha is dropped
    ("LA", (0, 128), 1, [128]),               # half-transparent black over white
    ("CMYK", (0, 255, 255, 0), 3, [255, 0, 0]),  # CMYK red
    ("1", 1, 3, [255, 255, 255]),             # bilevel
])
def test_modes_convert_to_the_models_channels(tmp_path, mode, value, channels, expected):
    path = solid(tmp_path / f"x.{'jpg' if mode == 'CMYK' else 'png'}", value, mode=mode)
    arr = np.asarray(open_image(path, channels))
    assert arr.shape == ((8, 8) if channels == 1 else (8, 8, 3))
    np.testing.assert_allclose(arr.reshape(-1, channels)[0], expected, atol=2)


def test_palette_with_transparency_and_16bit(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.save(tmp_path / "p.png")
    assert np.asarray(open_image(tmp_path / "p.png", 3))[0, 0].tolist() == [10, 200, 30]
    pal.save(tmp_path / "pt.png", transparency=1)  # palette entry 1 transparent -> white
    assert np.asarray(open_image(tmp_path / "pt.png", 3))[0, 0].tolist() == [255, 255, 255]
    Image.fromarray(np.array([[0, 32896, 65535]], np.uint16)).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    assert np.asarray(open_image(tmp_path / "16.png", 1)).tolist() == [[0, 128, 255]]  # not clipped to 255
    assert to_channels(Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)), 1).getpixel((1, 0)) == 128


def test_dataset_converts_mixed_modes_to_requested_channels(tmp_path):
    solid(tmp_path / "g.png", 100, mode="L")
    solid(tmp_path / "c.jpg", (0, 0, 0, 255), mode="CMYK")
    solid(tmp_path / "a.png", (10, 20, 30, 255), mode="RGBA")
    (tmp_path / "l.txt").write_text("g.png 0\nc.jpg 1\na.png 2\n")
    for channels in (1, 3):
        ds = ListFileDataset(tmp_path / "l.txt", channels=channels, mean=[0] * channels, std=[1] * channels,
                             input_size=8)
        assert {ds[i][0].shape for i in range(3)} == {(channels, 8, 8)}
    rgb = ListFileDataset(tmp_path / "l.txt", channels=3, mean=[0] * 3, std=[1] * 3, input_size=8)
    assert np.allclose(rgb[0][0], 100 / 255, atol=1e-6)           # gray repeated
    assert rgb[1][0].max() < 0.05                                  # CMYK black
    np.testing.assert_allclose(rgb[2][0][:, 0, 0], [10 / 255, 20 / 255, 30 / 255], atol=1e-6)


# ------------------------------------------------------------------- bad input
def corrupt_files(tmp_path):
    good = solid(tmp_path / "good.jpg", (9, 9, 9), size=(32, 32))
    data = good.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    big = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "full.png")
    png = (tmp_path / "full.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(png[:-20])
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image at all")


@pytest.mark.parametrize("name,reason", [("trunc.jpg", "truncated"), ("trunc.png", "truncated"),
                                         ("junk.jpg", "not an image")])
def test_corrupt_image_raises_with_list_line_and_path(tmp_path, name, reason):
    corrupt_files(tmp_path)
    (tmp_path / "l.txt").write_text(f"good.jpg 0\n{name} 1\n")
    ds = ListFileDataset(tmp_path / "l.txt", mean=[0] * 3, std=[1] * 3)
    assert ds[0][1] == 0
    with pytest.raises(PaddleCNNError) as err:
        ds[1]
    msg = str(err.value)
    assert f"l.txt, line 2: {name}" in msg and reason in msg and "on_error='skip'" in msg


def test_corrupt_image_with_cache_raises_at_construction(tmp_path):
    corrupt_files(tmp_path)
    (tmp_path / "l.txt").write_text("good.jpg 0\ntrunc.jpg 1\n")
    with pytest.raises(PaddleCNNError, match="line 2: trunc.jpg"):
        ListFileDataset(tmp_path / "l.txt", mean=[0] * 3, std=[1] * 3, cache=True)


@pytest.mark.parametrize("text,needle", [
    ("good.jpg\n", "line 1: good.jpg: no label"),
    ("good.jpg cat\n", "line 1: good.jpg: label 'cat' is not an integer"),
    ("good.jpg -1\n", "label -1 is negative"),
    ("good.jpg 0\ngood.jpg 2.5\n", "line 2: good.jpg: label '2.5' is not an integer"),
    ("missing.jpg 0\n", "line 1: missing.jpg: file not found"),
    ("../outside.jpg 0\n", "line 1: ../outside.jpg: path escapes the root"),
    ("/etc/passwd 0\n", "path escapes the root"),
])
def test_bad_lines_raise_naming_line_and_path(tmp_path, text, needle):
    (tmp_path / "sub").mkdir()
    solid(tmp_path / "sub" / "good.jpg", (1, 1, 1))
    solid(tmp_path / "outside.jpg", (1, 1, 1))
    (tmp_path / "sub" / "l.txt").write_text(text)
    with pytest.raises(PaddleCNNError) as err:
        ListFileDataset(tmp_path / "sub" / "l.txt", mean=[0] * 3, std=[1] * 3)
    assert needle in str(err.value) and "data check" in str(err.value)


def test_label_at_or_above_num_classes_raises(tmp_path):
    lst = tiny_set(tmp_path)
    with open(lst, "a") as f:
        f.write("img/cat/0.png 2\n")  # labels.txt names 2 classes: 0 and 1
    with pytest.raises(PaddleCNNError, match=r"line 7: img/cat/0.png: label 2 >= num_classes 2"):
        ListFileDataset(lst)
    with pytest.raises(PaddleCNNError, match="label 2 >= num_classes 2"):
        ListFileDataset(lst, num_classes=2, class_names=["a", "b"])


def test_empty_list_and_missing_list_raise(tmp_path):
    (tmp_path / "empty.txt").write_text("\n# nothing here\n")
    with pytest.raises(PaddleCNNError, match="no usable entries"):
        ListFileDataset(tmp_path / "empty.txt", mean=[0] * 3, std=[1] * 3)
    with pytest.raises(PaddleCNNError, match="list file .*nope.txt not found"):
        ListFileDataset(tmp_path / "nope.txt")
    with pytest.raises(PaddleCNNError, match="neither a built-in dataset"):
        load(tmp_path / "nope.txt")


def test_skip_warns_per_bad_file_and_counts(tmp_path):
    corrupt_files(tmp_path)
    (tmp_path / "l.txt").write_text("good.jpg 0\ntrunc.jpg 1\nmissing.jpg 1\nno_label.jpg\njunk.jpg 0\n")
    with pytest.warns(UserWarning) as caught:
        ds = ListFileDataset(tmp_path / "l.txt", mean=[0] * 3, std=[1] * 3, on_error="skip", input_size=32)
    messages = [str(w.message) for w in caught]
    assert any("line 3: missing.jpg" in m for m in messages) and any("line 4" in m for m in messages)
    assert ds.skipped == 2 and len(ds) == 3  # missing + malformed dropped at construction
    with pytest.warns(UserWarning) as caught:
        items = [ds[i] for i in range(len(ds))]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and "line 2: trunc.jpg" in messages[0] and "line 5: junk.jpg" in messages[1]
    assert items[1] is None and items[2] is None and items[0][1] == 0
    assert ds.skipped == 4
    images, labels, dropped = collate_skip(items)
    assert images.shape == (1, 3, 32, 32) and labels.tolist() == [0] and dropped == 2


def test_skip_with_cache_drops_bad_images_up_front(tmp_path):
    corrupt_files(tmp_path)
    (tmp_path / "l.txt").write_text("good.jpg 0\ntrunc.png 1\ngood.jpg 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = ListFileDataset(tmp_path / "l.txt", mean=[0] * 3, std=[1] * 3, on_error="skip", cache=True)
    assert len(ds) == 2 and ds.skipped == 1 and ds.labels == [0, 1]


def test_collate_skip_all_dropped_gives_empty_batch():
    images, labels, dropped = collate_skip([None, None])
    assert images.shape[0] == 0 and labels.shape == (0,) and dropped == 2


def test_duplicate_entries_warn_but_load(tmp_path):
    lst = tiny_set(tmp_path)
    with open(lst, "a") as f:
        f.write("img/cat/0.png 0\n")
    with pytest.warns(UserWarning, match="1 duplicate entries .*line 7"):
        ds = ListFileDataset(lst)
    assert len(ds) == 7


# ------------------------------------------------------------------- DataLoader
def test_dataloader_two_workers_batches(tmp_path):
    lst = tiny_set(tmp_path, n_per_class=5)
    ds = ListFileDataset(lst, transform="basic", input_size=8, cache=True)
    loader = paddle.io.DataLoader(ds, batch_size=4, shuffle=False, num_workers=2)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8)]
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == [0] * 5 + [1] * 5
    assert batches[0][0].dtype == paddle.float32 and batches[0][1].dtype == paddle.int64


def test_dataloader_two_workers_collate_skip_counts_dropped(tmp_path):
    corrupt_files(tmp_path)
    (tmp_path / "l.txt").write_text("good.jpg 0\ntrunc.jpg 1\ngood.jpg 1\njunk.jpg 0\ngood.jpg 2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = ListFileDataset(tmp_path / "l.txt", mean=[0] * 3, std=[1] * 3, on_error="skip", input_size=16)
        loader = paddle.io.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_skip)
        batches = list(loader)
    assert sum(int(b[2]) for b in batches) == 2
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == [0, 1, 2]
    assert {tuple(b[0].shape[1:]) for b in batches} == {(3, 16, 16)}


# ------------------------------------------------------------------- make-lists
def class_tree(root, counts):
    for k, n in enumerate(counts):
        for i in range(n):
            solid(root / f"class {k}" / f"img {i}.jpg", (k * 20, i, 0), size=(4, 4))
    (root / "class 0" / ".hidden.jpg").write_bytes(b"x")
    (root / "class 0" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()


def read_pairs(path):
    return [(line.rsplit(" ", 1)[0], int(line.rsplit(" ", 1)[1])) for line in path.read_text().splitlines()]


def test_make_lists_stratified_disjoint_complete_and_seeded(tmp_path):
    root = tmp_path / "flowers"
    class_tree(root, [20, 12, 8])
    with pytest.warns(UserWarning, match="no images"):
        out = make_lists(root, split=0.75, test=0.1, seed=0)
    train, evl, test = (read_pairs(out[s]) for s in ("train", "eval", "test"))
    assert (root / "labels.txt").read_text() == "class 0\nclass 1\nclass 2\n"
    all_paths = [p for p, _ in train + evl + test]
    assert len(all_paths) == len(set(all_paths)) == 40          # every image exactly once
    assert {p.split("/")[0] for p in all_paths} == {"class 0", "class 1", "class 2"}
    per_class = lambda pairs: [sum(1 for _, y in pairs if y == k) for k in range(3)]  # noqa: E731
    assert per_class(train) == [15, 9, 6]                        # 75 % of each class
    assert per_class(test) == [2, 1, 1] and per_class(evl) == [3, 2, 1]
    assert all(p.startswith(f"class {y}/") for p, y in train + evl + test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = make_lists(root, split=0.75, test=0.1, seed=0, out=tmp_path / "again")
        other = make_lists(root, split=0.75, test=0.1, seed=1, out=tmp_path / "other")
    assert read_pairs(again["train"]) == train                   # same seed, same split
    assert read_pairs(other["train"]) != train and len(read_pairs(other["train"])) == 30
    # dataset.json in out/ records the image root, outside its own folder: used only when asked
    with pytest.raises(PaddleCNNError, match=r"again/dataset.json.*outside the folder of dataset.json"):
        ListFileDataset(again["train"])
    assert len(ListFileDataset(again["train"], allow_outside_root=True)) == 30
    ds = ListFileDataset(again["train"], root=root)
    assert len(ds) == 30 and ds.class_names == ["class 0", "class 1", "class 2"]


def test_make_lists_cli(tmp_path, capsys):
    from paddlecnn.cli import main

    class_tree(tmp_path / "root", [4, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["data", "make-lists", str(tmp_path / "root"), "--split", "0.5", "--seed", "3",
                     "--out", str(tmp_path / "lists")])
    assert code == 0
    assert len((tmp_path / "lists" / "train.txt").read_text().splitlines()) == 4
    assert len((tmp_path / "lists" / "eval.txt").read_text().splitlines()) == 4
    assert not (tmp_path / "lists" / "test.txt").exists()
    assert "2 classes" in capsys.readouterr().out
    assert main(["data", "make-lists", str(tmp_path / "nowhere")]) == 2


def test_stats_cli_prints_and_saves(tmp_path, capsys):
    from paddlecnn.cli import main

    solid(tmp_path / "a.png", 0, mode="L")
    solid(tmp_path / "b.png", 255, mode="L")
    (tmp_path / "l.txt").write_text("a.png 0\nb.png 1\n")
    assert main(["data", "stats", str(tmp_path / "l.txt"), "--out", str(tmp_path / "s.json")]) == 0
    assert "mean [0.5000]  std [0.5000]" in capsys.readouterr().out
    assert read_stats(tmp_path / "x" / ".." / "l.txt") is None  # saved where asked, not next to the list
    import json

    assert json.loads((tmp_path / "s.json").read_text())["std"] == [0.5]


def test_caltech16_from_101(tmp_path):
    src = tmp_path / "101_ObjectCategories"
    class_tree(src, [10, 10, 10])
    out = tmp_path / "caltech16"
    written = caltech16_from_101(src, ["class 2", "class 0"], out, seed=0)
    assert (out / "labels.txt").read_text() == "class 2\nclass 0\n"
    pairs = read_pairs(written["train"]) + read_pairs(written["eval"]) + read_pairs(written["test"])
    assert len(pairs) == 20 and all(p.startswith("Images/class ") for p, _ in pairs)
    assert {y for p, y in pairs if "class 2/" in p} == {0}
    assert len(read_pairs(written["train"])) == 16
    ds = load(out, split="eval")  # a folder with Train/Eval/Test.txt
    assert len(ds) == 2 and ds.class_names == ["class 2", "class 0"]
    with pytest.raises(PaddleCNNError, match="nope.* not found"):
        caltech16_from_101(src, ["nope"], tmp_path / "x")


def test_cache_over_budget_warns_and_decodes_lazily(tmp_path, monkeypatch):
    lst = tiny_set(tmp_path)
    monkeypatch.setenv("PADDLECNN_CACHE_MB", "0.0001")  # ~105 bytes; 6 images of 8x8x3 need 1152
    with pytest.warns(UserWarning, match="over PADDLECNN_CACHE_MB"):
        ds = ListFileDataset(lst, cache=True, input_size=8)
    assert ds._images is None and ds[5][1] == 1
    monkeypatch.setenv("PADDLECNN_CACHE_MB", "1")
    assert ListFileDataset(lst, cache=True, input_size=8)._images is not None


def _ramp_set(tmp_path, n=6, size=12):
    """n RGB PNGs with distinct ramps (no two pixels of a row equal, so shifts and flips show)."""
    lines = []
    for i in range(n):
        a = (np.arange(size * size * 3).reshape(size, size, 3) * (i + 1) % 251).astype(np.uint8)
        path = tmp_path / "img" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(path)
        lines.append(f"img/{i}.png {i % 2}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.txt"


@pytest.mark.parametrize("preset", ["basic", "shift", "eval"])
def test_cached_dataset_keeps_transformed_arrays_and_gives_the_same_samples(tmp_path, preset):
    """With the cache, the deterministic part of the transform is kept per image; samples equal
    the uncached dataset's draw for draw (same random calls), and no caller can alter the cache."""
    import random

    lst = _ramp_set(tmp_path)
    kept = ListFileDataset(lst, transform=preset, input_size=12, mean=[0.5] * 3, std=[0.2] * 3, cache=True)
    plain = ListFileDataset(lst, transform=preset, input_size=12, mean=[0.5] * 3, std=[0.2] * 3, cache=False)
    assert kept._heads is not None and plain._heads is None
    assert all(h is not None for h in kept._heads)          # computed with the cache, before any epoch
    for seed in range(3):
        random.seed(seed)
        a = [kept[i][0] for i in range(6)]
        random.seed(seed)
        b = [plain[i][0] for i in range(6)]
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert sum(h is not None for h in kept._heads) == 6
    x = kept[0][0]
    x += 100.0                                              # a caller changing its sample ...
    random.seed(0)
    y = kept[0][0]
    random.seed(0)
    assert np.array_equal(y, plain[0][0])                   # ... does not change the next one
    kept.transform = plain.transform                        # a new transform drops the kept arrays
    assert kept._heads is not None and all(h is None for h in kept._heads)


def test_random_head_presets_are_not_kept(tmp_path):
    """Only build()'s deterministic presets are kept: a hand-made Pipeline (even one named
    "shift", as lesson 02 builds with a random crop inside) stays random on every access."""
    import random
    from paddle.vision import transforms as PT
    from paddlecnn.data.transforms import Pipeline

    lst = _ramp_set(tmp_path)
    own = Pipeline("shift", 12, [PT.RandomCrop(12, padding=2)], [], [0.5] * 3, [0.2] * 3)
    ds = ListFileDataset(lst, transform=own, input_size=12, cache=True)
    assert ds._images is not None and ds._heads is None
    random.seed(1)
    draws = [ds[0][0] for _ in range(8)]
    assert not all(np.array_equal(draws[0], d) for d in draws[1:])
    ds = ListFileDataset(lst, transform="alexnet", input_size=12, mean=[0.5] * 3, std=[0.2] * 3, cache=True)
    assert ds._images is not None and ds._heads is None     # random resize/crop: decoded images only
    ds.transform = lambda img: np.zeros((3, 12, 12), np.float32)
    assert ds._heads is None and ds[0][0].shape == (3, 12, 12)


# ------------------------------------------------------------------- layering
def test_data_modules_import_one_way_function_level_imports_included():
    """Every relative import inside paddlecnn/data (module level or in a function) points down the
    layers images < lists < stats, transforms < dataset < check, folders, shapes16, builtin."""
    import ast
    from pathlib import Path

    import paddlecnn.data as pkg

    folder = Path(pkg.__file__).parent
    graph = {}
    for f in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        graph[f.stem] = deps - {f.stem, "__init__"}
    assert graph["images"] == set() and graph["lists"] == {"images"}
    assert graph["stats"] <= {"images", "lists"} and graph["transforms"] <= {"images", "lists"}
    order, seen = [], set()

    def visit(mod, stack):
        assert mod not in stack, f"import cycle: {' -> '.join(stack + [mod])}"
        if mod not in seen:
            for dep in sorted(graph.get(mod, ())):
                visit(dep, stack + [mod])
            seen.add(mod)
            order.append(mod)

    for mod in sorted(graph):
        visit(mod, [])
    assert order.index("lists") < order.index("stats") < order.index("dataset") < order.index("builtin")
