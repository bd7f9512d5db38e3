"""Interrupted training resumes exactly; the same seed gives the same split and metrics; offline fails fast."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest

from pneumonet.data import assign_subsets, build_catalog
from pneumonet.data.download import download_with_kagglehub
from pneumonet.errors import DataUnavailableError
from pneumonet.models import build_model
from pneumonet.training import TrainConfig, train_from_scratch, train_two_phase


def _train_args(data, results, name):
    return [sys.executable, "-m", "pneumonet.cli", "train", "--data", str(data), "--backbone", "cnn", "--head",
            "flatten_dense_dropout", "--weights", "none", "--image-size", "48", "--epochs", "6", "--n-boot", "20",
            "--augment", "--results", str(results), "--name", name, "--verbose", "0"]


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_result(synthetic_root, tmp_path):
    env = {**os.environ, "PNEUMONET_CACHE": str(tmp_path / "cache")}
    results = tmp_path / "results"
    straight = subprocess.run(_train_args(synthetic_root, results, "straight"), env=env, capture_output=True,
                              text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]

    process = subprocess.Popen(_train_args(synthetic_root, results, "killed"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    state = results / "killed" / "checkpoints" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["rows"] >= 3):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # no clean-up: as a closed laptop lid or a dead Colab runtime
    process.wait()
    assert not (results / "killed" / "metrics.json").exists()
    done_before = json.loads(state.read_text())["rows"]
    assert 3 <= done_before < 6

    resumed = subprocess.run(_train_args(synthetic_root, results, "killed") + ["--resume"], env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = pd.read_csv(results / "straight" / "history.csv")
    b = pd.read_csv(results / "killed" / "history.csv")
    assert len(a) == len(b)
    np.testing.assert_allclose(a["val_auc"], b["val_auc"], atol=1e-4)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-3)
    ma = json.loads((results / "straight" / "metrics.json").read_text())
    mb = json.loads((results / "killed" / "metrics.json").read_text())
    assert ma["best_epoch"] == mb["best_epoch"]
    assert ma["test"]["roc_auc"]["value"] == pytest.approx(mb["test"]["roc_auc"]["value"], abs=1e-4)


def test_same_seed_same_split_and_metrics(synthetic_root, synthetic_arrays):
    catalog = build_catalog(synthetic_root)
    assert assign_subsets(catalog, 0.25, seed=7)["subset"].equals(assign_subsets(catalog, 0.25, seed=7)["subset"])
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(3)  # initial weights come from the seed too
        model = build_model("cnn", head="flatten_dense_dropout", image_size=48)
        result = train_from_scratch(model, train[:2], val[:2], TrainConfig(epochs_head=2, seed=3),
                                    predict={"val": val[0]}, verbose=0)
        runs.append(result.predictions["val"])
    # stated tolerance on CPU: 1e-5 in probability
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-5)


def test_resume_without_checkpoint_starts_fresh(synthetic_arrays, tmp_path):
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    model = build_model("cnn", head="flatten_dense_dropout", image_size=48)
    result = train_two_phase(model, train[:2], val[:2], TrainConfig(epochs_head=1, epochs_finetune=0),
                             run_dir=tmp_path, resume=True, verbose=0)
    assert len(result.history) == 1


def test_offline_download_fails_within_seconds(monkeypatch):
    import pneumonet.data.download as download

    # the real probe answers within its timeout, whatever the network does (TEST-NET address: never answers)
    start = time.time()
    assert download.is_online(host="192.0.2.1", timeout=2.0) is False
    assert time.time() - start < 5
    monkeypatch.setattr(download, "is_online", lambda timeout=3.0: False)
    start = time.time()
    with pytest.raises(DataUnavailableError, match="PNEUMONET_DATA"):
        download_with_kagglehub()
    assert time.time() - start < 5


class _Killed(BaseException):
    """Stands for SIGKILL inside a process: nothing after it runs, no clean-up."""


def _kill_when_state_written(monkeypatch, at_generation):
    """Kill the run just before ``state.json`` of checkpoint ``at_generation`` is written: its weight and
    optimizer files are already on disk, the state file still describes the previous checkpoint."""
    import pneumonet.training.loop as loop

    real = loop.write_json

    def write_json(path, obj):
        if path.name == "state.json" and obj["generation"] == at_generation:
            raise _Killed()
        return real(path, obj)

    monkeypatch.setattr(loop, "write_json", write_json)


def test_a_kill_inside_the_checkpoint_window_resumes_exactly(synthetic_arrays, tmp_path, monkeypatch):
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    config = TrainConfig(epochs_head=4, patience=8, seed=5)

    def run(run_dir, resume=False):
        keras.utils.set_random_seed(5)
        model = build_model("cnn", head="flatten_dense_dropout", image_size=48)
        return train_from_scratch(model, train[:2], val[:2], config, run_dir=run_dir, resume=resume, verbose=0,
                                  predict={"val": val[0]})

    straight = run(tmp_path / "straight")
    with monkeypatch.context() as patch:
        _kill_when_state_written(patch, at_generation=3)
        with pytest.raises(_Killed):
            run(tmp_path / "killed")
    state = json.loads((tmp_path / "killed" / "checkpoints" / "state.json").read_text())
    assert state["generation"] == 2  # the interrupted checkpoint never became current
    resumed = run(tmp_path / "killed", resume=True)
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(resumed.history["val_auc"], straight.history["val_auc"], atol=1e-5)
    np.testing.assert_allclose(resumed.predictions["val"], straight.predictions["val"], atol=1e-5)


def test_an_interrupted_run_is_neither_discarded_nor_resumed_with_other_arguments(synthetic_root, tmp_path,
                                                                                  monkeypatch, capsys):
    from pneumonet.cli import main

    args = ["train", "--data", str(synthetic_root), "--backbone", "cnn", "--head", "flatten_dense_dropout",
            "--weights", "none", "--image-size", "32", "--epochs", "3", "--n-boot", "10", "--results",
            str(tmp_path), "--verbose", "0"]
    with monkeypatch.context() as patch:
        _kill_when_state_written(patch, at_generation=2)
        with pytest.raises(_Killed):
            main(args)
    history = (tmp_path / "cnn" / "history.csv").read_text()
    assert main(args) == 2  # a fresh start would silently discard the interrupted run
    assert "interrupted run" in capsys.readouterr().err and (tmp_path / "cnn" / "history.csv").read_text() == history
    assert main(args + ["--resume", "--seed", "7", "--lr", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "seed: 42 -> 7" in err and "lr_head: 0.001 -> 0.01" in err and "subsets.train" in err  # a new split
    assert main(args + ["--resume"]) == 0  # the original arguments resume
    metrics = json.loads((tmp_path / "cnn" / "metrics.json").read_text())
    assert metrics["config"]["train"]["epochs_head"] == 3


def test_two_writers_of_one_run_the_second_is_refused(synthetic_root, tmp_path, capsys):
    from pneumonet.cli import main
    from pneumonet.runs import claim_run

    args = ["train", "--data", str(synthetic_root), "--backbone", "cnn", "--head", "flatten_dense_dropout",
            "--weights", "none", "--image-size", "32", "--epochs", "1", "--n-boot", "10", "--results",
            str(tmp_path), "--verbose", "0"]
    with claim_run(tmp_path / "cnn"):  # another process is training "cnn" right now
        assert main(args) == 2
        assert "another pneumonet process" in capsys.readouterr().err
        assert not (tmp_path / "cnn").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".cnn.lock").write_text(str(dead.pid))  # left behind by a killed run: taken over
    assert main(args) == 0 and (tmp_path / "cnn" / "metrics.json").exists()
    assert not (tmp_path / ".cnn.lock").exists()
    assert main(args) == 2 and "overwrite" in capsys.readouterr().err  # finished: kept without --overwrite


def test_a_kill_between_a_new_best_and_its_checkpoint_keeps_the_previous_best(tmp_path):
    # epoch 2 improves and its best weights reach the disk, then the process dies before epoch 2's state.json:
    # the run resumes from epoch 1's checkpoint, whose best is epoch 1, and must get epoch 1's weights back
    from pneumonet.training.loop import RunState

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam()
    state = RunState(model, tmp_path / "checkpoints")
    (tmp_path / "checkpoints").mkdir()
    first = [np.full_like(w, 1.0) for w in model.get_weights()]
    model.set_weights(first)
    state.record(1, {"val_auc": 0.6}, 1e-3)
    state.save(optimizer)
    model.set_weights([np.full_like(w, 2.0) for w in first])
    state.record(1, {"val_auc": 0.7}, 1e-3)  # a new best, written at once; then a kill before save()
    resumed = RunState(model, tmp_path / "checkpoints")
    assert resumed.restore() and resumed.best_epoch == 1
    assert all(np.array_equal(a, b) for a, b in zip(resumed.best_weights, first))
    # after the next checkpoint, the new best is the one a resume gets
    state.save(optimizer)
    again = RunState(model, tmp_path / "checkpoints")
    assert again.restore() and again.best_epoch == 2 and again.best_weights[0].flat[0] == 2.0
    # a checkpoint of an earlier pneumonet (one unstamped best_weights.npz, no slot in state.json) still resumes
    from pneumonet.io import read_json, write_json
    from pneumonet.training.loop import _save_arrays

    legacy = read_json(tmp_path / "checkpoints" / "state.json")
    del legacy["best_slot"]
    write_json(tmp_path / "checkpoints" / "state.json", legacy)
    _save_arrays(tmp_path / "checkpoints" / "best_weights.npz", [np.full_like(w, 3.0) for w in first])
    old = RunState(model, tmp_path / "checkpoints")
    assert old.restore() and old.best_weights[0].flat[0] == 3.0
