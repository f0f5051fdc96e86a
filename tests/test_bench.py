"""bench: the measuring machinery (timing, FLOP arithmetic, torch twin, CLI JSON), never the speed."""
import json
import math
import statistics

import numpy as np
import paddle
import paddle.nn as nn
import pytest

import paddlecnn

from paddlecnn import bench
from paddlecnn.cli import main as cli_main
from paddlecnn.errors import PaddleCNNError
from paddlecnn.models import create

needs_torch = pytest.mark.skipif(not bench.torch_available(), reason="torch not installed (pip install paddlecnn[bench])")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """torch's spinning OpenMP threads crawl on a shared CI machine; one thread is enough to check logits."""
    if bench.torch_available():
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)
    else:
        yield


def test_timing_median_min_max_and_images_per_sec():
    t = bench.Timing.from_times([0.5, 0.1, 0.2, 0.4, 0.3], batch_size=32)
    assert (t.median_s, t.min_s, t.max_s, t.steps) == (0.3, 0.1, 0.5, 5)
    d = t.as_dict()
    assert d["images_per_sec"] == pytest.approx(32 / 0.3)
    assert d["images_per_sec_min"] == pytest.approx(64.0)    # slowest step: 32 images in 0.5 s
    assert d["images_per_sec_max"] == pytest.approx(320.0)
    with pytest.raises(ValueError):
        bench.Timing.from_times([], 1)


def test_timing_merge_takes_median_of_medians_and_extremes():
    parts = [bench.Timing(0.2, 0.1, 0.3, 3, 8), bench.Timing(0.4, 0.35, 0.9, 3, 8), bench.Timing(0.3, 0.25, 0.5, 2, 8)]
    m = bench.Timing.merge(parts)
    assert (m.median_s, m.min_s, m.max_s, m.steps, m.batch_size) == (0.3, 0.1, 0.9, 8, 8)


def test_time_steps_runs_warmup_then_times_each_step(monkeypatch):
    """A fake clock: each step takes a known time (binary fractions, so the sums are exact)."""
    durations = [4.0, 4.0, 0.5, 0.125, 1.0, 0.25]          # two warm-up steps, then four timed ones
    clock = {"now": 0.0, "calls": 0}

    def step():
        clock["now"] += durations[clock["calls"]]
        clock["calls"] += 1

    monkeypatch.setattr(bench.timing.time, "perf_counter", lambda: clock["now"])
    t = bench.time_steps(step, batch_size=4, steps=4, warmup=2, sync=lambda: None)
    assert clock["calls"] == 6 and t.steps == 4
    assert t.median_s == statistics.median(durations[2:]) == 0.375      # the warm-up's 4 s left out
    assert (t.min_s, t.max_s) == (0.125, 1.0)
    assert t.images_per_sec == 4 / 0.375


def test_column_keeps_a_failing_measurement_as_its_error():
    net = create("lenet5", num_classes=10)                # built for 32-pixel inputs
    x, y = bench.synthetic_batch(2, 1, 16)
    col = bench.column(lambda: bench.bench_bare(net, x, y, steps=1, warmup=0))
    assert list(col) == ["error"] and col["error"].startswith("ValueError")


def test_scaling_rows_measure_what_builds_and_name_what_does_not():
    plan = bench.Plan.quick(input_sizes=(8, 16), batch_sizes=(), batch_size=4, steps=2, warmup=1)
    bad, good = bench.bench_scaling("lenet5", dict(in_channels=1, input_size=16), plan)
    assert (bad["input_size"], good["input_size"]) == (8, 16)
    assert "images_per_sec" not in bad and "input_size=8 does not work for lenet5" in bad["error"]
    assert "error" not in good and good["steps"] == 2 and good["batch_size"] == 4
    assert math.isfinite(good["images_per_sec"]) and good["images_per_sec"] > 0


def test_interleaved_alternates_variants():
    order = []
    out = bench.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                            batch_size=2, rounds=3, warmup=1)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]   # warm-up, then A B / B A / A B
    assert out["a"].steps == out["b"].steps == 3


def test_interleaved_columns_alternate_blocks_and_keep_a_failing_variant_as_its_error():
    calls = []
    variants = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}

    def broken():
        calls.append("c")
        raise RuntimeError("first line\nno oneDNN here")

    variants["c"] = broken
    cols = bench.timing.interleaved_columns(variants, batch_size=4, steps=2, warmup=1, rounds=3, syncs={})
    # round 0: a a a, b b b, c (raises on its first warm-up step); round 1 reversed: b b b, a a a (1 warm-up each)
    assert calls == ["a"] * 3 + ["b"] * 3 + ["c"] + ["b"] * 3 + ["a"] * 3 + ["a"] * 3 + ["b"] * 3
    assert cols["c"] == {"error": "RuntimeError: no oneDNN here"}
    for name in ("a", "b"):
        assert cols[name]["rounds"] == 3 and cols[name]["steps"] == 6 and cols[name]["batch_size"] == 4
        assert cols[name]["images_per_sec"] > 0


