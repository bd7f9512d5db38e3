"""CNN features + classical classifiers (``pneumonet.classical``) and stacking (``write_stack``): known answers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pneumonet.classical import fit_final, patient_folds, run_classical, tune_classifier
from pneumonet.runs import load_runs, write_run
from pneumonet.evaluation.ensemble import write_ensemble, write_stack


def _patients(n_patients, images_per_patient, seed):
    """Labels and patient ids: every image of a patient has the patient's label."""
    rng = np.random.default_rng(seed)
    patient_labels = rng.permutation(np.arange(n_patients) % 2)
    groups = np.repeat(np.arange(n_patients), images_per_patient)
    return patient_labels[groups], groups


def test_patient_folds_never_split_a_patient():
    _, groups = _patients(40, 3, seed=0)
    groups = np.random.default_rng(1).permutation(groups)  # patients scattered over the rows
    folds = patient_folds(groups, n_splits=5)
    assert len(folds) == 5
    held_out = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(held_out), np.arange(len(groups)))  # every image held out exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_patient_folds_refuse_more_folds_than_patients():
    with pytest.raises(ValueError, match="n_splits"):
        patient_folds(np.repeat([0, 1, 2], 4), n_splits=4)


def test_svm_reaches_auc_one_on_separable_features():
    labels, groups = _patients(30, 3, seed=2)
    rng = np.random.default_rng(3)
    # two blobs 8 standard deviations apart in the first feature, noise elsewhere
    features = rng.normal(size=(len(labels), 16))
    features[:, 0] += 8.0 * labels
    search, folds = tune_classifier(features, labels, groups, "svm", n_splits=3)
    assert search.best_score_ == 1.0
    model = fit_final(search, features, labels, folds, "svm")
    test_labels, _ = _patients(20, 1, seed=4)
    test_features = rng.normal(size=(20, 16))
    test_features[:, 0] += 8.0 * test_labels
    probs = model.predict_proba(test_features)[:, 1]
    assert roc_auc_score(test_labels, probs) == 1.0
    assert probs[test_labels == 1].min() > 0.5 > probs[test_labels == 0].max()  # calibrated, not just ranked


def test_grid_search_finds_the_known_best_kernel():
    # concentric rings: the label is the radius, so no linear boundary ranks them; an RBF kernel does
    labels, groups = _patients(60, 2, seed=5)
    rng = np.random.default_rng(6)
    angle = rng.uniform(0, 2 * np.pi, len(labels))
    radius = 1.0 + 2.0 * labels + rng.normal(0, 0.1, len(labels))
    features = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    grid = {"svc__kernel": ["linear", "rbf"], "svc__C": [1.0]}
    search, _ = tune_classifier(features, labels, groups, "svm", grid=grid, n_splits=4)
    assert search.best_params_["svc__kernel"] == "rbf"
    scores = dict(zip(search.cv_results_["param_svc__kernel"], search.cv_results_["mean_test_score"]))
    assert scores["rbf"] > 0.99 and scores["linear"] < 0.8


def test_logistic_regression_grid_prefers_weak_regularization_when_a_nuisance_must_be_subtracted():
    # feature 0 = signal + nuisance, feature 1 = nuisance: only x0 - x1 separates the classes. Strong L2
    # (C=1e-6) leaves the weights proportional to each feature's class-mean difference, about zero for x1,
    # so it ranks by the noisy x0 alone; weak regularization learns the subtraction
    labels, groups = _patients(60, 2, seed=7)
    rng = np.random.default_rng(8)
    nuisance = rng.normal(0, 3.0, len(labels))
    signal = np.where(labels == 1, 1.0, -1.0) * rng.uniform(0.5, 1.0, len(labels))
    features = np.column_stack([signal + nuisance, nuisance])
    search, _ = tune_classifier(features, labels, groups, "logreg", grid={"logreg__C": [1e-6, 1.0]}, n_splits=5)
    scores = dict(zip(search.cv_results_["param_logreg__C"], search.cv_results_["mean_test_score"]))
    assert search.best_params_["logreg__C"] == 1.0
    assert scores[1.0] == 1.0 and scores[1e-6] < 0.8


