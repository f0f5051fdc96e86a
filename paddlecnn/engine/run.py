"""The state of one call of :func:`paddlecnn.train`, and how it is set up.

:func:`start_run` reads top to bottom: options -> process (threads, device, processes,
seed) -> data -> model -> fit check -> loaders -> optimizer and LR policy -> run folder
-> checkpoint restored (on resume). The :class:`Run` it returns is plain state the
epoch loop (:mod:`paddlecnn.engine.trainer`) advances; the options themselves stay in
the frozen :class:`~paddlecnn.engine.config.TrainConfig` ``run.cfg``.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import paddle

from .. import checkpoint as ckpt
from .. import runlog, runtime
from ..errors import PaddleCNNError
from ..runlog import History
from . import config as config_mod
from . import recipes, setup
from .batches import SafeItems
from .config import TrainConfig
from .sampler import EpochBatchSampler


@dataclasses.dataclass
class Run:
    """Everything one training run holds besides its options (``cfg``)."""

    cfg: TrainConfig
    world: int = 1
    rank: int = 0
    threads: int = 1
    device: str = "cpu"
    net: Any = None                  # the model (paddle.nn.Layer)
    model: Any = None                # what the step calls: net, or paddle.DataParallel(net)
    model_info: Dict[str, Any] = dataclasses.field(default_factory=dict)
    data_info: Dict[str, Any] = dataclasses.field(default_factory=dict)
    load_skipped: int = 0            # unreadable files dropped while loading (on_error="skip")
    fast_layers: tuple = ("paddle", 0, 0)   # (backend, convs, max pools) swapped in for the CPU
    sampler: Any = None
    train_loader: Any = None
    eval_loader: Any = None
    policy: Any = None               # recipes.LRPolicy
    optimizer: Any = None
    amp: Optional[str] = None        # None, "float16" or "bfloat16"
    scaler: Any = None               # paddle.amp.GradScaler for float16
    history: History = dataclasses.field(default_factory=History)
    run_dir: Optional[Path] = None
    log: Any = None                  # runlog.ScalarLog (rank 0)
    saved: Optional[dict] = None     # the checkpoint resumed from
    start_epoch: int = 0
    resume_step: int = 0
    resumes: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def say(self, message: str) -> None:
        """A line on stdout for the user (rank 0, not quiet), without breaking the progress bar."""
        if not self.cfg.quiet and self.is_main and message:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)


def start_run(epoch_num, batch_size, model, lr_decay: bool, options: Dict[str, Any]) -> Run:
    """Resolve the options and build everything the epoch loop needs (see the module docstring)."""
    saved = _load_resumed(options.get("resume"))
    cfg = config_mod.resolve(epoch_num, batch_size, model, lr_decay, options,
                             saved=saved["config"]["options"] if saved else None)
    if saved is not None:
        cfg = dataclasses.replace(cfg, run_dir=str(Path(saved["path"]).parent.parent))
    run = Run(cfg, saved=saved)
    _setup_process(run)
    train_set, eval_set = setup.load_data(cfg)
    run.load_skipped = sum(int(getattr(d, "skipped", 0) or 0) for d in (train_set, eval_set) if d is not None)
    run.net, run.model_info = setup.build_model(model, cfg, train_set, saved)
    run.cfg = dataclasses.replace(run.cfg, model=run.model_info["config_name"])
    run.data_info = setup.check_fit(run.net, run.cfg, train_set, eval_set)
    fallback_note = (lambda m: print(m, file=sys.stderr, flush=True)) if run.is_main else (lambda m: None)
    run.fast_layers = setup.speed_up_layers(run.net, cfg.fastconv, run.device, fallback_note)
    _setup_loaders(run, train_set, eval_set)
    _setup_optimizer(run)
    _open_run_folder(run)
    _restore(run)
    run.say(describe(run))
    return run


def _load_resumed(resume) -> Optional[dict]:
    """The checkpoint ``resume`` (a run folder, its config.json, or a .pdckpt) names, with its ``path``;
    None for a new run."""
    if not resume:
        return None
    source = Path(resume)
    if source.is_file() and source.name == ckpt.CONFIG:      # RUN/config.json: the run folder is meant
        source = source.parent
    path = ckpt.latest_checkpoint(source) if source.is_dir() else source
    if path is None:
        raise PaddleCNNError(f"--resume {source}: no checkpoint in {source / ckpt.CHECKPOINT_DIR}; "
                             + _why_no_checkpoint(source))
    state = ckpt.load_state(path)
    state["path"] = str(path)
    return state


def _why_no_checkpoint(run_dir: Path) -> str:
    """What to do about a run folder without checkpoints: deleted ones, or a run that died early."""
    epochs = 0
    if (run_dir / "history.json").is_file():
        try:
            epochs = len(runlog.load_history(run_dir))
        except PaddleCNNError:
            epochs = 0
    if epochs:
        return (f"history.json records {epochs} epoch(s) but their checkpoints are gone (deleted?), so the run "
                "cannot continue; start a new run (its best weights, if any, are in best.pdparams)")
    return (f"the run stopped before finishing its first epoch; start it again in place with the same command "
            f"and --run-dir {run_dir} instead of --resume")


def _setup_process(run: Run) -> None:
    """Threads, device, the process group (data parallel) and the seed of the model's initialisation."""
    cfg = run.cfg
    run.world = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
    local_world = int(os.environ.get("PADDLE_LOCAL_SIZE", run.world))
    threads = cfg.threads
    if threads is None and run.world > 1 and runtime._USER_OMP is None:
        threads = max(1, runtime.available_cores() // max(local_world, 1))  # share the cores
    try:
        run.threads = runtime.set_threads(threads)
        run.device = runtime.get_device(cfg.device)
    except ValueError as exc:
        raise PaddleCNNError(str(exc)) from None
    if cfg.amp and not run.device.startswith("gpu"):
        raise PaddleCNNError("--amp needs a GPU (float16/bfloat16 autocast); on the CPU train without --amp")
    if run.world > 1:
        import paddle.distributed as dist

        if not dist.is_initialized():
            dist.init_parallel_env()
        run.rank = dist.get_rank()
    runtime.seed_everything(cfg.seed)  # model initialisation draws from this


def _setup_loaders(run: Run, train_set, eval_set) -> None:
    cfg = run.cfg
    skip = cfg.on_error == "skip"
    run.sampler = EpochBatchSampler(len(train_set), cfg.batch_size, shuffle=True, seed=cfg.seed,
                                    rank=run.rank, world=run.world)
    workers = int(cfg.num_workers or 0)
    train_items = SafeItems(train_set, skip)
    run.train_loader = paddle.io.DataLoader(train_items, batch_sampler=run.sampler, num_workers=workers,
                                            collate_fn=train_items.collate, persistent_workers=workers > 0)
    if eval_set is not None:
        shard = list(range(run.rank, len(eval_set), run.world))
        eval_items = SafeItems(paddle.io.Subset(eval_set, shard), skip)
        eval_sampler = paddle.io.BatchSampler(eval_items, batch_size=cfg.batch_size, shuffle=False)
        run.eval_loader = paddle.io.DataLoader(eval_items, batch_sampler=eval_sampler, num_workers=workers,
                                               collate_fn=eval_items.collate)


def _setup_optimizer(run: Run) -> None:
    cfg = run.cfg
    run.policy = recipes.LRPolicy(cfg.schedule, cfg.lr, cfg.epoch_num, len(run.sampler), cfg.warmup_epochs)
    schedule = dict(run.policy.config)
    if schedule["name"] == "cosine" and not schedule.get("T_max"):
        schedule["T_max"] = run.policy.total_steps    # sizes resolved: a resumed run follows the same curve
    run.cfg = dataclasses.replace(cfg, schedule=schedule)
    run.model = paddle.DataParallel(run.net) if run.world > 1 else run.net   # all-reduces gradients
    run.optimizer = recipes.build_optimizer(cfg.optimizer, run.net.parameters(), run.policy.learning_rate,
                                            cfg.weight_decay, cfg.momentum)
    run.amp = None if not cfg.amp else ("bfloat16" if cfg.amp == "bfloat16" else "float16")
    run.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if run.amp == "float16" else None


# Files a run writes before its first checkpoint: a folder holding only these may be started again.
_EARLY_FILES = ("config.json", "history.json", "history.csv", "vdlrecords.*", "best.pdparams", ".*.tmp")


def _open_run_folder(run: Run) -> None:
    cfg = run.cfg
    if run.saved is not None:
        run.run_dir = Path(cfg.run_dir)
        if run.is_main:
            ckpt.clean_stale_temp(run.run_dir)      # temp files of writes a kill interrupted
    elif run.is_main:
        path = Path(cfg.run_dir) if cfg.run_dir else None
        if path is not None and _died_before_first_checkpoint(path):
            run.say(f"run folder {path} never saved a checkpoint (it stopped in its first epoch): "
                    "starting it again in place")
            _clear_early_files(path)
        run.run_dir = runlog.new_run_dir(run.model_info["label"], cfg.run_dir, cfg.run_name)
        run.cfg = dataclasses.replace(cfg, run_dir=str(run.run_dir))
    run.history.run_dir = run.run_dir


def _died_before_first_checkpoint(path: Path) -> bool:
    """A run folder of ours (config.json) with no checkpoint and nothing but the files a run writes."""
    if not (path / ckpt.CONFIG).is_file() or ckpt.latest_checkpoint(path) is not None:
        return False
    checkpoints = path / ckpt.CHECKPOINT_DIR
    if checkpoints.is_dir() and any(not p.name.startswith(".") for p in checkpoints.iterdir()):
        return False
    return all(p.name == ckpt.CHECKPOINT_DIR or any(p.match(g) for g in _EARLY_FILES) for p in path.iterdir())


def _clear_early_files(path: Path) -> None:
    for p in path.iterdir():
        if p.is_dir():
            for q in p.iterdir():      # checkpoints/: only stale temp files of a killed write
                q.unlink()
            p.rmdir()
        else:
            p.unlink()


def _restore(run: Run) -> None:
    """Load the resumed checkpoint (model, optimizer, LR policy, scaler, history), then write config.json."""
    state = run.saved
    if state is not None:
        ckpt.load_model_state(run.net, state["model"], state["path"])   # refuses missing/misshaped tensors
        ckpt.load_optimizer_state(run.optimizer, run.net, state["optimizer"])
        run.policy.set_state_dict(state["scheduler"])
        if run.scaler is not None and state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        run.history.records = [dict(r) for r in state["history"]]
        run.start_epoch, run.resume_step = int(state["epoch"]), int(state.get("step") or 0)
        if run.start_epoch >= run.cfg.epoch_num:
            raise PaddleCNNError(f"--resume {run.run_dir}: that run already finished {run.start_epoch} epochs and "
                                 f"--epochs is {run.cfg.epoch_num}; ask for more, e.g. --epochs "
                                 f"{run.start_epoch + 1}")
        run.resumes = list(state["config"].get("resumes", [])) + [
            {"from": str(run.cfg.resume), "epoch": run.start_epoch, "step": run.resume_step,
             "lr": run.policy.lr, "time": time.strftime("%Y-%m-%d %H:%M:%S")}]
    if run.is_main:
        runlog.write_json(run.run_dir / ckpt.CONFIG, config_json(run))
        # A resumed run replays its history into a new VisualDL file: VisualDL shows only the newest.
        run.log = runlog.ScalarLog(run.run_dir, replay=run.history.records)
        if run.history.records:
            runlog.write_history(run.run_dir, run.history)


def config_json(run: Run) -> Dict[str, Any]:
    """config.json: everything needed to rebuild the model and repeat or resume the run."""
    from .. import __version__

    info, cfg = run.model_info, run.cfg
    return {"model": info["name"], "model_class": info["class"],
            "model_options": config_mod.jsonable(info["options"]), "default_init": info["default_init"],
            "epochs": cfg.epoch_num, "batch_size": cfg.batch_size, "schedule": cfg.schedule,
            "data_info": run.data_info, "options": cfg.to_json(), "world_size": run.world, "threads": run.threads,
            "device": run.device, "resumes": run.resumes,
            "versions": {"paddlecnn": __version__, "paddle": paddle.__version__, "python": platform.python_version(),
                         "numpy": np.__version__},
            "command": " ".join(sys.argv), "created": time.strftime("%Y-%m-%d %H:%M:%S")}


def describe(run: Run) -> str:
    """The one line printed before training: model, data, recipe, process, run folder."""
    d, c = run.data_info, run.cfg
    params = sum(int(np.prod(p.shape)) for p in run.net.parameters())
    evals = f", {d['eval_size']} eval" if d.get("eval_size") else ", no eval data"
    backend, convs, pools = run.fast_layers
    conv_kind, pool_kind = ("oneDNN", "oneDNN") if backend == "onednn" else ("FastConv2D", "FastMaxPool2D")
    pool_what = "pools" if backend == "onednn" else "max pools"   # oneDNN runs average pools too
    fast = [f"{convs} convs as {conv_kind}" if convs else "", f"{pools} {pool_what} as {pool_kind}" if pools else ""]
    fast_note = f" ({', '.join(p for p in fast if p)})" if convs or pools else ""
    start = (f"; resuming at epoch {run.start_epoch + 1}" + (f" step {run.resume_step}" if run.resume_step else "")
             if run.saved is not None else "")
    return (f"{run.model_info['label']} ({params:,} parameters) on {d['name']}: {d['train_size']} train"
            f"{evals} images, {d['channels']}x{d['input_size']}x{d['input_size']}, {d['num_classes']} classes; "
            f"{c.optimizer} lr {run.policy.lr:g} ({c.schedule['name']}), batch {c.batch_size}"
            f"{f' x {run.world} processes' if run.world > 1 else ''}, {c.epoch_num} epoch"
            f"{'s' if c.epoch_num != 1 else ''}; {run.threads} threads on {run.device}{fast_note}; "
            f"run folder {run.run_dir}{start}")
