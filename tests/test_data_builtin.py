"""Built-in datasets: real mnist5k/animals10 from PyPI packages, the shapes16 generator, load()."""
import hashlib
import json
import multiprocessing
import os

import numpy as np
import pytest
from PIL import Image

from paddlecnn.data import builtin, list_builtin, load, materialise, shapes16
from paddlecnn.data.lists import parse_list
from paddlecnn.errors import PaddleCNNError

TINY = {"train": 2, "eval": 1, "test": 1}


def split_counts(folder, names=("train.txt", "eval.txt", "test.txt")):
    out = []
    for name in names:
        entries, problems = parse_list(folder / name)
        assert problems == []
        out.append(np.bincount([e.label for e in entries]).tolist())
    return out


def test_list_builtin():
    assert list_builtin() == ["shapes16", "mnist5k", "animals10"]


def test_mnist5k_real_digits_split_4000_500_500_stratified():
    folder = materialise("mnist5k")
    train, evl, test = split_counts(folder)
    assert train == [400] * 10 and evl == [50] * 10 and test == [50] * 10
    assert (folder / "labels.txt").read_text().split() == [str(k) for k in range(10)]
    stats = builtin.read_stats(folder / "train.txt")
    assert stats["channels"] == 1 and stats["images"] == 4000 and stats["image_size"] == [28, 28]
    assert 0.12 < stats["mean"][0] < 0.14 and 0.29 < stats["std"][0] < 0.33  # MNIST: 0.13 / 0.31
    images, labels = builtin.mnist5k_arrays()
    assert images.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    entries, _ = parse_list(folder / "train.txt")
    first = entries[0]
    index = int(first.path.rsplit("/", 1)[1].split(".")[0])
    assert np.array_equal(np.asarray(Image.open(folder / first.path)), images[index])  # lossless PNG
    assert labels[index] == first.label


def test_animals10_duplicates_dropped_and_no_image_in_two_splits():
    images, labels = builtin.animals10_arrays()
    assert len(images) == 10000 - 284
    assert len({im.tobytes() for im in images}) == len(images)
    folder = materialise("animals10")
    assert (folder / "labels.txt").read_text().split() == list(builtin.ANIMALS)
    digests = {}
    for split in ("train", "eval", "test"):
        entries, _ = parse_list(folder / f"{split}.txt")
        digests[split] = {hashlib.md5(np.asarray(Image.open(folder / e.path)).tobytes()).hexdigest()
                          for e in entries}
        assert len(digests[split]) == len(entries)
    assert not digests["train"] & digests["eval"]
    assert not digests["train"] & digests["test"] and not digests["eval"] & digests["test"]
    assert sum(len(d) for d in digests.values()) == 9716


def test_shapes16_byte_identical_for_a_seed_and_different_for_another(tmp_path):
    a = shapes16.generate(tmp_path / "a", size=32, seed=0, per_class=TINY)
    b = shapes16.generate(tmp_path / "b", size=32, seed=0, per_class=TINY)
    c = shapes16.generate(tmp_path / "c", size=32, seed=1, per_class=TINY)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 16 * 4 + 4  # images + Train/Eval/Test.txt + labels.txt
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    images = [f for f in files if f.suffix == ".jpg"]
    assert sum((a / f).read_bytes() != (c / f).read_bytes() for f in images) == len(images)


def test_shapes16_caltech_layout(tmp_path):
    out = shapes16.generate(tmp_path / "s", size=32, per_class=TINY)
    assert (out / "labels.txt").read_text().split() == list(shapes16.CLASSES)
    train, evl, test = split_counts(out, ("Train.txt", "Eval.txt", "Test.txt"))
    assert train == [2] * 16 and evl == [1] * 16 and test == [1] * 16
    entries, _ = parse_list(out / "Train.txt")
    assert entries[0].path == "Images/circle/circle_0000.jpg"
    img = Image.open(out / entries[0].path)
    assert img.mode == "RGB" and img.size == (32, 32) and img.format == "JPEG"


def test_shapes16_colour_does_not_identify_the_class():
    # The mean colour of the images of one class spreads as widely as over all classes.
    means = np.array([[np.asarray(shapes16.draw_image(k, i, 32), float).mean((0, 1)) for i in range(12)]
                      for k in range(16)])
    within = means.std(axis=1).mean()
    between = means.mean(axis=1).std(axis=0).mean()
    assert within > 25 and between < within


def _materialise_in_child(data):
    os.environ["PADDLECNN_DATA"] = data
    return str(materialise("shapes16"))


