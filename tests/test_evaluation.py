"""evaluate(): centre, ten-crop, dense (multi-scale), multi-crop+dense, ensemble; metrics and files."""
import json
import shutil
import warnings

import numpy as np
import paddle
import pytest

from paddlecnn.errors import PaddleCNNError
from paddlecnn.evaluation import EvalResult, evaluate, metrics, scale_size
from paddlecnn.models import create

TINY = dict(input_size=32, width=0.125)


class ArrayDataset(paddle.io.Dataset):
    """In-memory (float32 (C, H, W), int64 label) samples."""

    def __init__(self, images, labels, class_names=None):
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        if class_names is not None:
            self.class_names = class_names

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def _random_set(n=6, size=32, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return ArrayDataset(rng.normal(size=(n, 3, size, size)), np.arange(n) % classes)


def _vgg(classes=3, seed=0):
    paddle.seed(seed)
    return create("vgg11", num_classes=classes, **TINY)


def test_ten_crop_on_a_constant_image_equals_center():
    levels = np.linspace(-1.0, 1.0, 5)
    images = levels[:, None, None, None] * np.ones((5, 3, 40, 40))
    data = ArrayDataset(images, [0, 1, 2, 0, 1])
    net = _vgg()
    center = evaluate(net, data, method="center")
    ten = evaluate(net, data, method="ten_crop")
    np.testing.assert_allclose(ten.probs, center.probs, atol=1e-6)
    assert ten.loss == pytest.approx(center.loss, abs=1e-5)
    # On random images the ten crops see different pixels, so the posteriors move.
    noisy = _random_set(size=40)
    assert np.abs(evaluate(net, noisy, method="ten_crop").probs - evaluate(net, noisy).probs).max() > 1e-4


def test_dense_at_the_training_size_equals_center_for_vgg():
    net = _vgg()
    data = _random_set(size=32)
    center = evaluate(net, data, method="center")
    # Q = 224 in the papers' pixels is the training crop itself: 224 * 32 / 224 = 32.
    dense = evaluate(net, data, method="dense", scales=[224], flip=False)
    assert dense.scales == [32]
    np.testing.assert_allclose(dense.probs, center.probs, atol=1e-5)
    # The flip is averaged in by default: equal for mirror-symmetric images only.
    sym = data.images + data.images[..., ::-1]
    mirrored = ArrayDataset(sym, data.labels)
    np.testing.assert_allclose(evaluate(net, mirrored, method="dense", scales=[224]).probs,
                               evaluate(net, mirrored).probs, atol=1e-5)
    assert np.abs(evaluate(net, data, method="dense", scales=[224]).probs - center.probs).max() > 1e-4


def test_multi_scale_dense_scales_with_the_input_size():
    assert [scale_size(q, 64) for q in (256, 384, 512)] == [73, 110, 146]
    net = _vgg()
    result = evaluate(net, _random_set(n=4, size=37), method="dense", scales=[256, 384, 512])
    assert result.scales == [37, 55, 73]
    np.testing.assert_allclose(result.probs.sum(1), np.ones(4), atol=1e-5)


def test_multi_crop_plus_dense_is_the_mean_of_both():
    net = _vgg()
    data = _random_set(n=4, size=37)
    ten = evaluate(net, data, method="ten_crop")
    dense = evaluate(net, data, method="dense")
    both = evaluate(net, data, method="multi_crop+dense")
    np.testing.assert_allclose(both.probs, (ten.probs + dense.probs) / 2, atol=1e-6)


def test_ensemble_of_one_model_equals_that_model_and_two_average():
    data = _random_set()
    a, b = _vgg(seed=1), _vgg(seed=2)
    single = evaluate(a, data)
    np.testing.assert_allclose(evaluate(a, data, method="ensemble").probs, single.probs, atol=1e-7)
    pair = evaluate(a, data, method="ensemble", checkpoints=[b])
    np.testing.assert_allclose(pair.probs, (single.probs + evaluate(b, data).probs) / 2, atol=1e-6)
    with pytest.raises(PaddleCNNError, match="ensemble"):
        evaluate([a, b], data, method="center")


def test_confusion_sums_to_dataset_size_and_top5_at_least_top1():
    data = _random_set(n=7, classes=7)
    data.labels = np.array([0, 1, 2, 3, 4, 5, 6])
    result = evaluate(_vgg(classes=7), data, batch_size=3)
    assert result.confusion.sum() == 7 and result.num_samples == 7
    assert result.topk == 5 and 0 <= result.top1 <= result.top5 <= 1
    three = evaluate(_vgg(classes=3), _random_set(n=5))
    assert three.topk == 3 and three.top5 == 1.0  # top-5 of 3 classes is top-3: always right


def test_metrics_by_hand():
    probs = np.array([[0.7, 0.2, 0.1],    # true 0, predicted 0
                      [0.5, 0.4, 0.1],    # true 1, predicted 0 (1 is second)
                      [0.1, 0.2, 0.7],    # true 2, predicted 2
                      [0.3, 0.6, 0.1]])   # true 0, predicted 1
    result = metrics(probs, [0, 1, 2, 0], ["cat", "dog", "fox"])
    assert result.top1 == pytest.approx(0.5)
    assert result.top5 == pytest.approx(1.0) and result.topk == 3
    assert result.loss == pytest.approx(-np.mean(np.log([0.7, 0.4, 0.7, 0.3])))
    np.testing.assert_array_equal(result.confusion, [[1, 1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(result.per_class, [0.5, 0.0, 1.0])
    with pytest.raises(PaddleCNNError, match="labels must be in"):
        metrics(probs, [0, 1, 2, 3])


def test_save_writes_png_csv_and_json(tmp_path):
    result = metrics(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), [0, 1, 1], ["a", "b"])
    paths = result.save(tmp_path / "eval")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = paths["csv"].read_text().splitlines()
    assert rows == ["true \\ predicted,a,b", "a,1,0", "b,1,1"]
    saved = json.loads(paths["metrics"].read_text())
    assert saved["top1"] == pytest.approx(2 / 3) and saved["num_samples"] == 3
    assert saved["per_class"] == {"a": 1.0, "b": 0.5}


def test_out_dir_and_class_names_from_the_dataset(tmp_path):
    data = _random_set(n=3)
    data.class_names = ["x", "y", "z"]
    result = evaluate(_vgg(), data, out_dir=tmp_path)
    assert isinstance(result, EvalResult) and result.class_names == ["x", "y", "z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion.csv", "confusion.png", "metrics.json"]


def test_errors_name_the_argument():
    data = _random_set(n=2)
    with pytest.raises(PaddleCNNError, match="method='best'"):
        evaluate(_vgg(), data, method="best")
    lenet = create("lenet5", num_classes=3, in_channels=3)
    with pytest.raises(PaddleCNNError, match="needs a VGG"):
        evaluate(lenet, data, method="dense")
    with pytest.raises(PaddleCNNError, match="--scales only applies"):
        evaluate(_vgg(), data, method="center", scales=[256])
    with pytest.raises(PaddleCNNError, match="no such run folder"):
        evaluate("/nonexistent/run", data)


def _list_folder(tmp_path, n=6, size=48):
    """A dataset folder as a user brings it: images, train.txt/test.txt, labels.txt."""
    from PIL import Image

    folder = tmp_path / "shapes"
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + 8), dtype=np.uint8)).save(folder / "img" / f"{i}.png")
        lines.append(f"img/{i}.png {i % 3}")
    for split in ("train", "test"):
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (folder / "labels.txt").write_text("a\nb\nc\n")
    return folder


