"""Hostile weights and checkpoint files run no code, in every command that reads weights.

Each payload is a pickle whose unpickling would create a marker file (through
``os.system``, ``builtins.exec``, ``builtins.eval`` with code, ``subprocess`` or a
class of its own). The restricted reader in :mod:`paddlecnn.io` must refuse it with a
one-line error naming the file, and the marker must never appear.
"""
import builtins
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paddlecnn import checkpoint as ckpt
from paddlecnn import io
from paddlecnn.errors import PaddleCNNError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "run_v0"


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Exec(_System):
    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


class _Eval(_System):
    def __reduce__(self):  # looks like paddle's DenseTensor form, but the expression is code
        return builtins.eval, (f"open({str(self.marker)!r}, 'w').close()", {})


class _Subprocess(_System):
    def __reduce__(self):
        return subprocess.call, (["touch", str(self.marker)],)


class Gadget:
    """A class of the file's own: unpickling it would import this module and run __setstate__."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).touch()


PAYLOADS = {"os.system": _System, "builtins.exec": _Exec, "builtins.eval": _Eval,
            "subprocess": _Subprocess, "a class": Gadget}


def weights_payload(path, marker, kind="os.system"):
    """A .pdparams: a state dict whose second tensor is the payload."""
    state = {"features.conv1.weight": np.zeros((6, 1, 5, 5), "float32"), "evil": PAYLOADS[kind](marker)}
    path.write_bytes(pickle.dumps(state, protocol=4))
    return path


def checkpoint_payload(path, marker, kind="builtins.exec"):
    """A .pdckpt: a real checkpoint's layout with the payload among the RNG states."""
    state = {"format": ckpt.FORMAT, "epoch": 1, "step": 0, "model": {}, "rng": {"paddle": [PAYLOADS[kind](marker)]}}
    path.write_bytes(pickle.dumps(state, protocol=4))
    return path


def hostile_run(tmp_path, kind):
    """A copy of the fixture run whose best.pdparams (or, for 'pdckpt', only checkpoint) is a payload."""
    run = tmp_path / f"run-{kind}"
    shutil.copytree(FIXTURE, run)
    marker = tmp_path / f"pwned-{kind}"
    if kind == "pdparams":
        weights_payload(run / "best.pdparams", marker)
        target = run / "best.pdparams"
    else:
        (run / "best.pdparams").unlink()
        target = checkpoint_payload(run / "checkpoints" / "epoch-0001.pdckpt", marker)
    return run, target, marker


# ----------------------------------------------------------------------------- the reader itself

@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_every_payload_is_refused_by_name(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = weights_payload(tmp_path / "evil.pdparams", marker, kind)
    with pytest.raises(PaddleCNNError, match=r"evil\.pdparams refers to .*run code") as err:
        io.read_weights(path)
    assert "\n" not in str(err.value)
    with pytest.raises(PaddleCNNError, match="never needs"):
        io.check_pickle(path)                      # the no-code check says the same, without unpickling
    assert not marker.exists()


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_checkpoint_payloads_are_refused(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = checkpoint_payload(tmp_path / "epoch-0002.pdckpt", marker, kind)
    with pytest.raises(PaddleCNNError, match=r"epoch-0002\.pdckpt refers to"):
        ckpt.load_state(path)
    with pytest.raises(PaddleCNNError, match=r"epoch-0002\.pdckpt refers to"):
        ckpt.load_weights(path)
    assert not marker.exists()


def test_a_plain_pickle_still_runs_the_payload_so_the_test_is_real(tmp_path):
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Exec(marker)))       # what pickle.load / paddle.load would have done
    assert marker.exists()


def test_numpy_subclass_and_object_arrays_are_refused(tmp_path):
    path = tmp_path / "obj.pdparams"
    path.write_bytes(pickle.dumps({"w": np.array([1, "x"], dtype=object)}, protocol=4))
    with pytest.raises(PaddleCNNError, match="obj.pdparams"):
        io.read_weights(path)
    path.write_bytes(pickle.dumps({"w": np.ma.masked_array([1.0, 2.0])}, protocol=4))
    with pytest.raises(PaddleCNNError, match="refers to numpy.ma"):
        io.read_weights(path)


