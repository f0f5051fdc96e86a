"""train(): records, reproducibility, kill-and-resume, Ctrl-C, NaN/OOM, clear errors, host syncs, LeNet-5 on MNIST."""
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

import paddlecnn
from paddlecnn import checkpoint as ckpt
from paddlecnn.errors import PaddleCNNError
from paddlecnn.engine.trainer import TrainingDiverged, train
from conftest import BrokenAt5, Quadrants

REPO = Path(__file__).resolve().parents[1]


def small_net(classes=4):
    """Conv + BN + dropout: every kind of state a checkpoint must carry (weights, running stats, RNG)."""
    return paddle.nn.Sequential(paddle.nn.Conv2D(1, 4, 3, padding=1), paddle.nn.BatchNorm2D(4), paddle.nn.ReLU(),
                                paddle.nn.AdaptiveAvgPool2D(2), paddle.nn.Flatten(), paddle.nn.Dropout(0.3),
                                paddle.nn.Linear(16, classes))


def _quiet(**kw):
    return dict(dict(eval_data=Quadrants(16, seed=1), quiet=True, threads=1), **kw)


# --------------------------------------------------------------------------- records
def test_two_epochs_record_history_config_and_checkpoints(tmp_path):
    run = tmp_path / "run"
    history = train(2, 8, small_net(), lr_decay=True, data=Quadrants(32), lr=0.1, run_dir=run, **_quiet())
    assert history.run_dir == run and len(history) == 2 and not history.interrupted
    first = history.records[0]
    assert set(first) == {"epoch", "train_loss", "train_acc", "eval_loss", "eval_acc", "eval_top5", "lr",
                          "images_per_sec", "epoch_time"}
    assert history["epoch"] == [1, 2]
    assert history["lr"] == pytest.approx([0.1, 0.01])          # tutorial_decay(2): lr, then lr/10 from epoch 2
    assert history["eval_top5"] == [1.0, 1.0]                    # 4 classes: top-5 covers all
    assert all(r["images_per_sec"] > 0 and r["epoch_time"] > 0 for r in history.records)
    assert history.records[-1]["eval_acc"] >= 0.75                # the quadrant task is easy
    assert history.best_eval_acc == max(history["eval_acc"])
    config = json.loads((run / "config.json").read_text())
    assert config["schedule"]["name"] == "piecewise" and config["schedule"]["step_per"] == "epoch"
    assert config["versions"]["paddle"] == paddle.__version__ and config["versions"]["paddlecnn"]
    assert config["data_info"]["num_classes"] == 4 and config["batch_size"] == 8
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001.pdckpt", "epoch-0002.pdckpt"]
    assert json.loads((run / "history.json").read_text())["records"] == json.loads(json.dumps(history.records))


@pytest.mark.slow
def test_same_seed_same_history_other_seed_differs(tmp_path):
    def losses(seed, name):
        paddle.seed(123)   # the Layer's own init is outside train(); keep it fixed
        h = train(2, 8, small_net(), data=Quadrants(32), lr=0.05, seed=seed, run_dir=tmp_path / name, **_quiet())
        return h["train_loss"] + h["eval_loss"]

    assert losses(7, "a") == losses(7, "b")
    assert losses(7, "c") != losses(8, "d")


def test_registry_model_by_name_and_paddlecnn_train_alias(tmp_path):
    history = paddlecnn.train(1, 8, "lenet5", data=Quadrants(16, size=16), width=0.25, lr=0.05,
                              run_dir=tmp_path / "r", **_quiet(eval_data=Quadrants(8, seed=1, size=16)))
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"] == "lenet5"
    assert config["model_options"] == {"num_classes": 4, "in_channels": 1, "input_size": 16, "width": 0.25}
    assert config["default_init"] == "paddle" and len(history) == 1


