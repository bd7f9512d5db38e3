"""KerasTuner search (``pneumonet.search``) and ``pneumonet train --config``: tiny models on the synthetic set."""

import json

import pandas as pd
import pytest

from pneumonet.cli import main
from pneumonet.io import read_json, write_json
from pneumonet.search import define_space, read_config, run_search, train_defaults


def test_space_defaults_are_the_current_recipe():
    keras_tuner = pytest.importorskip("keras_tuner")

    values = define_space(keras_tuner.HyperParameters(), "cpu")
    assert values == {"units": 128, "dropout": 0.5, "lr_head": 1e-3, "lr_finetune": 1e-5, "unfreeze_last": 4,
                      "augmentation": "none", "label_smoothing": 0.1, "weight_decay": 1e-4}
    assert "unfreeze_last" not in define_space(keras_tuner.HyperParameters(), "cpu", from_scratch=True)


def test_read_config_names_a_wrong_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        read_config(tmp_path / "missing.json")
    write_json(tmp_path / "other.json", {"experiment": {"backbone": "cnn"}})
    with pytest.raises(ValueError, match="not a best_config.json"):
        read_config(tmp_path / "other.json")


@pytest.fixture(scope="module")
def search(synthetic_catalog, tmp_path_factory):
    search_dir = tmp_path_factory.mktemp("search") / "cnn"
    best = run_search(synthetic_catalog, search_dir, "cnn", weights=None, image_size=32, trials=2, epochs=1,
                      seed=0)
    return search_dir, best


@pytest.mark.slow
def test_search_writes_the_best_of_its_trials(search):
    search_dir, best = search
    trials = pd.read_csv(search_dir / "trials.csv")
    assert len(trials) == 2 and best["search"]["trials"] == 2
    assert best["search"]["val_auc"] == pytest.approx(trials["val_auc"].max())
    assert trials["val_auc"].between(0, 1).all()
    first = trials.loc[trials["trial"] == trials["trial"].min()].iloc[0]  # KerasTuner's first trial: the defaults
    assert (first["units"], first["dropout"], first["lr_head"]) == (128, 0.5, pytest.approx(1e-3))
    winner = trials.iloc[0]  # best first
    assert {k: winner[k] for k in best["hyperparameters"]} == pytest.approx(best["hyperparameters"])
    experiment = read_config(search_dir / "best_config.json")
    assert experiment["head"]["units"] == best["hyperparameters"]["units"]
    assert experiment["train"]["lr_head"] == pytest.approx(best["hyperparameters"]["lr_head"])
    assert experiment["train"]["epochs_head"] == 1


@pytest.mark.slow
def test_a_finished_search_is_kept_and_other_settings_are_refused(search, synthetic_catalog):
    search_dir, best = search
    again = run_search(synthetic_catalog, search_dir, "cnn", weights=None, image_size=32, trials=2, epochs=1,
                       seed=0)  # KerasTuner reloads the finished trials: nothing trains again
    assert again["hyperparameters"] == best["hyperparameters"]
    assert again["search"]["seconds"] < 5
    with pytest.raises(FileExistsError, match="other settings"):
        run_search(synthetic_catalog, search_dir, "cnn", weights=None, image_size=32, trials=2, epochs=2, seed=0)


@pytest.mark.slow
def test_train_reuses_the_best_config_and_the_command_line_wins(search, synthetic_root, tmp_path):
    search_dir, _ = search
    config = read_json(search_dir / "best_config.json")
    # values no parser default has, so that where each one came from is visible
    config["experiment"]["train"].update(label_smoothing=0.2, weight_decay=3e-4)
    config["experiment"]["head"].update(units=24, dropout=0.3)
    path = tmp_path / "best_config.json"
    path.write_text(json.dumps(config))
    assert train_defaults(path)["label_smoothing"] == 0.2

    # --label-smoothing 0.0 is the parser's default, given explicitly: it still wins over the file
    code = main(["train", "--backbone", "cnn", "--config", str(path), "--label-smoothing", "0.0", "--epochs", "1",
                 "--data", str(synthetic_root), "--results", str(tmp_path / "runs"), "--n-boot", "10",
                 "--verbose", "0"])
    assert code == 0
    record = read_json(tmp_path / "runs" / "cnn" / "metrics.json")
    assert record["config"]["train"]["label_smoothing"] == 0.0          # command line
    assert record["config"]["train"]["weight_decay"] == 3e-4            # file
    assert record["config"]["train"]["lr_head"] == config["experiment"]["train"]["lr_head"]
    assert record["config"]["head"] == {"pooling": "gap", "units": 24, "dropout": 0.3, "n_classes": 1}
    assert record["config"]["image_size"] == 32 and record["config"]["weights"] is None

    code = main(["train", "--backbone", "mobilenet_v2", "--config", str(path), "--data", str(synthetic_root),
                 "--results", str(tmp_path / "runs")])
    assert code == 2  # searched for another backbone: refused in one line
