"""The command line end to end on synthetic data."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from pneumonet.cli import main

pytestmark = pytest.mark.slow


def test_help_everywhere(capsys):
    result = subprocess.run([sys.executable, "-m", "pneumonet.cli", "--help"], capture_output=True, text=True,
                            timeout=120)  # the module runs as a program
    assert result.returncode == 0 and "usage: pneumonet" in result.stdout
    for command in ("data", "train", "evaluate", "robustness", "predict", "run", "demo", "export", "classical",
                    "search", "stack"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0 and f"usage: pneumonet {command}" in capsys.readouterr().out


def test_data_train_evaluate_predict(tmp_path, capsys):
    data = tmp_path / "chest_xray"
    assert main(["data", "--synthetic", str(data), "--synthetic-size", "48"]) == 0
    assert main(["data", "--data", str(data), "--output", str(tmp_path / "catalog.csv")]) == 0
    catalog = pd.read_csv(tmp_path / "catalog.csv")
    assert set(catalog["subset"]) == {"train", "val", "test", "official_val"}
    results = tmp_path / "results"
    args = ["train", "--data", str(data), "--backbone", "cnn", "--head", "flatten_dense_dropout", "--weights",
            "none", "--image-size", "48", "--epochs", "2", "--n-boot", "20", "--results", str(results)]
    assert main(args) == 0
    metrics = json.loads((results / "cnn" / "metrics.json").read_text())
    assert metrics["threshold_chosen_on"] == "val" and "roc_auc" in metrics["test"]
    assert main(args) == 2  # a second run with the same name is refused, the first is kept
    assert "overwrite" in capsys.readouterr().err
    assert main(["evaluate", "--results", str(results)]) == 0
    assert (results / "summary.md").exists()
    assert main(["robustness", "--data", str(data), "--results", str(results), "--n-images", "8",
                 "--severities", "1"]) == 0
    shifts = pd.read_csv(results / "robustness.csv")
    assert len(shifts) == 2 * (1 + 11) and set(shifts["split"]) == {"val", "test"}  # clean + 11 shifts, 2 splits
    assert (results / "robustness_val.png").exists() and "robust" in capsys.readouterr().out
    before = (results / "robustness.csv").read_bytes()  # minutes of work: replaced only with --overwrite
    assert main(["robustness", "--data", str(data), "--results", str(results), "--n-images", "8",
                 "--severities", "1", "--runs", "cnn"]) == 2
    assert "--overwrite" in capsys.readouterr().err and (results / "robustness.csv").read_bytes() == before
    image = catalog.loc[catalog.subset == "test", "path"].iloc[0]
    capsys.readouterr()
    assert main(["predict", image, "--model", str(results / "cnn" / "model.keras")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["threshold"] == pytest.approx(metrics["threshold"], abs=1e-4)
    assert line["decision"] in ("NORMAL", "PNEUMONIA")

    # a symlink loop among the images: named on one line, the good image still gets its result
    loop = tmp_path / "loop.jpeg"
    loop.symlink_to(loop)
    assert main(["predict", str(loop), image, "--model", str(results / "cnn" / "model.keras")]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["image"] == image
    assert str(loop) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

    # red-team findings: each ends in one line naming the argument, and nothing is replaced without --overwrite
    model = str(results / "cnn" / "model.keras")
    cam = tmp_path / "cam.png"
    cam.write_bytes(b"earlier figure")
    assert main(["predict", image, "--model", model, "--gradcam", str(cam)]) == 2
    assert "--gradcam" in capsys.readouterr().err and cam.read_bytes() == b"earlier figure"
    with pytest.raises(SystemExit):
        main(["predict", image, "--model", model, "--threshold", "2"])
    assert "--threshold: must be in [0, 1]" in capsys.readouterr().err
    assert main(["stack", "--results", str(results), "--members", "cnn", "nosuch"]) == 2
    assert "--members nosuch" in capsys.readouterr().err
    assert main(["stack", "--results", str(results), "--members", "cnn", "cnn2", "--name", "cnn"]) == 2
    assert "--name cnn is one of --members" in capsys.readouterr().err
    assert main(["demo", "--model", str(tmp_path / "catalog.csv")]) == 2  # not a Keras archive: refused first
    assert "catalog.csv" in capsys.readouterr().err

    # integrity: metrics.json records the model's hash; a model changed afterwards is flagged by predict
    from pneumonet.models import file_sha256, update_metadata

    model_file = results / "cnn" / "model.keras"
    assert metrics["model_sha256"] == file_sha256(model_file)
    update_metadata(model_file, threshold=0.01)  # altered inside a valid archive
    assert main(["predict", image, "--model", str(model_file)]) == 0
    assert "does not match" in capsys.readouterr().err

    # one bad metrics.json never blocks the summary of the others, and is named
    for name, text in (("truncated", '{"run": "x", "test": {'), ("empty", ""), ("keyless", '{"run": "k"}')):
        (results / name).mkdir()
        (results / name / "metrics.json").write_text(text)
    assert main(["evaluate", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    assert "cnn" in out and all(f"{name}/metrics.json" in err for name in ("truncated", "empty", "keyless"))


@pytest.mark.parametrize("pipeline, keep", [("fast", 40), pytest.param("classic", 0.5, marks=pytest.mark.tensorflow)])
def test_unreadable_files_are_skipped_named_and_counted_once(synthetic_root, tmp_path, capsys, pipeline, keep):
    import shutil

    data = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, data)
    victim = sorted((data / "train" / "NORMAL").iterdir())[0]
    raw = victim.read_bytes()
    victim.write_bytes(raw[:keep] if isinstance(keep, int) else raw[: int(len(raw) * keep)])  # header cut / body cut
    args = ["train", "--data", str(data), "--backbone", "cnn", "--head", "flatten_dense_dropout", "--weights", "none",
            "--image-size", "32", "--epochs", "1", "--n-boot", "10", "--results", str(tmp_path / "runs"),
            "--pipeline", pipeline]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "runs" / "cnn" / "metrics.json").read_text())
    assert metrics["unreadable_skipped"] == 1
    assert f"skipped {victim}" in capsys.readouterr().err


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("args, named", [(["--backbone", "foonet"], "--backbone"), (["--head", "nohead"], "--head"),
                                         (["--epochs", "-1"], "--epochs"), (["--epochs", "0"], "--epochs"),
                                         (["--views", "-2"], "--views"), (["--image-size", "0"], "--image-size"),
                                         (["--n-boot", "0"], "--n-boot"), (["--lr", "-1"], "--lr"),
                                         (["--batch-size", "0"], "--batch-size"),
                                         (["--val-fraction", "1.5"], "--val-fraction"),
                                         (["--image-size", "24", "--backbone", "vgg16"], "Received: --image-size 24"),
                                         (["--devices", "9"], "Received: --devices 9"),
                                         (["--border", "0.3"], "--border")])
def test_bad_train_arguments_end_in_one_line(synthetic_root, tmp_path, capsys, args, named):
    argv = ["train", "--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none", "--image-size", "32",
            "--results", str(tmp_path), *args]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: the bad choice is named with the allowed values
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and named in err[0]  # one line, no usage block, in the CLI's spelling
    assert not any(tmp_path.iterdir())  # nothing half-written: no run folder was started


def test_shared_options_mean_the_same_in_every_command():
    from pneumonet.cli import build_parser

    parser = build_parser()
    for command in (["train", "--backbone", "cnn"], ["classical"], ["search", "--backbone", "cnn"]):
        assert parser.parse_args(command + ["--weights", "none"]).weights is None  # random initial weights
        assert parser.parse_args(command + ["--weights", "w.h5"]).weights == "w.h5"
        assert parser.parse_args(command).weights == "imagenet"
        assert parser.parse_args(command + ["--val-fraction", "0.3"]).val_fraction == 0.3
    assert parser.parse_args(["robustness", "--val-fraction", "0.3"]).val_fraction == 0.3  # as the runs had it
    assert not hasattr(parser.parse_args(["run"]), "val_fraction")  # the notebooks keep their own split
    # a default spelled "none" goes through the same type (a --config file's null stays None: not a string)
    assert build_parser(train_defaults={"weights": "none"}).parse_args(["train", "--backbone", "cnn"]).weights is None


def test_library_messages_are_spelled_as_options():
    from pneumonet.cli import _cli_spelling, build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    assert _cli_spelling("Received: target='three', pipeline='classic'", train) == (
        "Received: --target 'three', --pipeline 'classic'")
    assert _cli_spelling("Received: batch_size=3; n_classes=2", train) == "Received: --batch-size 3; n_classes=2"
    assert _cli_spelling("x holds a run; pass --overwrite (overwrite=True) to replace it", train) == (
        "x holds a run; pass --overwrite to replace it")


def test_data_names_every_file_and_folder_it_leaves_out(synthetic_root, tmp_path, capsys):
    import shutil

    data = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, data)
    victim = sorted((data / "train" / "PNEUMONIA").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])  # the header alone still reads
    (data / "train" / "NORMAL" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (data / "train" / "COVID").mkdir()
    (data / "train" / "COVID" / "x.jpeg").write_bytes(victim.read_bytes())
    assert main(["data", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"unreadable {victim}: truncated JPEG" in out
    assert ".DS_Store: not an image file" in out and "COVID (only NORMAL and PNEUMONIA are classes)" in out


def test_weights_of_another_architecture_end_in_one_line(synthetic_root, tmp_path, capsys):
    import keras

    other = tmp_path / "mobilenet_v2_notop.weights.h5"
    keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(other)
    code = main(["train", "--data", str(synthetic_root), "--backbone", "densenet121", "--weights", str(other),
                 "--image-size", "32", "--results", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("pneumonet train: cannot load") and str(other) in err[-1]
    assert not [line for line in err if "Warning" in line]
    assert not (tmp_path / "runs" / "densenet121").exists()


def test_a_results_folder_that_cannot_be_written_ends_in_one_line(synthetic_root, tmp_path, capsys, monkeypatch):
    import pneumonet.experiment as experiment

    def read_only(results_root, name, **options):  # root can write anywhere: simulate it
        raise PermissionError(13, "Permission denied", str(results_root))

    monkeypatch.setattr(experiment, "new_run_dir", read_only)
    code = main(["train", "--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none", "--image-size",
                 "32", "--results", str(tmp_path / "locked")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Permission denied" in err[-1] and str(tmp_path / "locked") in err[-1]
    assert "Traceback" not in "\n".join(err)