def test_auxiliary_heads_add_aux_weight_times_their_loss(tmp_path):
    class WithAux(paddle.nn.Layer):
        """Main head learns; two constant auxiliary heads (zeros: cross-entropy ln 4 each)."""

        def __init__(self):
            super().__init__()
            self.body = small_net()

        def forward(self, x):
            logits = self.body(x)
            if self.training:
                return logits, paddle.zeros_like(logits), paddle.zeros_like(logits)
            return logits

    def run(name, **kw):
        paddle.seed(5)
        return train(1, 8, WithAux(), data=Quadrants(32), run_dir=tmp_path / name, **_quiet(**kw))

    plain, default = run("w0", aux_weight=0.0), run("w03")
    assert default["train_loss"][0] - plain["train_loss"][0] == pytest.approx(0.6 * math.log(4), rel=1e-5)
    assert default["eval_loss"] == plain["eval_loss"]             # eval uses the main head only


def test_real_googlenet_aux_heads_train(tmp_path):
    history = train(1, 4, "googlenet", data=Quadrants(8, size=32), model_options={"aux_logits": True},
                    width=0.0625, run_dir=tmp_path / "g", **_quiet(eval_data=Quadrants(4, seed=1, size=32)))
    assert math.isfinite(history["train_loss"][0]) and history["eval_acc"][0] is not None


@pytest.mark.slow
def test_label_smoothing_raises_the_loss_of_confident_predictions(tmp_path):
    paddle.seed(1)
    plain = train(2, 8, small_net(), data=Quadrants(32), lr=0.1, run_dir=tmp_path / "a", **_quiet())
    paddle.seed(1)
    smooth = train(2, 8, small_net(), data=Quadrants(32), lr=0.1, label_smoothing=0.2, run_dir=tmp_path / "b",
                   **_quiet())
    assert smooth["train_loss"][-1] > plain["train_loss"][-1]


@pytest.mark.slow
def test_early_stopping_stops_after_patience(tmp_path):
    # lr so small that eval accuracy never moves: best at epoch 1, stop after 2 more.
    history = train(10, 8, small_net(), data=Quadrants(32), lr=1e-12, early_stopping=2, run_dir=tmp_path / "e",
                    **_quiet())
    assert len(history) == 3 and history.stopped_early


@pytest.mark.slow
def test_plateau_schedule_runs_on_eval_accuracy(tmp_path):
    history = train(4, 8, small_net(), data=Quadrants(32), lr=1e-12, schedule="plateau:patience=1",
                    run_dir=tmp_path / "p", **_quiet())
    assert history["lr"] == pytest.approx([1e-12, 1e-12, 1e-12, 1e-13])


# ------------------------------------------------------------------------------ faults
def test_nan_loss_stops_naming_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "nan"
    explode = {"name": "piecewise", "boundaries": [1], "values": [0.05, 1e38], "step_per": "epoch"}
    with pytest.raises(TrainingDiverged, match=r"NaN/Inf at epoch 2, step \d+ .*epoch-0001\.pdckpt") as info:
        train(3, 4, small_net(), data=Quadrants(32), schedule=explode, run_dir=run, log_every=2, **_quiet())
    assert "--resume" in str(info.value)
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["epoch-0001.pdckpt"]
    state = ckpt.load_state(run / "checkpoints" / "epoch-0001.pdckpt")
    assert all(np.isfinite(v).all() for v in state["model"].values())
    assert len(json.loads((run / "history.json").read_text())["records"]) == 1


