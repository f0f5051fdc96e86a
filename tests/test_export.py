"""export_model(): static model via paddle.jit.save, loaded back by jit.load and paddle Inference; ONNX."""
import json
import os
import sys

import numpy as np
import paddle
import pytest

from paddlecnn import checkpoint
from paddlecnn.errors import PaddleCNNError
from paddlecnn.export import export_model, load_onnx, load_predictor
from paddlecnn.models import create


def _lenet():
    return create("lenet5", num_classes=10, in_channels=1)


def make_run(tmp_path, name="lenet5", options=None, class_names=None, channels=1, input_size=32):
    """A run folder as paddlecnn.training writes it: config.json + best.pdparams."""
    options = options or {"num_classes": 3, "in_channels": channels}
    model = create(name, **options)
    run = tmp_path / "run"
    run.mkdir()
    config = {"model": name, "model_options": options,
              "data_info": {"class_names": class_names or ["circle", "square", "triangle"],
                            "num_classes": options["num_classes"], "mean": [0.5] * channels,
                            "std": [0.25] * channels, "input_size": input_size, "channels": channels}}
    (run / "config.json").write_text(json.dumps(config))
    checkpoint.save_weights(model.state_dict(), run / "best.pdparams")
    return run, model


def test_static_model_matches_dygraph_through_jit_load_and_inference(tmp_path):
    net = _lenet()
    x = np.random.default_rng(1).normal(size=(3, 1, 32, 32)).astype(np.float32)
    before = net(paddle.to_tensor(x)).numpy()
    result = export_model(net, tmp_path / "out")
    assert result["json"].name == "model.json" and result["pdiparams"].stat().st_size > 4 * 61_706
    assert max(result["max_abs_diff"].values()) < 1e-5
    loaded = paddle.jit.load(str(tmp_path / "out" / "model"))
    np.testing.assert_allclose(loaded(paddle.to_tensor(x)).numpy(), before, atol=1e-5)
    np.testing.assert_allclose(load_predictor(tmp_path / "out")(x), before, atol=1e-5)
    # Exporting leaves the dygraph model as it was.
    np.testing.assert_array_equal(net(paddle.to_tensor(x)).numpy(), before)
    meta = json.loads(result["meta"].read_text())
    assert meta["input"]["shape"] == [None, 1, 32, 32]


def test_export_from_a_run_folder_keeps_its_metadata(tmp_path):
    run, model = make_run(tmp_path)
    result = export_model(run, tmp_path / "deploy")
    meta = json.loads(result["meta"].read_text())
    assert meta["class_names"] == ["circle", "square", "triangle"]
    assert meta["mean"] == [0.5] and meta["std"] == [0.25] and meta["model"] == "lenet5"
    x = np.random.default_rng(2).normal(size=(2, 1, 32, 32)).astype(np.float32)
    model.eval()
    np.testing.assert_allclose(load_predictor(tmp_path / "deploy")(x), model(paddle.to_tensor(x)).numpy(), atol=1e-5)


def test_onnx_matches_dygraph_without_installing_anything(tmp_path, capfd):
    pytest.importorskip("paddle2onnx")
    pytest.importorskip("onnxruntime")
    net = create("vgg11_bn", num_classes=4, input_size=32, width=0.125)
    out = tmp_path / "new" / "folder"  # missing folders are created first
    result = export_model(net, out, onnx=True)
    assert result["onnx"].is_file() and result["max_abs_diff"]["onnx"] < 1e-5
    printed = capfd.readouterr()
    assert "Paddle2ONNX" not in printed.out + printed.err and "[INFO]" not in printed.out   # its log is held back
    assert "POLYGRAPHY_AUTOINSTALL_DEPS" not in os.environ  # polygraphy's pip step never ran
    x = np.ones((1, 3, 32, 32), np.float32)
    net.eval()
    np.testing.assert_allclose(load_onnx(result["onnx"])(x), net(paddle.to_tensor(x)).numpy(), atol=1e-5)


def test_missing_onnx_extra_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)  # import fails as if not installed
    with pytest.raises(PaddleCNNError, match=r"paddlecnn\[onnx\]"):
        export_model(_lenet(), tmp_path, onnx=True, verify=False)
    assert (tmp_path / "model.json").is_file()  # the static model was still written


def test_cli_export(tmp_path, capsys):
    from paddlecnn.cli import main

    run, _ = make_run(tmp_path)
    assert main(["export", str(run), "--out", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert "model.json" in out and "max |exported - dygraph| logit: jit" in out
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["meta.json", "model.json", "model.pdiparams"]
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "no such run folder" in capsys.readouterr().err


@pytest.mark.parametrize("existing", ["model.json", "meta.json"])
def test_export_keeps_files_already_in_out(tmp_path, capsys, existing):
    from paddlecnn.cli import main

    run, _ = make_run(tmp_path)
    out = tmp_path / "deploy"
    out.mkdir()
    (out / existing).write_text("hand-written")
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"deploy/{existing} already exists" in err and "--force" in err and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == [existing] and (out / existing).read_text() == "hand-written"
    assert main(["export", str(run), "--out", str(out), "--force", "--no-verify"]) == 0
    assert (out / existing).read_text() != "hand-written"


def test_export_input_size_the_model_cannot_take_writes_nothing(tmp_path, capsys):
    from paddlecnn.cli import main

    run, _ = make_run(tmp_path)
    assert main(["export", str(run), "--out", str(tmp_path / "exp"), "--input-size", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --input-size 4: the model cannot take 4x4 images") and err.count("\n") == 1
    assert "trained at (32)" in err
    assert not (tmp_path / "exp").exists()
    with pytest.raises(PaddleCNNError, match="--input-size must be a positive"):
        export_model(run, tmp_path / "exp", input_size=-3)
