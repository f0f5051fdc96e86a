"""The experiments: catalog coverage, the runner's skip/resume, the verdict rule and table, the CLI."""
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paddlecnn import models
from paddlecnn.data import list_builtin
from paddlecnn.engine.recipe_book import list_recipes
from paddlecnn.errors import PaddleCNNError
from paddlecnn.experiments import catalog, report, runner, verdicts
from paddlecnn.experiments.catalog import SCALES, Run

ROOT = Path(__file__).resolve().parent.parent

# Every claim of the experiments issue, one verdict-table row each.
ISSUE_CLAIMS = [
    # the PaddlePaddle tutorial
    "lenet-no-converge", "alexnet-best-classic", "vgg-overfits", "googlenet-slow", "bn-googlenet",
    "bn-vgg-eval-loss", "bn-two-three-layers", "tricks-sigmoid-no-train", "tricks-bn-trains", "tricks-leakyrelu",
    "tricks-gap", "tricks-dropout", "tricks-coresize3", "tricks-concat", "tricks-all-decay",
    # the AlexNet paper
    "alexnet-relu-faster", "alexnet-lrn", "alexnet-overlap-pool", "alexnet-dropout", "alexnet-pca-lighting",
    "alexnet-ten-crop",
    # the VGG paper
    "vgg-deeper-better", "vgg-lrn-no-gain", "vgg-1x1-worse", "vgg-scale-jitter", "vgg-dense-multicrop", "vgg-fusion",
    # the VGG16-on-ImageNet chapter
    "chapter-prelu-trains", "chapter-lr-drop",
]
SOURCES = {"the PaddlePaddle tutorial", "the AlexNet paper", "the VGG paper", "the VGG16-on-ImageNet chapter"}


def test_catalog_covers_every_claim_of_the_issue_once():
    assert sorted(catalog.CLAIM_IDS) == sorted(ISSUE_CLAIMS)
    assert len(set(catalog.CLAIM_IDS)) == len(catalog.CLAIM_IDS)
    for exp in catalog.EXPERIMENTS.values():
        for claim in exp.claims:
            assert claim.source in SOURCES, claim.id
            assert claim.compare.kind in catalog.KINDS and claim.compare.metric.split(":")[0] in catalog.METRICS
            for ref in claim.compare.runs:                       # every reference names a run of the experiment
                for label in ref.partition("@")[0].split("+"):
                    catalog.resolve_run(exp, label)


@pytest.mark.parametrize("scale", SCALES)
def test_every_run_names_a_registered_model_recipe_and_dataset(scale):
    builtin = set(list_builtin()) | {"shapes16-224"}
    for exp in catalog.EXPERIMENTS.values():
        for run in exp.runs:
            home, run = catalog.resolve_run(exp, run.label)
            setting = home.setting(scale)
            assert run.model in models.list_models(), (exp.name, run.label)
            assert setting.recipe in list_recipes(), (exp.name, setting.recipe)
            caltech = scale == "paper" and setting.data.endswith("Train.txt")
            assert setting.data in builtin or caltech, (exp.name, setting.data)
            if scale == "paper":
                assert setting.recipe in ("tutorial", "alexnet-paper", "vgg-paper", "vgg16-chapter")
                assert "width" not in setting.overrides and "input_size" not in setting.overrides


def test_a_run_living_in_another_experiment_is_that_experiments_run():
    for exp in catalog.EXPERIMENTS.values():
        for run in exp.runs:
            if run.home:
                home, own = catalog.resolve_run(exp, run.label)
                assert (own.model, dict(own.options)) == (run.model, dict(run.options)), (exp.name, run.label)
                assert home.cpu == exp.cpu, (exp.name, run.label)    # compared runs train alike