def test_out_of_memory_suggests_a_smaller_batch(tmp_path):
    class Hungry(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.body = small_net()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.training and self.calls > 3:
                raise MemoryError("cannot allocate 96 MiB")
            return self.body(x)

    with pytest.raises(PaddleCNNError, match=r"out of memory at epoch 1, step 3 with batch size 8.*--batch-size \(e.g. 4\)"):
        train(1, 8, Hungry(), data=Quadrants(32), run_dir=tmp_path / "oom", **_quiet())


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="no_such_net"), "unknown model 'no_such_net'"),
    (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
    (dict(schedule="linear"), "unknown LR schedule 'linear'"),
    (dict(lr_rate=0.1), "unknown option.*'lr_rate' \\(did you mean 'lr'\\?\\)"),
    (dict(batch_size=64), "batch size 64 is larger than the training set \\(32 images\\)"),
    (dict(model=small_net(classes=3)), "3 outputs but the data has 4 classes"),
    (dict(model=paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(100, 4))),
     "cannot take the data's inputs of shape \\[1, 8, 8\\]"),
    (dict(model="lenet5"), "cannot build lenet5 for 1x8x8 inputs"),
    (dict(init="he"), "unknown init scheme 'he'"),
    (dict(amp=True), "--amp needs a GPU"),
    (dict(fastconv="yes"), "fastconv must be 'auto', 'onednn', True or False, got 'yes'"),
])
def test_clear_errors_before_training(tmp_path, kwargs, message):
    args = dict(model=small_net(), batch_size=8, data=Quadrants(32), run_dir=tmp_path / "x")
    args.update(kwargs)
    if args.get("amp") and paddle.device.is_compiled_with_cuda():
        pytest.skip("this paddle has CUDA")
    with pytest.raises(PaddleCNNError, match=message):
        train(1, args.pop("batch_size"), args.pop("model"), **args, **_quiet())
    assert not (tmp_path / "x" / "checkpoints").exists()


def pooled_net(classes=4):
    """small_net with a max pool (FastMaxPool2D's case) after the first conv."""
    return paddle.nn.Sequential(paddle.nn.Conv2D(1, 4, 3, padding=1), paddle.nn.ReLU(), paddle.nn.MaxPool2D(2, 2),
                                paddle.nn.Conv2D(4, 4, 3, padding=1), paddle.nn.BatchNorm2D(4), paddle.nn.ReLU(),
                                paddle.nn.AdaptiveAvgPool2D(2), paddle.nn.Flatten(), paddle.nn.Linear(16, classes))


@pytest.mark.slow
def test_fastconv_trains_like_paddles_conv_and_hands_the_model_back_plain(tmp_path, capsys):
    """fastconv="auto" (the CPU default) swaps in oneDNN convolutions (FastConv2D where they do not
    build) and oneDNN pools (FastMaxPool2D) while training; fastconv=True is FastConv2D: same numbers to float
    rounding as paddle's own layers, and the caller's model leaves with them."""
    from paddlecnn.accel import onednn

    nets, histories = {}, {}
    for setting in (False, "auto", True):
        paddle.seed(3)
        nets[setting] = pooled_net()
        histories[setting] = train(2, 8, nets[setting], data=Quadrants(32), lr=0.1, fastconv=setting,
                                   run_dir=tmp_path / str(setting), **_quiet(quiet=False))
    out = capsys.readouterr().out
    assert "(2 convs as FastConv2D, 1 max pools as FastMaxPool2D)" in out
    if onednn.available()[0]:
        assert "(2 convs as oneDNN, 1 pools as oneDNN)" in out
    for key in ("train_loss", "eval_loss"):
        for setting in ("auto", True):
            np.testing.assert_allclose(histories[setting][key], histories[False][key], rtol=1e-4, err_msg=key)
    assert sum(type(m) is paddle.nn.Conv2D for m in nets["auto"].sublayers()) == 2      # handed back plain
    assert histories["auto"]["train_loss"][1] < histories["auto"]["train_loss"][0]   # it did train
    assert [type(nets["auto"][i]) for i in (0, 2, 3)] == [paddle.nn.Conv2D, paddle.nn.MaxPool2D, paddle.nn.Conv2D]
    np.testing.assert_allclose(nets["auto"][0].weight.numpy(), nets[False][0].weight.numpy(), rtol=1e-4, atol=1e-5)
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert config["options"]["fastconv"] == "auto"


