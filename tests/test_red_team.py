"""The red team's findings of 2026-12-02, each a test: runs are never mixed or taken over, damaged inputs (models,
metadata, caches, result files) are named on one line or skipped, and nonsense is refused before any work."""

import json
import os
import shutil
import signal
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pneumonet.cli import main
from pneumonet.errors import DataLayoutError, ModelFileError, TrainingDiverged
from pneumonet.io import write_json
from pneumonet.models import build_model, load_model, read_metadata, save_model
from pneumonet.runs import CHECKPOINTS, METRICS, MODEL, new_run_dir


@pytest.mark.parametrize("name", ["", ".", "..", "../elsewhere", "a/b"])
def test_a_run_name_is_one_folder_inside_the_results(tmp_path, name):
    with pytest.raises(ValueError, match="one folder name"):
        new_run_dir(tmp_path / "results", name)
    assert not (tmp_path / "results").exists() and not (tmp_path / "elsewhere").exists()


def test_an_interrupted_training_run_is_not_taken_over_by_another_writer(tmp_path):
    write_json(tmp_path / "run" / CHECKPOINTS / "state.json", {"rows": []})
    with pytest.raises(FileExistsError, match="interrupted training run"):
        new_run_dir(tmp_path, "run")  # a stack or an ensemble of that name
    assert new_run_dir(tmp_path, "run", allow_interrupted=True) == tmp_path / "run"  # training itself decides


def test_replacing_a_run_starts_from_none_of_the_old_runs_files(tmp_path):
    old = new_run_dir(tmp_path, "run")
    for name in (METRICS, "predictions.csv", MODEL, "MODEL_CARD.md", "figures/evaluation.png"):
        (old / name).write_text("old")
    (old / CHECKPOINTS).mkdir()
    (old / CHECKPOINTS / "kept.npz").write_text("the new run's own")
    new_run_dir(tmp_path, "run", overwrite=True)
    # an interrupted replacement leaves its own partial run (resumable), never old results beside new history
    assert sorted(p.relative_to(old).as_posix() for p in old.rglob("*")) == ["checkpoints", "checkpoints/kept.npz",
                                                                             "figures"]


def _with_metadata(tmp_path, name, metadata):
    path = tmp_path / f"{name}.keras"
    save_model(build_model("cnn", head="flatten_dense_dropout", image_size=32), path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "tmp.keras", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, json.dumps(metadata) if item.filename == "pneumonet.json" else data)
    (tmp_path / "tmp.keras").replace(path)
    return path


@pytest.mark.parametrize("metadata, named", [([1, 2], "a list"), ({"threshold": "x"}, "threshold='x'"),
                                             ({"threshold": 7}, "threshold=7"),
                                             ({"image_size": [0, 32]}, "image_size=[0, 32]")])
def test_hand_edited_metadata_is_one_named_error(tmp_path, metadata, named):
    path = _with_metadata(tmp_path, "edited", metadata)
    with pytest.raises(ModelFileError, match="edited.keras") as info:
        read_metadata(path)
    assert named in str(info.value)