def _run(tmp_path, preset=None):
    from paddlecnn import checkpoint

    options = {"num_classes": 3, "in_channels": 1}
    model = create("lenet5", **options)
    run = tmp_path / "run"
    run.mkdir()
    config = {"model": "lenet5", "model_options": options,
              "data_info": {"class_names": ["a", "b", "c"], "num_classes": 3, "mean": [0.5], "std": [0.25],
                            "input_size": 32, "channels": 1}}
    if preset:
        config["transform"] = preset
    (run / "config.json").write_text(json.dumps(config))
    checkpoint.save_weights(model.state_dict(), run / "best.pdparams")
    return run


def test_named_data_is_resized_not_cropped_for_ten_crop(tmp_path):
    from paddlecnn.evaluation import eval_dataset

    folder = _list_folder(tmp_path)
    info = {"channels": 1, "mean": [0.5], "std": [0.25]}
    ds = eval_dataset(folder, "test", info, input_size=32)
    x, y = ds[0]
    assert x.shape == (1, 37, 37) and y == 0   # S = 256/224 * 32
    # The run's normalisation: a white pixel (1.0) becomes (1 - 0.5) / 0.25 = 2.
    assert x.max() <= 2.0 + 1e-6 and x.min() >= -2.0 - 1e-6
    run = _run(tmp_path)
    ten = evaluate(run, folder, method="ten_crop")
    assert ten.num_samples == 6 and ten.class_names == ["a", "b", "c"]
    center = evaluate(run, folder)  # no crop-based training preset recorded: the whole image at 32
    assert center.confusion.sum() == 6 and not np.allclose(center.probs, ten.probs)


def test_center_view_follows_crop_based_training(tmp_path):
    from paddlecnn.evaluation import center_resize

    assert center_resize({"config": {"transform": "alexnet"}}, 64) == 73
    assert center_resize({"config": {"transform": "basic"}}, 64) == 64
    assert center_resize({}, 64) == 64


