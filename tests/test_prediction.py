"""predict() and `python -m paddlecnn predict`; features, neighbours, montage, filter grid."""
import json

import numpy as np
import paddle
import paddle.nn as nn
import pytest
from PIL import Image

from paddlecnn import checkpoint
from paddlecnn.cli import main
from paddlecnn.errors import PaddleCNNError
from paddlecnn.models import create
from paddlecnn.prediction import (extract_features, filter_grid, nearest_neighbours, neighbour_montage,
                                  predict)

NAMES = ["circle", "square", "triangle"]


def _run(tmp_path):
    """A run folder like training writes: config.json (model, options, data_info) + best.pdparams."""
    options = {"num_classes": 3, "in_channels": 1}
    model = create("lenet5", **options)
    run = tmp_path / "run"
    run.mkdir()
    info = {"class_names": NAMES, "num_classes": 3, "mean": [0.5], "std": [0.25], "input_size": 32, "channels": 1}
    (run / "config.json").write_text(json.dumps({"model": "lenet5", "model_options": options, "data_info": info}))
    checkpoint.save_weights(model.state_dict(), run / "best.pdparams")
    model.eval()
    return run, model


def _images(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return sorted(folder.glob("*.png"))


def test_predict_uses_the_runs_class_names_and_preprocessing(tmp_path):
    run, model = _run(tmp_path)
    files = _images(tmp_path / "imgs")
    results = predict(run, tmp_path / "imgs", topk=2)
    assert [r.path for r in results] == [str(f) for f in files]
    for r, f in zip(results, files):
        assert r.ok and len(r.top) == 2 and {n for n, _ in r.top} <= set(NAMES)
        assert r.top[0][1] >= r.top[1][1]
        # Same numbers as the model on the eval preprocessing: gray, resize 32, centre crop, (x - 0.5) / 0.25.
        img = Image.open(f).convert("L").resize((38, 32), Image.BILINEAR)
        x = (np.asarray(img, np.float32)[:, 3:35] / 255.0 - 0.5) / 0.25
        probs = nn.functional.softmax(model(paddle.to_tensor(x[None, None]))).numpy()[0]
        assert r.top[0] == (NAMES[int(probs.argmax())], pytest.approx(float(probs.max()), abs=2e-2))


def test_unreadable_images_are_reported_and_the_rest_predicted(tmp_path):
    run, _ = _run(tmp_path)
    _images(tmp_path / "imgs", n=2)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    results = predict(run, [tmp_path / "imgs", tmp_path / "missing.jpg"], topk=5)
    errors = {r.path.rsplit("/", 1)[-1]: r.error for r in results if not r.ok}
    assert set(errors) == {"broken.png", "missing.jpg"}
    assert "file not found" in errors["missing.jpg"]
    ok = [r for r in results if r.ok]
    assert len(ok) == 2 and all(len(r.top) == 3 for r in ok)  # topk 5 of 3 classes
    assert sum(p for _, p in ok[0].top) == pytest.approx(1.0, abs=1e-5)


def test_cli_predict_exit_code_says_whether_any_failed(tmp_path, capsys):
    run, _ = _run(tmp_path)
    _images(tmp_path / "imgs", n=2)
    assert main(["predict", str(run), str(tmp_path / "imgs"), "--topk", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].split(": ")[1].split()[0] in NAMES
    (tmp_path / "imgs" / "bad.jpg").write_text("oops")
    assert main(["predict", str(run), str(tmp_path / "imgs")]) == 1
    captured = capsys.readouterr()
    assert "bad.jpg: error:" in captured.err and len(captured.out.strip().splitlines()) == 2


class _Array(paddle.io.Dataset):
    def __init__(self, x, y, mean=None, std=None):
        super().__init__()
        self.x, self.y = np.asarray(x, np.float32), np.asarray(y, np.int64)
        self.class_names = ["a", "b"]
        if mean is not None:
            self.mean, self.std = mean, std

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_features_are_the_penultimate_layer():
    net = create("vgg11", num_classes=2, input_size=32, width=0.125)
    data = _Array(np.random.default_rng(0).normal(size=(5, 3, 32, 32)), [0, 1, 0, 1, 0])
    feats, labels = extract_features(net, data, batch_size=2)
    assert feats.shape == (5, 512) and feats.dtype == np.float32  # fc7: 4096 * 0.125
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(feats, net.embed(paddle.to_tensor(data.x)).numpy(), atol=1e-5)
    # Larger images are centre-cropped to the model's 32 pixels first.
    big = _Array(np.random.default_rng(1).normal(size=(2, 3, 40, 40)), [0, 1])
    feats, _ = extract_features(net, big)
    np.testing.assert_allclose(feats, net.embed(paddle.to_tensor(big.x[:, :, 4:36, 4:36])).numpy(), atol=1e-5)
    # A model without embed(): the input of its last Linear layer.
    plain = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 7), nn.ReLU(), nn.Linear(7, 2))
    feats, _ = extract_features(plain, data)
    assert feats.shape == (5, 7) and feats.min() >= 0


def test_nearest_neighbours_by_euclidean_distance():
    feats = np.array([[0, 0], [1, 0], [0, 2], [5, 5]], np.float32)
    idx, dist = nearest_neighbours(feats, [0, 3], k=2)
    np.testing.assert_array_equal(idx, [[1, 2], [2, 1]])
    np.testing.assert_allclose(dist, [[1, 2], [np.sqrt(34), np.sqrt(41)]], rtol=1e-6)
    idx, dist = nearest_neighbours(feats, np.array([[0.9, 0.1]]), k=1)
    assert idx.tolist() == [[1]] and dist[0, 0] == pytest.approx(np.sqrt(0.02), rel=1e-5)