def test_fastconv_default_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLECNN_FASTCONV", "off")
    train(1, 8, small_net(), data=Quadrants(16), run_dir=tmp_path / "off", **_quiet())
    assert json.loads((tmp_path / "off" / "config.json").read_text())["options"]["fastconv"] is False
    train(1, 8, small_net(), data=Quadrants(16), fastconv=True, run_dir=tmp_path / "on", **_quiet())  # argument wins
    assert json.loads((tmp_path / "on" / "config.json").read_text())["options"]["fastconv"] is True
    monkeypatch.setenv("PADDLECNN_FASTCONV", "fast")
    with pytest.raises(PaddleCNNError, match="PADDLECNN_FASTCONV='fast': use auto, onednn, on or off"):
        train(1, 8, small_net(), data=Quadrants(16), run_dir=tmp_path / "bad", **_quiet())


def test_a_failed_run_also_hands_the_model_back_plain(tmp_path):
    net = small_net()
    with pytest.raises(ValueError, match="sample 5 is broken"):
        train(1, 4, net, data=BrokenAt5(32), eval_data=False, fastconv=True, run_dir=tmp_path / "f", quiet=True, threads=1)
    assert type(net[0]) is paddle.nn.Conv2D


def test_metrics_stay_on_the_device_between_syncs(tmp_path, monkeypatch):
    """Host reads (Tensor.numpy/item/float) must not grow with the number of steps."""
    counts = {"n": 0}
    for name in ("numpy", "item", "__float__", "__int__"):
        original = getattr(paddle.Tensor, name)

        def counting(self, *a, _original=original, **k):
            counts["n"] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(paddle.Tensor, name, counting)

    def reads(samples):
        counts["n"] = 0
        train(1, 4, small_net(), data=Quadrants(samples), eval_data=False, quiet=True, threads=1, log_every=1000,
              run_dir=tmp_path / str(samples))
        return counts["n"]

    many, few = reads(96), reads(16)
    assert many == few > 0   # 24 steps vs 4 steps: the same number of host reads


# ---------------------------------------------------------------- kill, Ctrl-C, resume
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {repo!r})
    import numpy as np, paddle
    from paddlecnn.engine.trainer import train

    class Slowing(paddle.io.Dataset):
        # After MARK_AFTER items: touch MARK_FILE, then sleep 0.05 s per item (a window to signal in).
        served = 0
        def __init__(self, n, seed, watch):
            rng = np.random.RandomState(seed)
            self.labels = [int(v) for v in rng.randint(0, 4, n)]
            self.x = rng.normal(0, 1, (n, 1, 8, 8)).astype("float32")
            self.num_classes, self.channels, self.input_size, self.watch = 4, 1, 8, watch
        def __len__(self):
            return len(self.labels)
        def __getitem__(self, i):
            if self.watch and os.environ.get("MARK_AFTER"):
                Slowing.served += 1
                if Slowing.served == int(os.environ["MARK_AFTER"]):
                    open(os.environ["MARK_FILE"], "w").close()
                if Slowing.served >= int(os.environ["MARK_AFTER"]):
                    time.sleep(0.05)
            x = self.x[i] + np.random.normal(0, 0.1, self.x[i].shape).astype("float32")  # seeded augmentation
            return x, np.int64(self.labels[i])

    def net():
        return paddle.nn.Sequential(paddle.nn.Conv2D(1, 4, 3, padding=1), paddle.nn.BatchNorm2D(4),
                                    paddle.nn.ReLU(), paddle.nn.AdaptiveAvgPool2D(2), paddle.nn.Flatten(),
                                    paddle.nn.Dropout(0.3), paddle.nn.Linear(16, 4))

    run, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
    paddle.seed(0)
    model = net()
    kw = dict(data=Slowing(48, 0, True), eval_data=Slowing(16, 1, False), lr=0.05, seed=3, threads=1,
              quiet=True, schedule="cosine", optimizer="momentum")
    if mode == "resume":
        history = train(3, 4, model, resume=run, **kw)
    else:
        history = train(3, 4, model, run_dir=run, **kw)
    np.savez(out + ".npz", **{{k: v.numpy() for k, v in model.state_dict().items()}})
    json.dump(history.to_dict(), open(out + ".json", "w"))
    print("INTERRUPTED" if history.interrupted else "DONE", flush=True)