def test_cli_evaluate_writes_the_report(tmp_path, capsys):
    from paddlecnn.cli import main

    folder = _list_folder(tmp_path)
    run = _run(tmp_path)
    assert main(["evaluate", str(run), "--data", str(folder), "--method", "ten_crop"]) == 0
    out = capsys.readouterr().out
    assert "ten_crop: 6 images" in out and "(2 images)" in out
    saved = json.loads((run / "eval-ten_crop" / "metrics.json").read_text())
    assert saved["num_samples"] == 6 and sum(map(sum, saved["confusion"])) == 6
    assert main(["evaluate", str(run), "--data", str(folder), "--subset", "3", "--out", str(tmp_path / "q")]) == 0
    assert "center: 3 images" in capsys.readouterr().out and (tmp_path / "q" / "confusion.png").is_file()
    assert main(["evaluate", str(run), "--data", str(folder), "--method", "dense"]) == 2  # LeNet is no VGG
    assert "needs a VGG" in capsys.readouterr().err


def test_ensemble_members_must_share_the_classes():
    with pytest.raises(PaddleCNNError, match="different numbers of classes"):
        evaluate(_vgg(classes=3), _random_set(n=2), method="ensemble", checkpoints=[_vgg(classes=4)])


def test_a_trained_run_end_to_end(tmp_path, capsys):
    """train() writes a run; evaluate, predict and export read it back with its own data and names."""
    import paddlecnn
    from paddlecnn.cli import main

    folder = _list_folder(tmp_path, n=9)
    run = tmp_path / "logs" / "lenet"
    paddlecnn.train(1, 3, "lenet5", data=str(folder), eval_data=False, input_size=32, channels=1,
                    run_dir=str(run), quiet=True)
    direct = evaluate(run, folder, method="ten_crop")
    assert direct.class_names == ["a", "b", "c"] and direct.num_samples == 9
    assert main(["evaluate", str(run), "--method", "ten_crop"]) == 0  # the run's own data, test split
    assert "ten_crop: 9 images" in capsys.readouterr().out
    saved = json.loads((run / "eval-ten_crop" / "metrics.json").read_text())
    assert saved["top1"] == pytest.approx(direct.top1) and saved["loss"] == pytest.approx(direct.loss, abs=1e-6)
    assert main(["predict", str(run), str(folder / "img" / "0.png"), "--topk", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(folder / "img" / "0.png") + ": ") and line.split(": ")[1].split()[0] in "abc"
    assert main(["export", str(run), "--out", str(tmp_path / "deploy")]) == 0
    meta = json.loads((tmp_path / "deploy" / "meta.json").read_text())
    assert meta["class_names"] == ["a", "b", "c"] and meta["input"]["shape"] == [None, 1, 32, 32]


def test_cli_evaluate_out_keeps_an_existing_metrics_json(tmp_path, capsys):
    from paddlecnn.cli import main

    folder = _list_folder(tmp_path)
    run = _run(tmp_path)
    out = tmp_path / "report"
    out.mkdir()
    (out / "metrics.json").write_text('{"mine": 1}')
    args = ["evaluate", str(run), "--data", str(folder), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "report/metrics.json already exists" in err and "--force" in err and err.count("\n") == 1
    assert (out / "metrics.json").read_text() == '{"mine": 1}' and not (out / "confusion.png").exists()
    assert main(args + ["--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["num_samples"] == 6
    assert main(["evaluate", str(run), "--data", str(folder)]) == 0      # the run's own eval folder:
    assert main(["evaluate", str(run), "--data", str(folder)]) == 0      # ours to replace


def test_ensemble_members_must_take_the_same_channels(tmp_path):
    from paddlecnn import checkpoint

    gray = _run(tmp_path)
    rgb = tmp_path / "rgb"
    shutil.copytree(gray, rgb)
    options = {"num_classes": 3, "in_channels": 3}
    config = json.loads((rgb / "config.json").read_text())
    config["model_options"], config["data_info"]["channels"] = options, 3
    (rgb / "config.json").write_text(json.dumps(config))
    checkpoint.save_weights(create("lenet5", **options).state_dict(), rgb / "best.pdparams")
    with pytest.raises(PaddleCNNError, match=r"ensemble member .*rgb takes 3-channel images but .*run takes 1"):
        evaluate([gray, rgb], _random_set(size=32), method="ensemble")


def test_a_model_with_more_outputs_than_the_data_has_classes_gets_one_warning():
    """A 10-class run scored on a 2-class list used to pass silently."""
    data = _random_set(n=4, classes=2)
    data.num_classes = 2
    with pytest.warns(UserWarning, match="the data has 2 classes but the model has 10 outputs") as record:
        evaluate(_vgg(classes=10), data)
    assert len([w for w in record if "outputs" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(_vgg(classes=2), data)              # matching classes: no warning
