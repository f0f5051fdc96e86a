"""``python -m paddlecnn doctor``: names paddle's version and the device, and one line per problem."""
import paddle

from paddlecnn.cli import main


def test_doctor_names_paddle_version_and_device_and_exits_0(capsys):
    assert main(["doctor", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert f"paddle     {paddle.__version__}" in out
    assert "device     cpu" in out or "device     gpu" in out
    assert "CPU build" in out or "CUDA build" in out
    assert "no problems found" in out and "problem:" not in out


def test_doctor_reports_an_unwritable_logs_folder_and_exits_1(capsys, monkeypatch, tmp_path):
    not_a_folder = tmp_path / "logs-is-a-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("PADDLECNN_LOGS", str(not_a_folder))
    assert main(["doctor", "--no-build"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {not_a_folder} is a file, not a folder: set PADDLECNN_LOGS to a folder" in out
    assert "1 problem(s) found" in out