def test_a_damaged_metadata_entry_is_one_named_error(tmp_path):
    path = tmp_path / "model.keras"
    save_model(build_model("cnn", head="flatten_dense_dropout", image_size=32), path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("pneumonet.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start] ^= 0xFF  # one flipped byte: a bad CRC-32
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="model.keras: its pneumonet.json cannot be read"):
        read_metadata(path)


def test_a_model_that_does_not_read_gray_images_is_refused(tmp_path):
    rgb = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    rgb.save(tmp_path / "rgb.keras")
    with pytest.raises(ModelFileError, match="rgb.keras reads inputs of shape"):
        load_model(tmp_path / "rgb.keras")


def test_training_that_diverges_stops_at_once_and_names_the_learning_rate(synthetic_arrays):
    from pneumonet.training import TrainConfig, train_from_scratch

    model = build_model("cnn", head="flatten_dense_dropout", image_size=48)
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    with pytest.raises(TrainingDiverged, match=r"phase 1, epoch 1 .*lr_head=1e\+30; --lr on the command line"):
        train_from_scratch(model, train[:2], val[:2], TrainConfig(epochs_head=3, lr_head=1e30), verbose=0)


def test_a_damaged_image_cache_is_decoded_again(synthetic_catalog, tmp_path):
    from pneumonet.pipelines.cache import cached_images

    paths = list(synthetic_catalog["path"][:6])
    images, _ = cached_images(paths, (32, 32), cache_dir=tmp_path)
    for cut in (100, 0):  # truncated, then empty, as a full disk leaves it
        for array in tmp_path.glob("*.npy"):
            array.write_bytes(array.read_bytes()[:cut])
        again, errors = cached_images(paths, (32, 32), cache_dir=tmp_path)
        np.testing.assert_array_equal(again, images)
        assert errors == {}


def test_a_catalog_that_cannot_be_scored_is_refused_before_training(synthetic_catalog, tmp_path):
    from pneumonet.experiment import Experiment, run_experiment

    no_test = synthetic_catalog[synthetic_catalog["subset"] != "test"]
    experiment = Experiment("tiny", "cnn", weights=None, image_size=32)
    with pytest.raises(DataLayoutError, match="the test subset has 0 readable NORMAL and 0 PNEUMONIA"):
        run_experiment(experiment, no_test, tmp_path, verbose=0)
    assert not (tmp_path / "tiny" / CHECKPOINTS).exists()  # refused before anything was trained


def test_one_damaged_model_does_not_stop_the_shift_benchmark(synthetic_catalog, tmp_path):
    from pneumonet.experiment import Experiment, run_experiment
    from pneumonet.robustness import run_shift_benchmark
    from pneumonet.training import TrainConfig

    run_experiment(Experiment("good", "cnn", weights=None, image_size=32, train=TrainConfig(epochs_head=1)),
                   synthetic_catalog, tmp_path, n_boot=10, verbose=0)
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    (tmp_path / "bad" / MODEL).write_text("not a model")
    said = []
    frame, summary = run_shift_benchmark(tmp_path, synthetic_catalog, n_per_split=8, severities=(1,), log=said.append)
    assert set(frame["run"]) == {"good"} and any("skipped bad" in line for line in said)


def test_a_metrics_file_without_the_test_figures_is_skipped_and_named(tmp_path):
    from pneumonet.runs import load_runs

    good = {"run": "good", "threshold": 0.5, "test_at_0.5": {},
            "test": {"_meta": {"threshold": 0.5}, **{k: {"value": 0.9} for k in
                                                     ("roc_auc", "accuracy", "sensitivity", "specificity")}}}
    write_json(tmp_path / "good" / METRICS, good)
    write_json(tmp_path / "no_auc" / METRICS, {**good, "test": {"_meta": {"threshold": 0.5}}})
    write_json(tmp_path / "text" / METRICS, {**good, "threshold": "x"})
    skipped = {}
    assert list(load_runs(tmp_path, skipped=skipped)) == ["good"]
    assert len(skipped) == 2


def test_the_command_line_refuses_to_write_into_what_exists(synthetic_root, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("keep")
    assert main(["data", "--synthetic", str(taken)]) == 2
    assert "--synthetic" in capsys.readouterr().err and sorted(p.name for p in taken.iterdir()) == ["keep.txt"]
    output = tmp_path / "catalog.csv"
    output.write_text("keep")
    assert main(["data", "--data", str(synthetic_root), "--output", str(output)]) == 2
    assert "--overwrite" in capsys.readouterr().err and output.read_text() == "keep"


@pytest.mark.parametrize("args, named", [(["train", "--lr", "nan"], "--lr"), (["train", "--lr", "inf"], "--lr"),
                                         (["train", "--seed", "-1"], "--seed"),
                                         (["train", "--image-size", "100000"], "--image-size"),
                                         (["run", "--backbones", "foo"], "--backbones")])
def test_non_finite_and_unknown_values_are_refused_by_the_parser(args, named, capsys):
    with pytest.raises(SystemExit) as done:
        main([*args, "--backbone", "cnn"] if args[0] == "train" else args)
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and named in err[0]


def test_a_file_where_a_folder_is_expected_and_the_reverse_are_named_as_such(tmp_path):
    from pneumonet.data import resolve_data_dir
    from pneumonet.errors import DataUnavailableError

    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(DataUnavailableError, match="is a file, not a folder: .*afile"):
        resolve_data_dir(afile)
    with pytest.raises(ModelFileError, match="is a folder; name the model file in it"):
        load_model(tmp_path)


def test_ensembles_and_tta_runs_replace_a_run_only_when_asked(tmp_path):
    from pneumonet.evaluation.ensemble import write_ensemble
    from pneumonet.tta import write_tta_run

    write_json(tmp_path / "densenet121" / METRICS, {"run": "densenet121"})
    before = (tmp_path / "densenet121" / METRICS).read_bytes()
    with pytest.raises(FileExistsError, match="densenet121 already holds a finished run"):
        write_ensemble(tmp_path, ["a", "b"], name="densenet121")  # refused before reading any member
    write_json(tmp_path / "a_tta" / METRICS, {"run": "a_tta"})
    with pytest.raises(FileExistsError, match="a_tta already holds a finished run"):
        write_tta_run(tmp_path, "a", catalog=None)
    assert (tmp_path / "densenet121" / METRICS).read_bytes() == before


def test_a_validation_subset_with_one_class_is_refused(synthetic_catalog, tmp_path):
    from pneumonet.experiment import check_subsets

    one_class = synthetic_catalog[~((synthetic_catalog["subset"] == "val") & (synthetic_catalog["label"] == 0))]
    with pytest.raises(DataLayoutError, match="the val subset has 0 readable NORMAL .* carved out of it"):
        check_subsets(one_class)
    check_subsets(synthetic_catalog)  # the full catalog passes


def test_a_benchmark_with_no_loadable_model_says_so(synthetic_catalog, tmp_path):
    from pneumonet.robustness import run_shift_benchmark

    for name in ("x", "y"):
        write_json(tmp_path / name / METRICS, {"run": name})
        (tmp_path / name / MODEL).write_text("not a model")
    with pytest.raises(ModelFileError, match="no model under .* could be loaded: x, y"):
        run_shift_benchmark(tmp_path, synthetic_catalog, n_per_split=8, severities=(1,), log=lambda line: None)
    assert not (tmp_path / "robustness.csv").exists()


def test_a_smoke_job_never_takes_the_place_of_real_results(synthetic_root, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    from pneumonet.data.synthetic import SYNTHETIC_MARKER
    from pneumonet.runner import main_job

    def executed(source, output, **kwargs):  # the notebooks' work is not what is tested here
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", executed)
    real_looking = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, real_looking)
    (real_looking / SYNTHETIC_MARKER).unlink()
    committed = tmp_path / "results" / "main"
    write_json(committed / "summary.json", {"real": True})
    said = []
    results, _ = main_job(real_looking, committed, {"smoke": True}, overwrite=True, log=said.append)
    assert results == committed / "smoke" and (results / "timings.json").exists()
    assert json.loads((committed / "summary.json").read_text()) == {"real": True}
    assert any("SMOKE run" in line for line in said)


# -- the red team's findings of 2026-12-03 ------------------------------------------------------------------------

def test_an_image_whose_file_name_is_not_utf8_is_skipped_and_counted(synthetic_root, tmp_path, capsys):
    from pneumonet.data import build_catalog

    root = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, root)
    folder = root / "train" / "NORMAL"
    try:  # bytes that no UTF-8 text holds, as a Windows-1252 or Latin-1 copy may leave them
        shutil.copyfile(next(folder.iterdir()), os.path.join(os.fsencode(folder), b"\xff\xfe.jpeg"))
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    catalog = build_catalog(root)
    assert len(catalog) == len(build_catalog(synthetic_root))  # left out of the catalog
    named = f"{folder}/\\xff\\xfe.jpeg"  # printable, naming its folder
    assert catalog.attrs["unreadable"] == {named: "file name is not valid UTF-8; rename the file to use it"}

    assert main(["data", "--data", str(root), "--output", str(tmp_path / "catalog.csv")]) == 0
    out = capsys.readouterr().out
    assert "unreadable: 1," in out and f"  unreadable {named}: file name is not valid UTF-8" in out
    results = tmp_path / "results"
    assert main(["train", "--data", str(root), "--backbone", "cnn", "--head", "flatten_dense_dropout", "--weights",
                 "none", "--image-size", "32", "--epochs", "1", "--n-boot", "10", "--results", str(results),
                 "--verbose", "0"]) == 0  # the run goes on
    err = capsys.readouterr().err
    assert f"pneumonet train: skipped {named}: file name is not valid UTF-8; rename the file to use it\n" in err
    assert json.loads((results / "cnn" / METRICS).read_text())["unreadable_skipped"] == 1


@pytest.mark.parametrize("args, named, received", [
    (["classical", "--n-jobs", "0"], "--n-jobs", "must be a positive number or -1 for all cores, got 0"),
    (["classical", "--folds", "1"], "--folds", "got 1"),
    (["stack", "--members", "a", "b", "--folds", "0"], "--folds", "got 0"),
    (["train", "--backbone", "cnn", "--n-boot", "100001"], "--n-boot", "got 100001"),
    (["classical", "--n-boot", "100001"], "--n-boot", "got 100001"),
    (["run", "--n-boot", "1000000"], "--n-boot", "got 1000000"),
    (["train", "--backbone", "cnn", "--views", "65"], "--views", "got 65"),
    (["data", "--synthetic-size", "4097"], "--synthetic-size", "got 4097")])
def test_counts_and_sizes_beyond_sense_are_refused_by_the_parser_echoing_the_value(args, named, received, capsys):
    missing = ["--data", "no/such/folder"] if args[0] != "stack" else []  # should the parser let it pass: no work
    with pytest.raises(SystemExit) as done:
        main([*args, *missing])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and f"argument {named}: " in err[0] and received in err[0]


def test_the_bounds_leave_every_sensible_value(tmp_path):
    from pneumonet.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["classical", "--n-jobs", "-1", "--folds", "2", "--n-boot", "100000"]).n_jobs == -1
    assert parse(["classical", "--n-jobs", "16"]).n_jobs == 16
    assert parse(["train", "--backbone", "cnn", "--views", "64"]).views == 64
    assert parse(["data", "--synthetic-size", "4096"]).synthetic_size == 4096
    assert parse(["train", "--backbone", "cnn", "--results", str(tmp_path / "new" / "deeper")]).results == str(
        tmp_path / "new" / "deeper")  # a folder that does not exist yet is fine