""")


def _script(tmp_path):
    path = tmp_path / "run_script.py"
    path.write_text(SCRIPT.format(repo=str(REPO)))
    return path


def _run(script, run, mode, out, **env):
    return subprocess.run([sys.executable, str(script), str(run), mode, str(out)], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=300)


def _start_and_signal(script, run, out, mark, sig, tmp_path):
    """Start a fresh run, wait until epoch 2 is 5 batches in (the dataset's mark), send ``sig``."""
    env = dict(os.environ, MARK_AFTER=str(48 + 1 + 20), MARK_FILE=str(mark))  # 48 epoch-1 items + the fit check
    proc = subprocess.Popen([sys.executable, str(script), str(run), "fresh", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while not mark.exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.time() < deadline, "the run never reached epoch 2"
            time.sleep(0.02)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stdout, stderr


def _same_weights(a, b):
    wa, wb = np.load(a), np.load(b)
    assert sorted(wa.files) == sorted(wb.files)
    for key in wa.files:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def _records(path, drop=("images_per_sec", "epoch_time")):
    return [{k: v for k, v in r.items() if k not in drop} for r in json.loads(Path(path).read_text())["records"]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("straight")
    script = _script(tmp)
    result = _run(script, tmp / "run", "fresh", tmp / "out")
    assert result.returncode == 0 and "DONE" in result.stdout, result.stderr[-2000:]
    return tmp / "out"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    script, run, mark = _script(tmp_path), tmp_path / "run", tmp_path / "mark"
    code, _, _ = _start_and_signal(script, run, tmp_path / "killed", mark, signal.SIGKILL, tmp_path)
    assert code == -signal.SIGKILL
    # Killed inside epoch 2: only epoch 1's checkpoint exists, and it is intact.
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["epoch-0001.pdckpt"]
    assert len(json.loads((run / "history.json").read_text())["records"]) == 1
    result = _run(script, run, "resume", tmp_path / "resumed")
    assert result.returncode == 0 and "DONE" in result.stdout, result.stderr[-2000:]
    _same_weights(uninterrupted.with_suffix(".npz"), tmp_path / "resumed.npz")
    assert _records(uninterrupted.with_suffix(".json")) == _records(tmp_path / "resumed.json")
    config = json.loads((run / "config.json").read_text())
    assert config["resumes"][0]["epoch"] == 1


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_continues_exactly(tmp_path, uninterrupted):
    script, run, mark = _script(tmp_path), tmp_path / "run", tmp_path / "mark"
    code, stdout, stderr = _start_and_signal(script, run, tmp_path / "stopped", mark, signal.SIGINT, tmp_path)
    assert code == 0 and "INTERRUPTED" in stdout, stderr[-2000:]
    assert f"--resume {run}" in stderr and "checkpoint saved to" in stderr
    names = [p.name for p in ckpt.list_checkpoints(run)]
    assert names[0] == "epoch-0001.pdckpt" and names[-1].startswith("epoch-0001-step-")
    step = int(names[-1].split("-step-")[1].split(".")[0])
    assert 1 <= step < 12
    assert json.loads((tmp_path / "stopped.json").read_text())["interrupted"] is True
    result = _run(script, run, "resume", tmp_path / "resumed")
    assert result.returncode == 0 and "DONE" in result.stdout, result.stderr[-2000:]
    _same_weights(uninterrupted.with_suffix(".npz"), tmp_path / "resumed.npz")
    straight, resumed = _records(uninterrupted.with_suffix(".json")), _records(tmp_path / "resumed.json")
    for a, b in zip(straight, resumed):      # epoch 2's sums were added in two parts: float order differs
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-15), key


@pytest.mark.slow
def test_resume_with_a_new_learning_rate_and_more_epochs(tmp_path):
    run = tmp_path / "r"
    paddle.seed(0)
    train(2, 8, small_net(), data=Quadrants(32), lr=0.05, run_dir=run, **_quiet())
    history = train(4, 8, small_net(), data=Quadrants(32), lr=0.005, resume=run, **_quiet())
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["lr"] == pytest.approx([0.05, 0.05, 0.005, 0.005])   # the VGG16-on-ImageNet chapter: stop, lower the lr, resume
    config = json.loads((run / "config.json").read_text())
    assert config["resumes"][-1]["lr"] == pytest.approx(0.005)
    with pytest.raises(PaddleCNNError, match="batch_size was 8 in that run"):
        train(5, 16, small_net(), data=Quadrants(32), resume=run, **_quiet())
    with pytest.raises(PaddleCNNError, match="in-memory <Quadrants>; pass it again as data="):
        train(5, 8, small_net(), resume=run, quiet=True)


# ------------------------------------------------------------------------------- CLI
def test_cli_train_runs_and_reports(tmp_path, capsys):
    from paddlecnn.cli import main

    code = main(["train", "--model", "lenet5", "--data", "mnist5k", "--subset", "40", "--eval-subset", "20",
                 "--epochs", "1", "--batch-size", "8", "--input-size", "16", "--width", "0.25",
                 "--threads", "1", "--quiet", "--run-dir", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert code == 0 and "eval top-1" in out and str(tmp_path / "cli") in out
    config = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert config["data_info"]["name"] == "mnist5k" and config["data_info"]["train_size"] == 40
    assert config["data_info"]["class_names"] is not None and config["data_info"]["eval_size"] == 20


def test_cli_errors_are_one_line(capsys):
    from paddlecnn.cli import main

    assert main(["train", "--model", "alexnett", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'alexnett' (did you mean alexnet") and err.count("\n") == 1


def test_cli_without_arguments_is_the_demo():
    """No flags: the README's main job; a flag the user gives wins; naming a model leaves the demo."""
    from paddlecnn.cli import build_parser
    from paddlecnn.cli.train import options_from_args
    from paddlecnn.engine.config import resolve

    def config(*flags):
        options = options_from_args(build_parser().parse_args(["train", *flags]))
        return resolve(None, None, options.pop("model"), False, options)

    demo = config()     # README: cnn_alltricks at 64x64 px, width 0.25, Adam lr 1e-3, 4 epochs, on shapes16
    assert (demo.model, demo.data, demo.input_size, demo.width, demo.epoch_num, demo.optimizer, demo.lr) == \
        ("cnn_alltricks", "shapes16", 64, 0.25, 4, "adam", 0.001)
    changed = config("--epochs", "2", "--width", "0.5")
    assert (changed.epoch_num, changed.width, changed.input_size) == (2, 0.5, 64)
    vgg = config("--model", "vgg16")
    assert (vgg.model, vgg.recipe, vgg.epoch_num, vgg.width) == ("vgg16", "cpu", 6, 0.25)


# ---------------------------------------------------------------- LeNet-5 on MNIST
@pytest.mark.slow
def test_lenet5_reaches_97_percent_on_mnist5k_test(tmp_path):
    """The classic result at laptop scale: measured 97.2% test top-1 (Adam 0.005, cosine, 10 epochs) in 60-120 s on 2 busy cores."""
    from paddlecnn import data
    from paddlecnn.engine.step import evaluate_loader

    start = time.time()
    # transform="eval": the "basic" preset flips images, which turns digits into other symbols.
    history = train(10, 32, "lenet5", data="mnist5k", optimizer="adam", lr=0.005, schedule="cosine",
                    transform="eval", threads=2, run_dir=tmp_path / "lenet5", quiet=True)
    model, info = ckpt.load_model(history.run_dir)
    test = data.load("mnist5k", "test", input_size=info["input_size"])
    metrics = evaluate_loader(model, paddle.io.DataLoader(test, batch_size=100))
    elapsed = time.time() - start
    print(f"lenet5 mnist5k: test top-1 {metrics['top1']:.4f}, best eval {history.best_eval_acc:.4f}, "
          f"{elapsed:.0f} s")
    assert metrics["top1"] >= 0.97


@pytest.mark.parametrize("cache", [True, False])
def test_on_error_skip_drops_unreadable_images_and_reports_them(tmp_path, cache, capsys):
    from PIL import Image

    rng = np.random.RandomState(0)
    lines = []
    for i in range(12):
        Image.fromarray((rng.rand(8, 8) * 255).astype("uint8")).save(tmp_path / f"img{i}.png")
        lines.append(f"img{i}.png {i % 2}")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    lines.append("broken.png 1")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="broken.png"):
        history = train(2, 4, paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(64, 2)),
                        data=str(tmp_path / "train.txt"), channels=1, input_size=8, on_error="skip", cache=cache,
                        transform="eval", threads=1, run_dir=tmp_path / "run")
    assert history.skipped == 1 and len(history) == 2
    assert "skipped 1 unreadable image(s)" in capsys.readouterr().out
    with pytest.raises(PaddleCNNError, match="broken.png"):
        train(1, 4, paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(64, 2)),
              data=str(tmp_path / "train.txt"), channels=1, input_size=8, cache=cache, quiet=True,
              run_dir=tmp_path / "raise")


def test_a_failing_dataset_raises_instead_of_hanging(tmp_path):
    """paddle's single-process DataLoader thread dies silently on an exception; train() must not hang."""
    with pytest.raises(ValueError, match="sample 5 is broken"):
        train(1, 4, small_net(), data=BrokenAt5(32), eval_data=False, run_dir=tmp_path / "f", quiet=True)
    with pytest.raises(ValueError, match="sample 5 is broken"):
        train(1, 4, small_net(), data=Quadrants(32), eval_data=BrokenAt5(8), run_dir=tmp_path / "g", quiet=True)


# ------------------------------------------------------------- issue 14, engine side
def test_a_run_that_died_before_its_first_checkpoint_starts_again_in_place(tmp_path, capsys):
    run = tmp_path / "early"
    with pytest.raises(ValueError, match="sample 5 is broken"):
        train(1, 4, small_net(), data=BrokenAt5(32), eval_data=False, run_dir=run, quiet=True, threads=1)
    assert (run / "config.json").is_file() and ckpt.latest_checkpoint(run) is None
    with pytest.raises(PaddleCNNError, match=f"no checkpoint.*start it again in place.*--run-dir {run}"):
        train(1, 4, small_net(), data=Quadrants(32), resume=run, quiet=True)
    history = train(1, 4, small_net(), data=Quadrants(32), run_dir=run, **_quiet(quiet=False))
    assert "never saved a checkpoint" in capsys.readouterr().out and len(history) == 1
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["epoch-0001.pdckpt"]
    (run / "notes.txt").write_text("mine")        # a folder with a checkpoint or the user's files is never reused
    with pytest.raises(PaddleCNNError, match="already exists"):
        train(1, 4, small_net(), data=Quadrants(32), run_dir=run, quiet=True)


def test_the_nan_message_advises_a_tenth_of_the_base_lr_and_does_not_call_it_good(tmp_path):
    explode = {"name": "piecewise", "boundaries": [1], "factors": [1, 1e40], "step_per": "epoch"}
    with pytest.raises(TrainingDiverged) as info:
        train(3, 4, small_net(), data=Quadrants(32), lr=0.05, schedule=explode, run_dir=tmp_path / "n", log_every=2,
              **_quiet())
    message = str(info.value)
    advice = message.split("Lower the learning rate")[1]
    assert "--lr 0.005" in advice and "e+" not in advice          # the base --lr / 10, not the scheduled lr / 10
    assert "last good" not in message and "epoch-0001.pdckpt" in message


def test_eval_labels_beyond_the_model_fail_before_training(tmp_path):
    with pytest.raises(PaddleCNNError, match="has labels up to 5 but the model has 4 outputs"):
        train(1, 8, small_net(), data=Quadrants(32), eval_data=Quadrants(16, seed=1, classes=6),
              run_dir=tmp_path / "x", quiet=True)
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_every_option_is_reachable_from_the_command_line():
    from paddlecnn.cli import build_parser
    from paddlecnn.cli.train import options_from_args
    from paddlecnn.engine.config import FIELDS

    args = build_parser().parse_args(["train", "--model", "lenet5", "--channels", "3", "--eval-transform", "basic",
                                      "--no-cache", "--keep-checkpoints", "1", "--log-every", "5", "--epochs", "2"])
    options = options_from_args(args)
    assert {k: options[k] for k in ("channels", "eval_transform", "cache", "keep_checkpoints", "log_every",
                                    "epoch_num")} == {"channels": 3, "eval_transform": "basic", "cache": False,
                                                      "keep_checkpoints": 1, "log_every": 5, "epoch_num": 2}
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    from paddlecnn.engine.config import flag

    assert all(flag(name) in help_text for name in FIELDS)


def test_resume_messages_for_config_json_and_deleted_checkpoints(tmp_path):
    run = tmp_path / "r"
    train(1, 8, small_net(), data=Quadrants(32), run_dir=run, **_quiet())
    history = train(2, 8, small_net(), data=Quadrants(32), resume=run / "config.json", **_quiet())
    assert history["epoch"] == [1, 2]                     # RUN/config.json means the run folder
    for p in ckpt.list_checkpoints(run):
        p.unlink()
    with pytest.raises(PaddleCNNError, match="history.json records 2 epoch\\(s\\) but their checkpoints are gone"):
        train(3, 8, small_net(), data=Quadrants(32), resume=run, **_quiet())


def _gray_list(folder, labels):
    from PIL import Image

    lines = []
    for i, label in enumerate(labels):
        Image.fromarray(np.full((16, 16), 40 * (i % 5), "uint8")).save(folder / f"img{i}.png")
        lines.append(f"img{i}.png {label}")
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    return folder / "train.txt"


def test_gaps_in_the_labels_fail_before_training_unless_num_classes_is_given(tmp_path):
    """Labels {0, 7} used to build an 8-output model silently; now they are refused, naming the list,
    and --num-classes keeps the gaps on purpose."""
    listed = _gray_list(tmp_path, [0, 7] * 4)
    with pytest.raises(PaddleCNNError, match=r"train\.txt.*skip 6 class\(es\) \(1-6\).*--num-classes"):
        train(1, 4, "lenet5", data=str(listed), eval_data=False, run_dir=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoints").exists()
    history = train(1, 4, "lenet5", data=str(listed), eval_data=False, num_classes=8, run_dir=tmp_path / "run2",
                    quiet=True)
    assert json.loads((history.run_dir / "config.json").read_text())["model_options"]["num_classes"] == 8


def test_resume_refuses_a_checkpoint_missing_or_misshaping_a_tensor_and_cleans_stale_temp_files(tmp_path):
    """A tampered checkpoint used to print paddle's "Skip loading" and train on with that tensor re-initialised."""
    from paddlecnn import checkpoint as ckpt
    from paddlecnn.io import save_pickle

    run = tmp_path / "run"
    train(1, 8, small_net(), data=Quadrants(32), eval_data=False, run_dir=run, quiet=True)
    path = ckpt.latest_checkpoint(run)
    state = ckpt.load_state(path)
    name = sorted(state["model"])[0]
    stale = path.parent / f".{path.name}.999999-0123456789abcdef.tmp"     # a killed write's leftover
    stale.write_bytes(b"partial")
    for tamper in ("drop", "reshape"):
        bad = dict(state, model=dict(state["model"]))
        if tamper == "drop":
            del bad["model"][name]
        else:
            bad["model"][name] = np.zeros((3, 3), "float32")
        save_pickle(path, bad)
        with pytest.raises(PaddleCNNError, match=name.replace(".", r"\.")):
            train(2, 8, small_net(), data=Quadrants(32), eval_data=False, resume=run, quiet=True)
    assert not stale.exists()