def test_neighbour_montage_png(tmp_path):
    x = np.random.default_rng(0).uniform(size=(4, 3, 8, 8))
    data = _Array(x, [0, 1, 0, 1], mean=[0.0] * 3, std=[1.0] * 3)
    path = neighbour_montage(data, [0, 1], np.array([[2, 3], [3, 0]]), tmp_path / "nn.png",
                             distances=np.ones((2, 2)), tile=16)
    img = Image.open(path)
    assert img.size == (3 * 20, 2 * (16 + 24 + 4))  # two caption lines: class, distance
    # The query tile holds the (un-normalised) image, enlarged 2x with nearest neighbour.
    tile = np.asarray(img)[2:18, 2:18]
    np.testing.assert_array_equal(tile[::2, ::2], (x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8))


def test_filter_grid_tiles_the_first_layer(tmp_path):
    net = create("alexnet", num_classes=2, width=0.125)  # 12 kernels of 11x11x3
    conv = next(l for l in net.sublayers() if isinstance(l, nn.Conv2D))
    w = np.zeros(conv.weight.shape, np.float32)
    w[0, 0, 0, 0] = 1.0  # kernel 0: one red pixel at the top-left on black
    w[1] = np.linspace(-1, 1, 11)[None, None, :]  # kernel 1: gray ramp left to right
    conv.weight.set_value(w)
    grid = filter_grid(net, tmp_path / "filters.png")
    # 12 kernels -> 4 columns x 3 rows; each kernel 11 px enlarged 2x (22 px) + 1 px gaps.
    assert grid.shape == (3 * 23 + 1, 4 * 23 + 1, 3)
    assert Image.open(tmp_path / "filters.png").size == (93, 70)
    k0 = grid[1:23, 1:23]
    assert k0[0, 0].tolist() == [255, 0, 0] and k0[5, 5].tolist() == [0, 0, 0]
    k1 = grid[1:23, 24:46]
    assert k1[0, 0].tolist() == [0, 0, 0] and k1[0, -1].tolist() == [255, 255, 255]
    assert grid[0].min() == 255  # white gap


def test_predict_errors():
    with pytest.raises(PaddleCNNError, match="topk"):
        predict(nn.Linear(2, 2), [], topk=0)
    with pytest.raises(PaddleCNNError, match="no such image file or folder"):
        predict(create("lenet5", num_classes=3, in_channels=1), "/nonexistent/folder")


def test_cli_filters_and_neighbours(tmp_path, capsys):
    run, _ = _run(tmp_path)
    folder = tmp_path / "data"
    _images(folder / "img", n=6)
    lines = [f"img/img{i}.png {i % 3}" for i in range(6)]
    for split in ("train", "test"):
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (folder / "labels.txt").write_text("\n".join(NAMES) + "\n")
    code = main(["predict", str(run), "--filters", str(tmp_path / "f.png"), "--neighbours", str(folder),
                 "--queries", "2", "-k", "3", "--montage", str(tmp_path / "nn.png")])
    assert code == 0
    out = capsys.readouterr().out
    assert "features 84-d for 6 images" in out  # LeNet-5's F6 layer
    assert Image.open(tmp_path / "nn.png").size == (4 * 68, 2 * (64 + 24 + 4))
    assert Image.open(tmp_path / "f.png").size[0] > 0


def test_neighbours_write_a_new_file_and_never_replace_one(tmp_path, capsys, monkeypatch):
    run, _ = _run(tmp_path)
    folder = tmp_path / "data"
    _images(folder / "img", n=4)
    for split in ("train", "test"):
        (folder / f"{split}.txt").write_text("".join(f"img/img{i}.png {i % 3}\n" for i in range(4)))
    monkeypatch.chdir(tmp_path)
    args = ["predict", str(run), "--neighbours", str(folder), "--queries", "1", "-k", "1"]
    assert main(args) == 0 and main(args) == 0
    assert sorted(p.name for p in run.glob("neighbours-*.png")) == ["neighbours-1.png", "neighbours-2.png"]
    assert not (tmp_path / "neighbours.png").exists()            # not in the working directory any more
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my picture")
    capsys.readouterr()
    assert main(args + ["--montage", str(mine)]) == 2
    assert "mine.png already exists" in capsys.readouterr().err and mine.read_bytes() == b"my picture"
    assert main(["predict", str(run), "--filters", str(mine)]) == 2 and mine.read_bytes() == b"my picture"
    assert main(args + ["--montage", str(mine), "--force"]) == 0
    assert Image.open(mine).size[0] > 0


@pytest.mark.parametrize("flag", ["--batch-size", "--topk"])
def test_cli_predict_zero_numbers_name_the_flag(tmp_path, capsys, flag):
    run, _ = _run(tmp_path)
    files = _images(tmp_path / "img", n=1)
    assert main(["predict", str(run), str(files[0]), flag, "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {flag} must be >= 1, got 0"
    with pytest.raises(PaddleCNNError, match=r"batch_size must be a whole number >= 1 \(--batch-size\)"):
        predict(run, files, batch_size=0)


def test_a_bom_in_an_image_path_is_visible(tmp_path, capsys):
    run, _ = _run(tmp_path)
    missing = "\ufeff" + str(tmp_path / "cat.png")
    assert main(["predict", str(run), missing]) == 1
    err = capsys.readouterr().err
    assert "'\\ufeff" in err and "invisible character" in err and "\ufeff" not in err
    with pytest.raises(PaddleCNNError, match=r"'\\ufeff.*no such image file or folder"):
        predict(run, "\ufeff" + str(tmp_path / "photos"))
