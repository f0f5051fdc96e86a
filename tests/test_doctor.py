"""``python -m paddlecnn doctor``: names paddle's build, the device, versions and folders, one line per problem.

The CUDA cases are simulated: paddle's answers (``is_compiled_with_cuda``, CUDA and cuDNN versions, GPU
count) and pip's record of installed wheels are monkeypatched, so these run on the CPU machine.
"""
import paddle
import pytest

import paddlecnn.runtime
from paddlecnn.cli import doctor, main


def test_doctor_names_paddle_version_and_device_and_exits_0(capsys):
    assert main(["doctor", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert f"paddle     {paddle.__version__}" in out
    assert "device     cpu" in out or "device     gpu" in out
    assert "CPU build" in out or "CUDA build" in out
    for name in ("paddlecnn", "python", "numpy", "matplotlib", "visualdl", "threads", "cuDNN", "data", "logs"):
        assert name in out, name
    assert "no problems found" in out and "problem:" not in out


def test_doctor_reports_an_unwritable_logs_folder_and_exits_1(capsys, monkeypatch, tmp_path):
    not_a_folder = tmp_path / "logs-is-a-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("PADDLECNN_LOGS", str(not_a_folder))
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {not_a_folder} is a file, not a folder: set PADDLECNN_LOGS to a folder" in out
    assert "1 problem(s) found" in out


@pytest.mark.parametrize("number, text", [(7605, "7.6.5"), (8906, "8.9.6"), (90100, "9.1.0"), (90300, "9.3.0"),
                                          (None, "none found"), (0, "none found")])
def test_cudnn_numbers_read_as_versions(number, text):
    assert doctor.cudnn_text(number) == text


def _simulate(monkeypatch, cuda=True, gpus=1, cudnn=90100, wheels=None, nvidia=False):
    """paddle answers as a CUDA (or CPU) build would; pip records ``wheels`` {name: version}."""
    wheels = {"paddlepaddle-gpu": "3.3.1"} if wheels is None else wheels
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: cuda)
    monkeypatch.setattr(paddle.version, "cuda", lambda: "12.6" if cuda else "False")
    monkeypatch.setattr(paddle, "get_cudnn_version", lambda: cudnn if cuda else None)
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(paddle.device.cuda, "get_device_name", lambda i=0: f"Tesla V100-SXM2-32GB #{i}")
    monkeypatch.setattr(paddlecnn.runtime, "get_device", lambda device=None: "gpu" if cuda and gpus else "cpu")
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed",
                        lambda name: wheels.get(name) if name.startswith("paddlepaddle") else real(name))
    monkeypatch.setattr(doctor, "_nvidia_gpu_present", lambda: nvidia)


def test_a_working_cuda_build_reports_cuda_cudnn_and_the_gpu(capsys, monkeypatch):
    _simulate(monkeypatch)
    assert main(["doctor", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "(CUDA build; installed: paddlepaddle-gpu 3.3.1)" in out
    assert "CUDA       12.6" in out and "cuDNN      9.1.0" in out
    assert "GPUs       1 (Tesla V100-SXM2-32GB #0)" in out
    assert "device     gpu" in out and "no problems found" in out


def test_a_cuda_build_without_cudnn_says_what_to_do(capsys, monkeypatch):
    _simulate(monkeypatch, cudnn=None)
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert "cuDNN      none found" in out
    assert "problem: this CUDA build of paddle finds no cuDNN" in out and "--device cpu" in out


def test_a_cuda_build_without_a_visible_gpu_says_what_to_do(capsys, monkeypatch):
    _simulate(monkeypatch, gpus=0)
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert "GPUs       0" in out and "device     cpu" in out
    assert "problem: paddlepaddle-gpu installed but no GPU visible: check `nvidia-smi`" in out


def test_the_cpu_wheel_installed_over_the_gpu_one_is_a_problem(capsys, monkeypatch):
    """What `pip install -r requirements.txt` does on a service that ships paddlepaddle-gpu."""
    _simulate(monkeypatch, cuda=False, wheels={"paddlepaddle": "3.3.1", "paddlepaddle-gpu": "3.0.0"}, nvidia=True)
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert "installed: paddlepaddle 3.3.1, paddlepaddle-gpu 3.0.0" in out
    assert "problem: both paddlepaddle (CPU) and paddlepaddle-gpu are installed" in out
    assert "pip install --force-reinstall --no-deps paddlepaddle-gpu==3.0.0" in out
    assert "problem: this machine has an NVIDIA GPU but paddle is the CPU build" in out
    assert "2 problem(s) found" in out


def test_the_cpu_build_on_a_cpu_machine_is_fine(capsys, monkeypatch):
    _simulate(monkeypatch, cuda=False, wheels={"paddlepaddle": "3.3.1"}, nvidia=False)
    assert main(["doctor", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "(CPU build; installed: paddlepaddle 3.3.1)" in out and "cuDNN      - (CPU build)" in out


def test_paddle_2_is_a_problem(capsys, monkeypatch):
    _simulate(monkeypatch, cuda=False, wheels={"paddlepaddle": "2.6.2"})
    monkeypatch.setattr(paddle, "__version__", "2.6.2")
    assert main(["doctor", "--no-build"]) == 1
    assert "problem: paddle 2.6.2 found; paddlecnn needs paddle 3.x" in capsys.readouterr().out


def test_a_missing_visualdl_is_a_problem_with_the_install_command(capsys, monkeypatch):
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda name: None if name == "visualdl" else real(name))
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert "visualdl   missing" in out
    assert "problem: visualdl is not installed, so runs write no curves for VisualDL: pip install -r " \
           "requirements-nopaddle.txt" in out