def test_gflops_arithmetic_on_known_models():
    # Conv2D(1->2, 3x3) on 5x5: 2*3*3 outputs x 9 MACs = 162; Linear(18 -> 10): 180.
    tiny = nn.Sequential(nn.Conv2D(1, 2, 3), nn.Flatten(), nn.Linear(18, 10))
    assert bench.macs_per_image(tiny, input_size=5, in_channels=1) == 342
    # LeNet-5 at 1x32x32: 28*28*6*25 + 10*10*16*150 + 400*120 + 120*84 + 84*10.
    lenet = create("lenet5", num_classes=10)
    assert bench.macs_per_image(lenet, 32, 1) == 117_600 + 240_000 + 48_000 + 10_080 + 840 == 416_520
    # Training = forward + two backward products: 2 FLOPs x 3 per MAC.
    assert bench.train_gflops(416_520, 1000.0) == pytest.approx(416_520 * 6 * 1000 / 1e9)


def test_gemm_gflops_positive():
    assert bench.gemm_gflops(128, repeats=2, backend="paddle") > 0
    assert bench.gemm_gflops(128, repeats=2, backend="numpy") > 0
    with pytest.raises(ValueError):
        bench.gemm_gflops(8, backend="jax")


def test_bare_loop_and_fit_train_the_model():
    net = create("lenet5", num_classes=10, input_size=16)
    before = net.classifier.fc3.weight.numpy().copy()
    x, y = bench.synthetic_batch(4, 1, 16)
    t = bench.bench_bare(net, x, y, steps=2, warmup=1)
    assert t.images_per_sec > 0 and t.batch_size == 4
    assert not np.allclose(net.classifier.fc3.weight.numpy(), before)   # the step really updated
    assert bench.bench_fit(net, x, y, steps=2, warmup=1).steps == 2
    assert bench.bench_loop(net, x, y, steps=3, warmup=1).images_per_sec > 0


@needs_torch
@pytest.mark.parametrize("name, options", [
    ("lenet5", dict(input_size=32)),
    ("alexnet_paper", dict(input_size=67, width=0.125)),          # LRN, unpadded conv1
    ("vgg11_bn", dict(input_size=32, width=0.125)),                 # BN, flatten in forward()
    ("googlenet_bn", dict(input_size=32, width=0.125)),             # Inception concat
    ("cnn_alltricks", dict(input_size=32, width=0.125)),            # LeakyReLU, concat blocks, GAP
])
def test_torch_twin_gives_the_same_logits(name, options):
    import torch

    net = create(name, num_classes=7, **options)
    channels = 1 if name == "lenet5" else 3
    x, _ = bench.synthetic_batch(2, channels, options["input_size"])
    twin = bench.torch_twin(net)
    # torch keeps BN running statistics as buffers, paddle as non-trainable parameters.
    trainable = sum(int(np.prod(p.shape)) for p in net.parameters() if not p.stop_gradient)
    assert sum(p.numel() for p in twin.parameters()) == trainable
    assert bench.twin_max_error(net, twin, x) < 1e-5
    net.eval()
    twin.eval()
    with torch.no_grad():
        logits = twin(torch.from_numpy(x)).numpy()
    assert logits.shape == (2, 7)
    np.testing.assert_allclose(logits, net(paddle.to_tensor(x)).numpy(), rtol=1e-4, atol=1e-5)


@needs_torch
@pytest.mark.slow
def test_torch_twin_refuses_unknown_layers_and_trains():
    class Odd(nn.Layer):
        def forward(self, x):
            return x

    with pytest.raises(PaddleCNNError, match="no torch twin for layer Odd"):
        bench.torch_twin(nn.Sequential(nn.Conv2D(1, 2, 3), Odd()))
    net = create("lenet5", num_classes=10, input_size=16)
    x, y = bench.synthetic_batch(4, 1, 16)
    assert bench.bench_torch(bench.torch_twin(net), x, y, threads=1, steps=2, warmup=1).images_per_sec > 0


@pytest.mark.slow
def test_speed_variants_start_from_the_same_weights():
    """fastconv / to_static variants compute the same first loss as paddle as built."""
    x, y = bench.synthetic_batch(4, 3, 32)
    # dropout 0: its random masks would differ between the variants
    steps = bench.speed_variants("vgg11", dict(input_size=32, width=0.125, dropout=0.0), x, y)
    losses = {k: float(step()) for k, step in steps.items()}
    assert set(losses) == {"paddle", "fastconv_bias", "fastconv", "fastconv+pools", "fast_step", "to_static",
                           "fastconv+to_static", "onednn_step"}      # oneDNN builds here (test_onednn pins it)
    for k, v in losses.items():
        assert v == pytest.approx(losses["paddle"], rel=1e-5), k


def test_eval_variants_fused_bn_same_output():
    x, _ = bench.synthetic_batch(2, 3, 32)
    ev = bench.eval_variants("vgg11_bn", dict(input_size=32, width=0.125), x)
    np.testing.assert_allclose(ev["eval_fused_bn"]().numpy(), ev["eval"]().numpy(), rtol=1e-4, atol=1e-5)


