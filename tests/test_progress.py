import json
import os

import pytest

from pneumonet.progress import NotebookProgress, duration, time_left
from pneumonet.runner import earlier_timings
from pneumonet.training.loop import epoch_line


def test_notebook_progress_passes_progress_lines_only_even_when_split():
    lines = []
    sink = NotebookProgress(lines.append, "[run] 03")
    sink.write("== model 1/2 densenet121: densenet121, gap, 224 px\nsome table row\nphase 1 ep")
    sink.write("och 1/6: loss 0.5\n   unrelated\nphase 1 epoch 2/6: loss 0.4")  # the last line is not complete yet
    assert lines == ["[run] 03 == model 1/2 densenet121: densenet121, gap, 224 px",
                     "[run] 03 phase 1 epoch 1/6: loss 0.5"]


def test_time_left_and_durations():
    assert time_left(0.0, 0, 5) is None
    assert time_left(30.0, 2, 5) == 45.0  # three more steps at 15 s each
    assert duration(45) == "45 s" and duration(600) == "10 min"


def test_epoch_line_estimates_the_rest_of_the_phase():
    line = epoch_line(2, 2, 5, {"loss": 0.5, "val_loss": 0.4, "val_auc": 0.9}, 1e-5, [100.0, 140.0])
    assert line.startswith("phase 2 epoch 2/5:") and "140 s" in line and "phase ETA 6 min" in line  # 3 x 120 s


def test_earlier_timings_takes_the_latest_job_with_the_same_smoke_setting(tmp_path):
    def job(name, smoke, seconds, mtime, data="/demo"):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        path = folder / "timings.json"
        path.write_text(json.dumps({"notebooks": {"01": seconds}, "parameters": {"smoke": smoke, "data_dir": data}}))
        os.utime(path, (mtime, mtime))

    job("main-1", False, 100, 1_000)
    job("main-2", False, 200, 2_000)
    job("demo-1", True, 5, 3_000)
    job("smoke-1", True, 30, 2_500, data="/real")
    assert earlier_timings(False, roots=[tmp_path / "runs"]) == {"01": 200}
    assert earlier_timings(True, roots=[tmp_path / "runs"]) == {"01": 5}
    assert earlier_timings(True, roots=[tmp_path / "nothing"]) == {}
    # a smoke run on real data is estimated from the last one on that folder, not from the later demo
    assert earlier_timings(True, "/real", roots=[tmp_path / "runs"]) == {"01": 30}
    assert earlier_timings(True, "/elsewhere", roots=[tmp_path / "runs"]) == {}
    assert earlier_timings(False, None, roots=[tmp_path / "runs"]) == {"01": 200}  # a real job: any earlier one


def test_a_killed_notebook_kernel_ends_in_one_line():
    pytest.importorskip("nbclient")
    from nbclient.exceptions import DeadKernelError

    from pneumonet.runner import NotebookFailed

    failed = NotebookFailed("03_transfer_learning", DeadKernelError("Kernel died"))
    failed.where = "runs/.main.partial-x"
    assert str(failed) == ("notebook 03_transfer_learning: its kernel died (killed, or out of memory) (executed "
                           "notebooks kept in runs/.main.partial-x)")


def test_ctrl_c_ends_the_main_job_in_one_line_and_keeps_its_partial_folder(synthetic_root, tmp_path, monkeypatch,
                                                                           capsys):
    papermill = pytest.importorskip("papermill")
    from pneumonet.cli import main

    def interrupted(source, output, **kwargs):  # Ctrl-C while the second notebook runs
        if "02_" in source:
            raise KeyboardInterrupt
        os.makedirs(os.path.dirname(output), exist_ok=True)
        open(output, "w").close()

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    final = tmp_path / "results"
    assert main(["run", "--data", str(synthetic_root), "--results", str(final)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pneumonet run: notebook 02_cnn_baseline was interrupted (Ctrl-C)")
    # synthetic data: the job's folder is results/demo, and its partial output stays beside it
    kept = [p for p in final.iterdir() if p.name.startswith("demo.failed-")]
    assert len(kept) == 1 and str(kept[0]) in err[0]
    assert (kept[0] / "notebooks" / "01_data_exploration.ipynb").exists() and not (final / "demo").exists()


def test_ctrl_c_in_any_other_command_is_one_line(monkeypatch, capsys):
    import pneumonet.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_export", interrupted)
    assert cli.main(["export", "--model", "runs/x/model.keras"]) == 130
    assert capsys.readouterr().err.strip() == "pneumonet export: interrupted"