def test_paper_scale_falls_back_to_shapes16_224_and_finds_caltech16(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLECNN_CALTECH16", str(tmp_path / "none"))
    assert catalog.get("trick-series").setting("paper").data == "shapes16-224"
    (tmp_path / "Train.txt").write_text("")
    monkeypatch.setenv("PADDLECNN_CALTECH16", str(tmp_path))
    setting = catalog.get("vgg-depth").setting("paper")
    assert setting.data == str(tmp_path / "Train.txt") and setting.test_data == str(tmp_path / "Test.txt")


@pytest.mark.slow
def test_quick_scale_is_small_and_cpu_scale_fits_the_budget():
    for exp in catalog.EXPERIMENTS.values():
        q = exp.setting("quick")
        assert q.seeds == 1 and q.overrides["subset"] * q.overrides["epoch_num"] <= 64
        assert q.overrides["width"] <= 0.125 and q.overrides["input_size"] <= 67
        cpu = exp.setting("cpu")
        assert cpu.why and cpu.seeds >= 3                         # effects of a few points need 3 seeds
    assert catalog.get("trick-series").cpu.overrides["input_size"] >= 64   # stage 6 maps >= 2x2
    total = sum(catalog.estimated_minutes(name, "cpu") for name in catalog.list_experiments())
    assert 30 < total < 150, total


def test_suite_minutes_counts_a_shared_run_once():
    results = {"vgg-depth": {"provenance": {"minutes_per_run": {"vgg-depth/A-seed0": 2.0, "vgg-depth/B-seed0": 3.0},
                                            "total_minutes": 5.0}},
               "vgg-lrn": {"provenance": {"minutes_per_run": {"vgg-depth/A-seed0": 2.0, "vgg-lrn/A_LRN-seed0": 1.5},
                                          "total_minutes": 3.5}}}
    assert verdicts.suite_minutes(results) == {"unique": 6.5, "runs": 3, "summed": 8.5}


def test_the_committed_cpu_suite_fits_its_budget():
    """The issue's budget: the whole cpu-scale suite in about two hours on 2 cores (each run counted once)."""
    cost = verdicts.suite_minutes(verdicts.load_results(verdicts.results_dir(), "cpu"))
    assert cost["runs"] >= 90 and 60 < cost["unique"] <= 135, cost


def test_verdict_rule_spread_and_direction():
    assert runner.beats([0.50, 0.52, 0.51], [0.60, 0.61, 0.62])[0]         # far beyond 3x the spread
    ok, effect = runner.beats([0.50, 0.60, 0.40], [0.52, 0.61, 0.43])     # within the spread, every seed up
    assert ok and effect == pytest.approx(0.02)
    assert not runner.beats([0.50, 0.60, 0.40], [0.55, 0.55, 0.46])[0]    # within the spread, one seed down
    assert not runner.beats([0.5, 0.5], [float("nan"), 0.9])[0]
    assert runner.judge("no_gain", {"a": [0.5, 0.6, 0.4], "b": [0.55, 0.55, 0.46]}, ("a", "b"), None)[0]
    assert runner.judge("ratio", {"t": [6.0, 8.0], "r": [2.0, 2.0]}, ("t", "r"), 2.0) == (True, 3.5)
    assert not runner.judge("below", {"s": [0.06, 0.2]}, ("s",), 0.125)[0]


def test_history_metrics_from_records():
    records = [{"epoch": 1, "train_acc": 0.3, "eval_acc": 0.3, "eval_loss": 2.0, "lr": 0.01},
               {"epoch": 2, "train_acc": 0.6, "eval_acc": 0.4, "eval_loss": 1.5, "lr": 0.01},
               {"epoch": 3, "train_acc": 0.9, "eval_acc": 0.55, "eval_loss": 1.7, "lr": 0.001}]
    m = runner.history_metric
    assert m(records, "best_eval_acc") == 0.55 and m(records, "min_eval_loss") == 1.5
    assert m(records, "gap") == pytest.approx(0.35)
    assert m(records, "eval_loss_rise") == pytest.approx(0.2)               # 1.7 at the end, 1.5 at best
    assert m(records[:2], "eval_loss_rise") == 0.0                           # still falling: no rise
    assert m(records, "epochs_to:0.5") == 2.0 and m(records, "epochs_to:0.05") == 4.0   # never: epochs + 1
    assert m(records, "lift") == pytest.approx(0.15)


def _tiny_setting(epochs):
    setting = catalog.get("trick-series").setting("quick")
    return dataclasses.replace(setting, overrides={**setting.overrides, "epoch_num": epochs, "subset": 32})


def test_runner_skips_a_finished_run(tmp_path):
    folder, run = tmp_path / "run-seed0", Run("alltricks", "cnn_alltricks")
    runner.ensure_run(folder, run, _tiny_setting(1), 0, say=lambda s: None)
    before = (folder / "history.json").read_bytes()
    said = []
    start = time.perf_counter()
    runner.ensure_run(folder, run, _tiny_setting(1), 0, say=said.append)
    assert time.perf_counter() - start < 3 and said == []            # nothing trained
    assert (folder / "history.json").read_bytes() == before
    assert runner.run_status(folder, 1) == "finished"


def test_runner_resumes_an_interrupted_run(tmp_path):
    folder, run = tmp_path / "run-seed0", Run("alltricks", "cnn_alltricks")
    runner.ensure_run(folder, run, _tiny_setting(1), 0, say=lambda s: None)   # a checkpoint of epoch 1 of 2
    first = json.loads((folder / "history.json").read_text())["records"][0]
    assert runner.run_status(folder, 2) == "interrupted"
    said = []
    runner.ensure_run(folder, run, _tiny_setting(2), 0, say=said.append)
    records = json.loads((folder / "history.json").read_text())["records"]
    assert said and said[0].startswith("resuming")
    assert [r["epoch"] for r in records] == [1, 2] and records[0]["train_loss"] == first["train_loss"]


@pytest.mark.slow
def test_cli_list_and_unknown_experiment(capsys):
    from paddlecnn.cli import main

    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    assert all(f"    {claim_id}:" in out for claim_id in ISSUE_CLAIMS)
    assert main(["experiment", "trick-serie"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean 'trick-series'" in err


def test_verdict_table_has_one_row_per_claim(tmp_path):
    table = verdicts.verdict_table(tmp_path)
    lines = table.splitlines()
    assert len(lines) == 2 + len(ISSUE_CLAIMS)
    assert all(line.count("|") == 7 for line in lines)
    assert sum(verdicts.NOT_RUN in line for line in lines) == len(ISSUE_CLAIMS)


def _cli(args, logs, cwd):
    env = dict(os.environ, PADDLECNN_LOGS=str(logs), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "paddlecnn", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_cli_trick_series_quick_writes_results_with_provenance(tmp_path):
    proc = _cli(["experiment", "trick-series", "--scale", "quick", "--logs", str(tmp_path)], tmp_path, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "trick-series" / "quick" / "trick-series-quick.json").read_text())
    prov = results["provenance"]
    for key in ("command", "git_commit", "paddle_version", "device", "cpu_model", "minutes_per_run"):
        assert prov[key] not in (None, "", {}), key
    assert "experiment trick-series --scale quick" in prov["command"]
    assert len(prov["minutes_per_run"]) == 9
    exp = catalog.get("trick-series")
    assert [c["id"] for c in results["claims"]] == [c.id for c in exp.claims]
    assert all(c["verdict"] in ("reproduced", "not reproduced") for c in results["claims"])
    assert (tmp_path / "trick-series" / "quick" / results["figure"]).is_file()
    # every run's per-epoch curves travel in the results file (lessons plot them without the run folders)
    assert list(results["curves"]) == [r.label for r in exp.runs]
    assert results["setting"]["num_classes"] == 16          # shapes16
    sigmoid = results["curves"]["sigmoid"][0]
    assert sigmoid["epoch"] == [1] and sigmoid["eval_acc"][0] == pytest.approx(
        runner.metric_values(exp, "sigmoid", "final_eval_acc", "quick", tmp_path, 1)[0])
    # the table reads the results file: the trick series' rows are no longer "not run yet"
    table = verdicts.verdict_table(tmp_path / "trick-series" / "quick", scale="quick")
    assert sum(verdicts.NOT_RUN in line for line in table.splitlines()) == len(ISSUE_CLAIMS) - len(exp.claims)


@pytest.mark.slow
@pytest.mark.parametrize("name", catalog.list_experiments())
def test_every_experiment_runs_at_quick_scale(name, tmp_path):
    results = runner.run_experiment(name, "quick", logs=str(tmp_path), say=lambda s: None)
    assert [c["id"] for c in results["claims"]] == [c.id for c in catalog.get(name).claims]
    for c in results["claims"]:
        assert c["verdict"] in ("reproduced", "not reproduced", "not testable yet"), c
        assert c["verdict"] == "not testable yet" or c["values"], c
    assert (tmp_path / name / "quick" / f"{name}-quick.json").is_file()


def _fake_history(folder, eval_accs):
    folder.mkdir(parents=True)
    records = [{"epoch": i + 1, "train_loss": 1.0, "train_acc": 0.9, "eval_loss": 1.0, "eval_acc": a, "lr": 0.01}
               for i, a in enumerate(eval_accs)]
    (folder / "history.json").write_text(json.dumps({"records": records}))


def test_claims_are_judged_from_run_folders_across_homes(tmp_path):
    """alexnet-pca-lighting's baseline lives in alexnet-lrn-overlap's folder; at cpu scale the claim
    keeps its numbers but says "not testable on a CPU"."""
    exp = catalog.get("alexnet-pca-lighting")
    for k, (paper, no_pca) in enumerate([(0.60, 0.50), (0.62, 0.55), (0.58, 0.52)]):
        _fake_history(runner.run_folder(tmp_path, "alexnet-lrn-overlap", "cpu", "paper", k), [0.3, paper])
        _fake_history(runner.run_folder(tmp_path, "alexnet-pca-lighting", "cpu", "no_pca", k), [0.3, no_pca])
    entry = runner.judge_claim(exp, exp.claims[0], "cpu", tmp_path, 3)
    assert entry["verdict"] == "not testable on a CPU" and "seed-to-seed" in entry["reason"]
    assert entry["values"]["paper"]["mean"] == pytest.approx(0.60)
    assert entry["values"]["no_pca"]["per_seed"] == [0.50, 0.55, 0.52]
    assert entry["effect"] == pytest.approx(0.0767, abs=1e-3)
    lrn_exp, overlap = catalog.claim("alexnet-overlap-pool")
    assert overlap.blocked is None and overlap.compare.runs == ("no_overlap", "paper")
    blocked = dataclasses.replace(overlap, blocked="no model option yet")
    assert runner.judge_claim(lrn_exp, blocked, "cpu", tmp_path, 3)["verdict"] == "not testable yet"


def test_results_loads_the_committed_cpu_file_else_runs(tmp_path, monkeypatch):
    """A lesson's call: quick scale runs (seconds); cpu scale reads the committed file without training."""
    quick = runner.results("googlenet-bn", "quick", logs=str(tmp_path), say=lambda s: None)
    assert quick["scale"] == "quick" and list(quick["curves"]) == ["googlenet", "googlenet_bn_tutorial"]
    committed = tmp_path / "committed"
    committed.mkdir()
    fake = dict(quick, scale="cpu", provenance=dict(quick["provenance"], command="made by hand"))
    (committed / "googlenet-bn-cpu.json").write_text(json.dumps(fake))
    monkeypatch.setattr(verdicts, "results_dir", lambda: committed)
    said = []
    loaded = runner.results("googlenet-bn", "cpu", logs=str(tmp_path / "none"), say=said.append)
    assert loaded["scale"] == "cpu" and "made by hand" in said[0] and "googlenet-bn-cpu.json" in said[0]
    assert not (tmp_path / "none").exists()   # nothing trained


def test_docs_experiments_md_is_the_committed_results():
    """docs/experiments.md is what `experiment verdicts --format doc` prints from the committed files:
    regenerate it after a suite run (a stale table fails here)."""
    committed = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    assert committed.rstrip("\n") == verdicts.document().rstrip("\n"), \
        "docs/experiments.md is stale: python -m paddlecnn experiment verdicts --format doc > docs/experiments.md"


def test_short_table_keeps_one_row_per_claim_without_reasons(tmp_path):
    exp = catalog.get("alexnet-pca-lighting")
    for k, (paper, no_pca) in enumerate([(0.60, 0.50), (0.62, 0.55), (0.58, 0.52)]):
        _fake_history(runner.run_folder(tmp_path, "alexnet-lrn-overlap", "cpu", "paper", k), [0.3, paper])
        _fake_history(runner.run_folder(tmp_path, "alexnet-pca-lighting", "cpu", "no_pca", k), [0.3, no_pca])
    results = report.build(exp, "cpu", exp.cpu, 3, [runner.judge_claim(exp, exp.claims[0], "cpu", tmp_path, 3)],
                           {}, "by hand")
    report.write_json(tmp_path / "alexnet-pca-lighting-cpu.json", dict(results, figure="x.png"))
    short = verdicts.short_table(tmp_path).splitlines()
    assert len(short) == 2 + len(ISSUE_CLAIMS)
    row = next(line for line in short if line.startswith("| PCA lighting"))
    assert row.endswith("| not testable on a CPU |") and "no_pca 0.523" in row
    doc = verdicts.document(tmp_path)
    assert "1 of 16 experiments have results" in doc and "made by `by hand`" in doc


def test_stays_at_chance_is_judged_on_the_runs_own_number_of_classes(tmp_path):
    """The sigmoid LeNet's 0.167 is at chance on 10 classes (below 2 x 0.1) but not on 16 (2 x 0.0625)."""
    exp, claim = catalog.claim("lenet-no-converge")
    for classes, verdict in ((10, "reproduced"), (16, "not reproduced")):
        root = tmp_path / str(classes)
        for k in range(3):
            folder = runner.run_folder(root, "classics", "cpu", "lenet", k)
            _fake_history(folder, [0.1, 0.167])
            (folder / "config.json").write_text(json.dumps({"data_info": {"num_classes": classes}}))
        entry = runner.judge_claim(exp, claim, "cpu", root, 3)
        assert entry["verdict"] == verdict and entry["bound"] == pytest.approx(2.0 / classes)


def test_write_docs_fills_the_readme_block_and_the_docs_page(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("intro\n<!-- verdicts:start -->\nold\n<!-- verdicts:end -->\nrest\n")
    verdicts.write_docs(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n<!-- verdicts:start -->\n| claim |") and text.endswith("<!-- verdicts:end -->\nrest\n")
    assert "old" not in text and verdicts.short_table() in text
    assert (tmp_path / "docs" / "experiments.md").read_text().rstrip() == verdicts.document().rstrip()
    (tmp_path / "README.md").write_text("no block\n")
    with pytest.raises(PaddleCNNError, match="verdicts:start"):
        verdicts.write_docs(tmp_path)


def test_every_claim_has_its_chinese_words_and_the_chinese_table_uses_them(tmp_path):
    from paddlecnn.experiments import words_zh

    ids = [c.id for e in catalog.EXPERIMENTS.values() for c in e.claims]
    assert sorted(words_zh.CLAIMS) == sorted(ids), "give each claim of the catalog one Chinese sentence"
    assert {c.source for e in catalog.EXPERIMENTS.values() for c in e.claims} <= set(words_zh.SOURCES)
    zh = verdicts.short_table(tmp_path, language="zh").splitlines()
    assert zh[0].startswith("| 结论 | 来源 |") and len(zh) == 2 + len(ids)
    assert zh[2] == f"| {words_zh.CLAIMS[ids[0]]} | 飞桨教程 | - | 尚未运行 |"


def test_write_docs_fills_readme_zh_too_when_it_exists(tmp_path):
    (tmp_path / "docs").mkdir()
    for name in ("README.md", "README.zh.md"):
        (tmp_path / name).write_text("intro\n<!-- verdicts:start -->\nold\n<!-- verdicts:end -->\n", encoding="utf-8")
    written = verdicts.write_docs(tmp_path)
    assert [p.name for p in written] == ["experiments.md", "README.md", "README.zh.md"]
    assert verdicts.short_table(language="zh") in (tmp_path / "README.zh.md").read_text(encoding="utf-8")
    assert "| 结论 |" not in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_a_diverged_run_is_an_outcome_scored_at_chance(tmp_path):
    """A run whose loss became NaN/Inf leaves diverged.json; it counts as finished, scores chance, and the
    claim's reason says so (the VGG paper's init at the chapter's learning rate does this on a CPU)."""
    exp, claim = catalog.claim("chapter-prelu-trains")
    for k in range(3):
        _fake_history(runner.run_folder(tmp_path, "vgg16-chapter", "cpu", "prelu", k), [0.3, 0.4 + k / 100])
        folder = runner.run_folder(tmp_path, "vgg16-chapter", "cpu", "paper_init", k)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"data_info": {"num_classes": 10}}))
        (folder / runner.DIVERGED).write_text(json.dumps({"message": "loss became NaN/Inf at epoch 1, step 3"}))
        assert runner.run_status(folder, 10) == "finished" and runner.run_records(folder) == []
    entry = runner.judge_claim(exp, claim, "cpu", tmp_path, 3)
    assert entry["values"]["paper_init"]["per_seed"] == [0.1, 0.1, 0.1]
    assert entry["verdict"] == "reproduced"
    assert "paper_init diverged (loss NaN/Inf) in 3 of 3 seeds: scored at chance" in entry["reason"]