@pytest.mark.slow
@pytest.mark.parametrize("classifier", ["svm", "logreg"])
def test_run_classical_writes_a_run_like_any_model(synthetic_catalog, tmp_path, classifier):
    cache = tmp_path / "cache"  # this test's own: the first call must run the backbone
    record = run_classical(synthetic_catalog, tmp_path, backbone="cnn", classifier=classifier, weights=None,
                           image_size=32, n_splits=3, n_boot=20, cache_dir=cache)
    run_dir = tmp_path / f"cnn_{classifier}"
    predictions = pd.read_csv(run_dir / "predictions.csv")
    test = synthetic_catalog[synthetic_catalog["subset"] == "test"]
    assert sorted(predictions.query("subset == 'test'")["path"]) == sorted(test["path"])
    assert record["threshold_chosen_on"] == "val"
    assert set(pd.read_csv(run_dir / "cv_results.csv")["rank_test_score"]) >= {1}
    assert record["timing"]["backbone_seconds"] > 0 and record["timing"]["cached"] == []
    assert f"cnn_{classifier}" in load_runs(tmp_path)  # summary tables and paired tests read it
    with pytest.raises(FileExistsError):
        run_classical(synthetic_catalog, tmp_path, backbone="cnn", classifier=classifier, weights=None,
                      image_size=32, n_splits=3, n_boot=20, cache_dir=cache)
    again = run_classical(synthetic_catalog, tmp_path, backbone="cnn", classifier=classifier, weights=None,
                          image_size=32, n_splits=3, n_boot=20, cache_dir=cache, overwrite=True)
    assert again["timing"]["cached"] == ["train", "val", "test"]  # the backbone did not run again
    assert again["test"]["roc_auc"]["value"] == record["test"]["roc_auc"]["value"]


def _member(results_dir, name, frame, prob):
    predictions = frame.assign(prob=prob)
    evaluation = {"threshold": 0.5, "temperature": 1.0}
    write_run(results_dir / name, name, predictions, evaluation, config={}, data_frame=predictions)


def test_stack_learns_to_subtract_a_shared_nuisance(tmp_path):
    # member a = signal + 3 * nuisance, member b = nuisance: neither alone (nor their mean) separates the
    # classes, a - 3 b does exactly; the stacker must find weights of opposite signs and reach AUC 1 on test
    rng = np.random.default_rng(0)
    rows = []
    for subset, n in (("val", 200), ("test", 200)):
        labels, patients = _patients(n // 2, 2, seed=len(rows) + 1)
        rows.append(pd.DataFrame({"path": [f"{subset}/{i}.jpeg" for i in range(n)], "label": labels,
                                  "patient_id": [f"{subset}{p}" for p in patients], "subset": subset}))
    frame = pd.concat(rows, ignore_index=True)
    signal = np.where(frame["label"] == 1, 1.0, -1.0) * rng.uniform(1.0, 2.0, len(frame))
    nuisance = rng.normal(0, 1.0, len(frame))
    _member(tmp_path, "a", frame, 1 / (1 + np.exp(-(signal + 3 * nuisance))))
    _member(tmp_path, "b", frame, 1 / (1 + np.exp(-nuisance)))
    test = frame["subset"] == "test"
    assert roc_auc_score(frame.loc[test, "label"], signal[test] + 3 * nuisance[test]) < 0.9

    record = write_stack(tmp_path, ["a", "b"], n_splits=5, n_boot=20)
    weights = record["stacking"]["coefficients"]
    assert weights["a"] > 0 > weights["b"]
    assert weights["b"] / weights["a"] == pytest.approx(-3, rel=0.2)
    assert record["test"]["roc_auc"]["value"] == 1.0
    assert record["val"]["roc_auc"] == 1.0  # out of fold: each val patient scored by a stacker without them
    mean = write_ensemble(tmp_path, ["a", "b"], name="mean", n_boot=20)
    assert mean["test"]["roc_auc"]["value"] < 0.95  # averaging cannot subtract
    with pytest.raises(FileExistsError):
        write_stack(tmp_path, ["a", "b"], n_boot=20)


def test_stack_refuses_a_single_member(tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        write_stack(tmp_path, ["a"])


@pytest.mark.slow
def test_classical_and_stack_commands(synthetic_root, tmp_path, capsys):
    from pneumonet.cli import main

    common = ["--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none", "--image-size", "32",
              "--folds", "3", "--n-boot", "10", "--results", str(tmp_path)]
    assert main(["classical", *common, "--classifier", "svm"]) == 0
    svm = (tmp_path / "cnn_svm" / "metrics.json").read_bytes()
    # svm's finished run is kept and named; logreg goes on
    assert main(["classical", *common, "--classifier", "svm", "logreg", "--compare", str(tmp_path / "cnn_svm")]) == 2
    assert "cnn_svm already holds a finished run; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "cnn_svm" / "metrics.json").read_bytes() == svm
    paired = pd.read_csv(tmp_path / "cnn_logreg" / "paired_tests.csv")
    assert paired[["model", "against"]].values.tolist() == [["cnn_logreg", "cnn_svm"]]
    assert main(["classical", *common, "--classifier", "svm"]) == 2  # a finished run is kept
    assert main(["stack", "--results", str(tmp_path), "--members", "cnn_svm", "cnn_logreg", "--folds", "3",
                 "--n-boot", "10"]) == 0
    assert set(load_runs(tmp_path)) == {"cnn_svm", "cnn_logreg", "stack"}