def test_data_pipeline_rows():
    rows = bench.bench_data(16, channels=1, workers=(0,), n_images=24, batch_size=8, cache=(False, True))
    assert [(r["num_workers"], r["cache"]) for r in rows] == [(0, False), (0, True)]
    assert all(r["images"] == 16 and r["images_per_sec"] > 0 for r in rows)   # first batch untimed


@pytest.mark.slow
def test_peak_rss_in_a_subprocess():
    mem = bench.peak_rss("lenet5", dict(in_channels=1, input_size=16), input_size=16, batch_size=4)
    assert 50 < mem["import_mib"] <= mem["model_mib"] <= mem["peak_mib"] < 4096
    onednn = bench.peak_rss("lenet5", dict(in_channels=1, input_size=16), input_size=16, batch_size=4,
                            backend="onednn")
    assert 50 < onednn["model_mib"] <= onednn["peak_mib"] < 4096


@pytest.mark.slow
def test_cli_bench_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli_main(["bench", "--quick", "--no-rss", "--steps", "2", "--input-sizes", "16", "32",
                     "--batch-sizes", "4", "--processes", "2", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"date", "machine", "plan", "gemm", "models", "scaling"} <= set(result)
    assert result["machine"]["threads"] >= 1 and result["machine"]["paddle"] == paddle.__version__
    assert result["gemm"]["paddle_gflops"] > 0
    (row,) = result["models"]
    assert row["name"] == "lenet5" and row["macs_per_image"] == 416_520
    for col, steps in (("bare", 2), ("fast", 2), ("onednn", 2), ("dp", 2), ("fit", 2), ("loop", 4), ("train", 2)):   # loop/train: 2 alternating rounds
        assert row[col]["steps"] == steps and row[col]["batch_size"] == 8, col
        assert math.isfinite(row[col]["images_per_sec"]) and row[col]["images_per_sec"] > 0, col
    assert row["ratios"]["train_vs_loop"] == pytest.approx(row["train"]["images_per_sec"] / row["loop"]["images_per_sec"])
    assert row["ratios"]["fast_vs_bare"] == pytest.approx(row["fast"]["images_per_sec"] / row["bare"]["images_per_sec"])
    assert row["ratios"]["onednn_vs_fast"] == pytest.approx(row["onednn"]["images_per_sec"] / row["fast"]["images_per_sec"])
    assert row["dp"]["batch_size"] == 8                    # two processes of 4 images each: the whole batch
    assert row["ratios"]["dp_vs_fast"] == pytest.approx(row["dp"]["images_per_sec"] / row["fast"]["images_per_sec"])
    assert row["gflops"] == pytest.approx(416_520 * 6 * row["bare"]["images_per_sec"] / 1e9)
    if bench.torch_available():                            # the twin matched, so its step was timed
        assert row["twin_error"] < 1e-4 and row["torch"]["steps"] == 2 and row["torch"]["images_per_sec"] > 0
    else:
        assert row["torch"] == {"error": "torch not installed"}
    assert [(r["input_size"], r["batch_size"]) for r in result["scaling"]["rows"]] == [(16, 8), (32, 8), (32, 4)]
    assert all(r["images_per_sec"] > 0 for r in result["scaling"]["rows"])
    data = result["data"]                    # random JPEGs, cached, a fresh process for workers 0 and 1
    assert [(r["num_workers"], r["cache"]) for r in data["rows"]] == [(0, True), (1, True)]
    assert all(r["images_per_sec"] > 0 for r in data["rows"])
    assert data["data_vs_model"] == pytest.approx(data["best_images_per_sec"] / row["bare"]["images_per_sec"])
    printed = capsys.readouterr().out
    assert "lenet5" in printed and str(out) in printed
    assert "dp = the fast step in 2 one-thread processes" in printed


def test_cli_bench_rejects_bad_arguments(capsys):
    assert cli_main(["bench", "--quick", "--models", "nosuchnet"]) == 2
    assert "unknown nosuchnet" in capsys.readouterr().err
    assert cli_main(["bench", "--quick", "--steps", "0"]) == 2
    assert "--steps must be positive" in capsys.readouterr().err
    assert cli_main(["bench", "--quick", "--processes", "1"]) == 2
    assert "--processes must be 2 or more" in capsys.readouterr().err
    with pytest.raises(PaddleCNNError, match="divide the batch: 3 processes, batch 8"):
        bench.bench_data_parallel("lenet5", dict(in_channels=1, input_size=16), 8, processes=3)


@pytest.mark.slow
def test_env_ab_runs_each_setting_in_its_own_process():
    out = bench.env_ab("lenet5", dict(in_channels=1, input_size=16), batch_size=2, steps=1, rounds=1, gemm_n=64,
                       variants={"default": {}, "1 thread": {"OMP_NUM_THREADS": "1"}})
    assert list(out) == ["default", "1 thread"]
    for v in out.values():
        assert v["rounds"] == 1 and v["gemm_gflops"] > 0 and v["images_per_sec"] > 0
    assert out["1 thread"]["env"] == {"OMP_NUM_THREADS": "1"}
    assert out["1 thread"]["threads"] == 1
    assert out["default"]["threads"] == paddlecnn.runtime.SETTINGS["threads"]