def test_materialise_is_cached_atomic_and_race_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLECNN_DATA", str(tmp_path))
    monkeypatch.setattr(shapes16, "PER_CLASS", TINY)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:  # two processes build at once: both get the one complete folder
        folders = pool.map(_materialise_in_child, [str(tmp_path)] * 2)
    assert folders == [str(tmp_path / "shapes16")] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes16"]  # no temporary folder left
    stamp = (tmp_path / "shapes16" / "stats.json").stat().st_mtime_ns
    assert materialise("shapes16") == tmp_path / "shapes16"
    assert (tmp_path / "shapes16" / "stats.json").stat().st_mtime_ns == stamp  # not rebuilt
    (tmp_path / "animals10").mkdir()  # a half-written or foreign folder is never used
    with pytest.raises(PaddleCNNError, match="not a complete built-in dataset; delete it"):
        materialise("animals10")
    stats = builtin.read_stats(tmp_path / "shapes16")  # an older generator's folder is rebuilt
    (tmp_path / "shapes16" / "stats.json").write_text(json.dumps(dict(stats, version=0)))
    (tmp_path / "shapes16" / "old-file").write_text("x")
    assert materialise("shapes16") == tmp_path / "shapes16"
    assert builtin.read_stats(tmp_path / "shapes16")["version"] == builtin.VERSIONS["shapes16"]
    assert not (tmp_path / "shapes16" / "old-file").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["animals10", "shapes16"]


def test_load_builtin_defaults_transforms_subset_and_channels(tmp_path, monkeypatch):
    ds = load("mnist5k", "eval")
    assert len(ds) == 500 and ds.channels == 1 and ds.input_size == 28 and ds.num_classes == 10
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and isinstance(y, np.int64)
    assert abs(float(np.mean([ds[i][0].mean() for i in range(0, 500, 5)]))) < 0.2  # normalised by train stats
    sub = load("mnist5k", "train", subset=50, seed=1, transform="basic", input_size=32, channels=3)
    assert len(sub) == 50 and np.bincount(sub.labels).tolist() == [5] * 10
    assert sub[0][0].shape == (3, 32, 32) and sub.mean == [sub.mean[0]] * 3
    assert load("mnist5k", "train", subset=50, seed=1).samples == sub.samples
    assert load("mnist5k", "train", subset=50, seed=2).samples != sub.samples
    with pytest.raises(PaddleCNNError, match="split='val'"):
        load("mnist5k", "val")
    monkeypatch.setenv("PADDLECNN_DATA", str(tmp_path))
    monkeypatch.setattr(shapes16, "PER_CLASS", TINY)
    s16 = load("shapes16", "test")
    assert len(s16) == 16 and s16[0][0].shape == (3, 64, 64) and s16.class_names[15] == "spiral"
    assert [builtin._shapes16_size(n) for n in (None, 32, 64, 65, 224, 256)] == [64, 64, 64, 224, 224, 256]
    with pytest.raises(PaddleCNNError, match="shapes16-SIZE"):
        load("shapes16-big")
    with pytest.raises(PaddleCNNError, match="neither a built-in dataset"):
        load("mnist6k")


def test_cli_prepare_and_stats_keep_the_builtin_usable(tmp_path, monkeypatch, capsys):
    from paddlecnn.cli import main

    monkeypatch.setenv("PADDLECNN_DATA", str(tmp_path))
    monkeypatch.setattr(shapes16, "PER_CLASS", TINY)
    assert main(["data", "prepare", "shapes16"]) == 0
    assert str(tmp_path / "shapes16") in capsys.readouterr().out
    assert main(["data", "stats", str(tmp_path / "shapes16" / "Eval.txt")]) == 0  # rewrites stats.json
    stats = builtin.read_stats(tmp_path / "shapes16")
    assert stats["images"] == 16 and stats["version"] == builtin.VERSIONS["shapes16"]
    assert materialise("shapes16") == tmp_path / "shapes16"  # still recognised as complete


def test_each_dataset_declares_its_training_transform(tmp_path):
    from paddlecnn.data import default_transform, transforms
    from paddlecnn.data.transforms import RandomFlip

    # digits and silhouettes are never mirrored by default; a photo folder may be
    for name in ("mnist5k", "animals10", "shapes16", "shapes16-224"):
        assert default_transform(name) == "shift"
        pipe = transforms.build(default_transform(name), 28)
        assert not any(isinstance(op, RandomFlip) for op in pipe._tail)
    (tmp_path / "train.txt").write_text("a.png 0\n")
    assert default_transform(tmp_path / "train.txt") == "basic" == default_transform(tmp_path)
    (tmp_path / "dataset.json").write_text('{"transform": "shift"}')     # your own digits declare it
    assert default_transform(tmp_path / "train.txt") == "shift"
    (tmp_path / "dataset.json").write_text('{"transform": "mirror"}')
    with pytest.raises(PaddleCNNError, match=r"dataset.json: \"transform\": 'mirror' is not a preset"):
        default_transform(tmp_path)