@pytest.mark.parametrize("args", [["train", "--backbone", "cnn", "--results"], ["run", "--results"],
                                  ["classical", "--results"], ["search", "--backbone", "cnn", "--results"],
                                  ["stack", "--members", "a", "b", "--results"], ["evaluate", "--results"],
                                  ["robustness", "--results"], ["train", "--backbone", "cnn", "--cache-dir"],
                                  ["run", "--cache-dir"]])
def test_a_file_given_as_an_output_folder_is_named_before_any_work(args, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    missing = ["--data", str(tmp_path / "missing")] if args[0] not in ("stack", "evaluate") else []  # no work
    for target in (afile, afile / "sub"):
        with pytest.raises(SystemExit) as done:
            main([*args, str(target), *missing])
        err = capsys.readouterr().err.strip().splitlines()
        assert done.value.code == 2 and len(err) == 1
        assert f"argument {args[-1]}: is a file, not a folder: {afile} " in err[0]
    assert afile.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_more_folds_than_patients_is_one_line_naming_folds_before_the_features(synthetic_root, tmp_path, capsys):
    from pneumonet.data import patient_groups, subset
    from pneumonet.experiment import prepare_catalog
    from pneumonet.io import write_csv

    train = subset(prepare_catalog(synthetic_root, val_fraction=0.2, seed=42, progress=False), "train")
    patients = len(np.unique(patient_groups(train)))
    assert main(["classical", "--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none",
                 "--image-size", "32", "--folds", str(patients + 1), "--results", str(tmp_path / "classical"),
                 "--cache-dir", str(tmp_path / "cache")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"pneumonet classical: --folds {patients + 1}: more folds than the {patients} patients of the training "
        f"split; use at most {patients}")
    assert not (tmp_path / "cache").exists()  # refused before any image was decoded or any feature computed

    frame = pd.DataFrame({"path": [f"{s}/{i}.jpeg" for s in ("val", "test") for i in range(20)],
                          "label": [i % 2 for _ in range(2) for i in range(20)],
                          "patient_id": [f"{s}{i // 2}" for s in ("val", "test") for i in range(20)],
                          "subset": ["val"] * 20 + ["test"] * 20})
    for member, seed in (("a", 0), ("b", 1)):
        write_csv(tmp_path / member / "predictions.csv", frame.assign(prob=np.random.default_rng(seed).random(40)))
        write_json(tmp_path / member / METRICS, {"run": member})
    assert main(["stack", "--results", str(tmp_path), "--members", "a", "b", "--folds", "11"]) == 2
    assert capsys.readouterr().err.strip() == ("pneumonet stack: --folds 11: more folds than the 10 patients of the "
                                               "validation split; use at most 10")
    assert not (tmp_path / "stack").exists()


def _terminate_this_process(*args, **kwargs):
    """Stands for ``kill PID`` (SIGTERM) arriving while a command works."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # interrupted by the handler at once; reached only when SIGTERM was not taken as Ctrl-C


@pytest.mark.parametrize("command", ["run", "train"])
def test_sigterm_takes_the_path_of_ctrl_c(command, synthetic_root, tmp_path, monkeypatch, capsys):
    papermill = pytest.importorskip("papermill")
    import pneumonet.experiment

    monkeypatch.setattr(papermill, "execute_notebook", _terminate_this_process)  # in the first notebook
    monkeypatch.setattr(pneumonet.experiment, "_run_claimed", _terminate_this_process)  # in training
    results = tmp_path / "results"
    args = {"run": ["run", "--data", str(synthetic_root), "--results", str(results)],
            "train": ["train", "--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none",
                      "--results", str(results)]}[command]
    received = []

    def guard(signum, frame):  # should the command not take SIGTERM itself, pytest lives on and the test fails
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, guard)
    try:
        status = main(args)
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert status == 130 and received == [] and after is guard  # the command's own handler, then the earlier one
    err = capsys.readouterr().err.strip().splitlines()
    assert "(SIGTERM)" in err[-1] and "interrupted" in err[-1] and not any("Traceback" in line for line in err)
    left = [p.name for p in results.rglob("*")]
    assert not any(".partial-" in name or name.endswith(".lock") for name in left)  # as after Ctrl-C
    if command == "run":  # the job's partial output kept for inspection, as Ctrl-C keeps it
        assert err[-1].startswith("pneumonet run: notebook 01_data_exploration was interrupted (SIGTERM)")
        assert [p.name.split("-")[0] for p in results.iterdir()] == ["demo.failed"]


def test_errors_name_the_users_file_not_the_hidden_temporary_one(synthetic_root, tmp_path, monkeypatch, capsys):
    from pneumonet.io import write_csv
    from pneumonet.runs import claim_run

    taken = tmp_path / "catalog.csv"
    taken.mkdir()  # a folder where the file goes
    with pytest.raises(IsADirectoryError) as info:
        write_csv(taken, pd.DataFrame({"a": [1]}))
    assert str(info.value).endswith(f": '{taken}'") and ".catalog.csv." not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.csv"]  # and the temporary file is gone
    assert main(["data", "--data", str(synthetic_root), "--output", str(taken), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"pneumonet data: [Errno 21] Is a directory: '{taken}'"

    real_open = os.open

    def unwritable(path, *args, **kwargs):  # a results folder this user may not write in (root may write anywhere)
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", unwritable)
    with pytest.raises(PermissionError) as info:
        with claim_run(tmp_path / "run"):
            pass
    assert str(info.value) == f"[Errno 13] Permission denied: '{tmp_path / 'run'}'"


def test_a_finished_run_keeps_its_model_and_metrics_and_drops_its_checkpoints(synthetic_catalog, tmp_path):
    from pneumonet.experiment import Experiment, run_experiment
    from pneumonet.runs import FINISHED, HISTORY, finish_run
    from pneumonet.training import TrainConfig

    run_experiment(Experiment("tiny", "cnn", head="flatten_dense_dropout", weights=None, image_size=32,
                              train=TrainConfig(epochs_head=2)), synthetic_catalog, tmp_path, n_boot=10, verbose=0)
    run = tmp_path / "tiny"
    assert all((run / entry).exists() for entry in (*FINISHED, HISTORY)) and not (run / CHECKPOINTS).exists()
    assert len(pd.read_csv(run / HISTORY)) == 2 and load_model(run / MODEL)[1]["run"] == "tiny"

    # an unfinished run (no model.keras yet: killed during the evaluation) keeps what resuming needs
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished, ignore=shutil.ignore_patterns(MODEL))
    write_json(unfinished / CHECKPOINTS / "state.json", {"rows": 2})
    finish_run(unfinished)
    assert (unfinished / CHECKPOINTS / "state.json").exists()
    shutil.copy(run / MODEL, unfinished / MODEL)
    finish_run(unfinished)
    assert not (unfinished / CHECKPOINTS).exists() and (unfinished / MODEL).exists()