def test_size_bound_is_checked_before_reading(tmp_path):
    path = weights_payload(tmp_path / "big.pdparams", tmp_path / "m")
    with pytest.raises(PaddleCNNError, match=r"big\.pdparams is .* GiB, more than"):
        io.read_pickle(path, "weights file", max_bytes=100)
    with pytest.raises(PaddleCNNError, match="more than"):
        io.check_pickle(path, max_bytes=100)


# ----------------------------------------------------------------------------- every command, in process

@pytest.mark.parametrize("kind", ["pdparams", "pdckpt"])
def test_library_commands_refuse_hostile_runs(tmp_path, kind):
    from paddlecnn import transfer
    from paddlecnn.evaluation import evaluate
    from paddlecnn.export import export_model
    from paddlecnn.models import create
    from paddlecnn.prediction import predict

    run, target, marker = hostile_run(tmp_path, kind)
    image = _image(tmp_path)
    calls = {"predict": lambda: predict(run, image), "evaluate": lambda: evaluate(run, "mnist5k", subset=8),
             "export": lambda: export_model(run, tmp_path / "out"),
             "pretrained": lambda: transfer.load_pretrained(create("lenet5", num_classes=10, in_channels=1,
                                                                   input_size=32), target),
             "resume": lambda: ckpt.load_state(ckpt.latest_checkpoint(run) or target)}
    for name, call in calls.items():
        if name == "resume" and kind == "pdparams":
            continue
        with pytest.raises(PaddleCNNError, match=f"{target.name} refers to"):
            call()
        assert not marker.exists(), name
    assert not (tmp_path / "out").exists()          # export stopped before writing anything


def _image(folder):
    from PIL import Image

    path = folder / "digit.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------------- every command, as a user runs it

def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "paddlecnn", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _refused(done, target, marker):
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and target.name in errors[0] and "run code" in errors[0], done.stderr
    assert not marker.exists()


CLI_CASES = {
    "predict": lambda run, t, tmp: ("predict", run, _image(tmp)),
    "evaluate": lambda run, t, tmp: ("evaluate", run, "--subset", 8, "--out", tmp / "ev"),
    "export": lambda run, t, tmp: ("export", t, "--out", tmp / "exp"),
    "train --pretrained": lambda run, t, tmp: ("train", "--model", "lenet5", "--data", "mnist5k", "--subset", 16,
                                              "--eval-data", "none", "--epochs", 1, "--pretrained", t),
    "train --resume": lambda run, t, tmp: ("train", "--resume", run),
}
FAST = {"predict": "pdparams", "evaluate": "pdckpt", "export": "pdparams", "train --pretrained": "pdparams",
        "train --resume": "pdckpt"}


@pytest.mark.parametrize("command,kind", [
    pytest.param(c, k, marks=[] if FAST[c] == k else [pytest.mark.slow])
    for c in CLI_CASES for k in ("pdparams", "pdckpt") if not (c == "train --resume" and k == "pdparams")])
def test_cli_commands_refuse_hostile_files(tmp_path, command, kind):
    run, target, marker = hostile_run(tmp_path, kind)
    done = _cli(*CLI_CASES[command](run, target, tmp_path), cwd=tmp_path)
    _refused(done, target, marker)
    assert not (tmp_path / "exp").exists() and not (tmp_path / "ev").exists()


def test_allocation_bombs_through_allowed_names_are_refused(tmp_path):
    class Huge:
        def __reduce__(self):
            return np.ndarray, ((10 ** 12,), np.uint8)

    class HugeBytes:
        def __reduce__(self):
            return bytes, (10 ** 12,)

    for bomb in (Huge(), HugeBytes()):
        with pytest.raises(PaddleCNNError, match="refers to"):
            io.loads(pickle.dumps({"w": bomb}, protocol=4), "bomb.pdparams")
