import numpy as np
import pandas as pd
import pytest

from pneumonet.evaluation import (binary_metrics, bootstrap_ci, choose_threshold, confusion, delong,
                                  evaluate_predictions, expected_calibration_error, fit_temperature, mcnemar,
                                  multiclass_metrics, paired_bootstrap_auc, positive_probability,
                                  sensitivity_threshold, summary_table, write_summary, youden_threshold)
from pneumonet.evaluation.calibration import apply_temperature
from pneumonet.io import write_json


def test_hand_computed_metrics():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([.9, .8, .7, .3, .6, .2, .1, .1, .4, .05])
    m = binary_metrics(y, p, threshold=0.5)
    # predicted positive: .9 .8 .7 (TP) and .6 (FP); FN: .3
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 1, 5, 1)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["precision"] == pytest.approx(0.75)
    assert m["sensitivity"] == m["recall"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(5 / 6)
    assert m["f1"] == pytest.approx(0.75)
    # AUC: of 24 positive-negative pairs, only (0.3 vs 0.6 and 0.3 vs 0.4) are misordered
    assert m["roc_auc"] == pytest.approx(22 / 24)
    np.testing.assert_array_equal(confusion(y, p), [[5, 1], [1, 3]])


def test_perfect_and_random_scorers():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    perfect = binary_metrics(y, y * 0.8 + 0.1)
    assert perfect["roc_auc"] == 1 and perfect["accuracy"] == 1 and perfect["fn"] == 0
    random = binary_metrics(y, rng.random(4000))
    assert abs(random["roc_auc"] - 0.5) < 0.03


def test_positive_probability_shapes():
    np.testing.assert_array_equal(positive_probability(np.array([[0.2], [0.9]])), [0.2, 0.9])
    np.testing.assert_array_equal(positive_probability(np.array([[0.8, 0.2], [0.1, 0.9]])), [0.2, 0.9])
    # three classes (normal, bacterial, viral): P(PNEUMONIA) = 1 - P(normal)
    np.testing.assert_allclose(positive_probability(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])), [0.3, 0.9])
    with pytest.raises(ValueError, match="shape"):
        positive_probability(np.zeros((2, 4)))


def test_threshold_choice_on_a_constructed_case():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([.1, .2, .3, .6, .4, .7, .8, .9])
    # Youden: at 0.7 -> sens 3/4, spec 1 (J=.75); at 0.4 -> sens 1, spec 3/4 (J=.75); argmax takes the first (0.7)
    assert youden_threshold(y, p) == pytest.approx(0.7)
    assert sensitivity_threshold(y, p, 1.0) == pytest.approx(0.4)
    assert choose_threshold(y, p, "fixed") == 0.5
    with pytest.raises(ValueError, match="method"):
        choose_threshold(y, p, "test-set")
    # a vertical run of the ROC curve (four positives between two negatives): the highest threshold finding half
    # of them is 0.7, a point that roc_curve's drop_intermediate would have removed (leaving 0.5)
    y, p = np.array([0, 1, 1, 1, 1, 0]), np.array([.9, .8, .7, .6, .5, .1])
    assert sensitivity_threshold(y, p, 0.5) == pytest.approx(0.7)
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    for target in (0.5, 0.9, 0.95):  # against brute force: the highest cut whose sensitivity reaches the target
        best = max(t for t in p if (p[y == 1] >= t).mean() >= target)
        assert sensitivity_threshold(y, p, target) == pytest.approx(best)


def test_bootstrap_intervals_cover_the_truth():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(40):
        y = rng.integers(0, 2, 300)
        correct = rng.random(300) < 0.85  # a classifier with true accuracy 0.85
        p = np.where(correct, y, 1 - y) * 0.8 + 0.1
        ci = bootstrap_ci(y, p, 0.5, n_boot=200, seed=trial, metric_names=("accuracy",))
        covered += ci["accuracy"]["low"] <= 0.85 <= ci["accuracy"]["high"]
    assert covered >= 34  # nominal 95% of 40 = 38; allow simulation noise


def test_patient_resampling_widens_intervals_for_correlated_images():
    rng = np.random.default_rng(2)
    patients = np.repeat(np.arange(60), 5)
    y = np.repeat(rng.integers(0, 2, 60), 5)
    p = np.clip(np.repeat(rng.random(60), 5) * 0.6 + y * 0.4, 0, 1)
    by_image = bootstrap_ci(y, p, 0.5, n_boot=300, metric_names=("accuracy",))["accuracy"]
    by_patient = bootstrap_ci(y, p, 0.5, groups=patients, n_boot=300, metric_names=("accuracy",))["accuracy"]
    assert by_patient["high"] - by_patient["low"] > 1.5 * (by_image["high"] - by_image["low"])


def test_paired_tests_find_a_planted_difference_and_none_where_there_is_none():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 600)
    good = np.clip(y * 0.5 + rng.normal(0.25, 0.2, 600), 0, 1)
    bad = np.clip(y * 0.15 + rng.normal(0.4, 0.2, 600), 0, 1)
    twin = np.clip(y * 0.5 + rng.normal(0.25, 0.2, 600), 0, 1)
    assert delong(y, good, bad)["p_value"] < 0.001
    assert mcnemar(y, good >= 0.5, bad >= 0.5)["p_value"] < 0.001
    assert paired_bootstrap_auc(y, good, bad, n_boot=300)["p_value"] < 0.01
    assert delong(y, good, twin)["p_value"] > 0.05
    assert mcnemar(y, good >= 0.5, good >= 0.5)["p_value"] == 1.0


def test_delong_matches_sklearn_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y, a, b = rng.integers(0, 2, 200), rng.random(200), rng.random(200)
    tied = np.round(a, 1)  # ties take midranks, as roc_auc_score counts them as half
    result = delong(y, tied, b)
    assert result["auc_a"] == pytest.approx(roc_auc_score(y, tied)) and result["auc_b"] == pytest.approx(
        roc_auc_score(y, b))
    assert delong(y, a, a)["p_value"] == 1.0  # no difference, no variance of the difference
    informative = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    better = delong(y, informative, b)
    assert better["difference"] > 0.3 and better["p_value"] < 1e-6


def test_calibration_known_answers():
    y = np.array([0, 1, 0, 1])
    assert expected_calibration_error(y, np.array([0.0, 1.0, 0.0, 1.0])) == 0
    assert expected_calibration_error(np.array([1, 1]), np.array([0.55, 0.55])) == pytest.approx(0.45)
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 2, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-logits))).astype(int)
    overconfident = 1 / (1 + np.exp(-3 * logits))  # as if T = 1/3
    assert fit_temperature(y, overconfident) == pytest.approx(3, rel=0.15)
    assert expected_calibration_error(y, apply_temperature(overconfident, 3)) < expected_calibration_error(
        y, overconfident)


def test_multiclass_metrics():
    y = np.array([0, 1, 2, 2])
    p = np.eye(3)[[0, 1, 2, 1]] * 0.85 + 0.05  # rows sum to 1
    m = multiclass_metrics(y, p)
    assert m["accuracy"] == 0.75 and m["confusion_matrix"][2] == [0, 1, 1]
    assert set(m["per_class"]) == {"normal", "bacteria", "virus"}


def test_evaluate_and_summary_files(tmp_path):
    rng = np.random.default_rng(6)

    def frame(n):
        y = rng.integers(0, 2, n)
        return pd.DataFrame({"label": y, "prob": np.clip(y * 0.6 + rng.random(n) * 0.4, 0, 1),
                             "patient_id": [f"p{i // 2}" for i in range(n)]})

    val, test = frame(100), frame(120)
    evaluation = evaluate_predictions(val, test, n_boot=50)
    assert evaluation["threshold_chosen_on"] == "val"
    assert evaluation["threshold"] == pytest.approx(choose_threshold(val["label"], val["prob"], "youden"))
    assert evaluation["test"]["_meta"]["unit"] == "patient"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "metrics.json", {"run": name, **evaluation})
    table = write_summary(tmp_path)
    assert list(table["model"]) == ["a", "b"]
    from sklearn.metrics import roc_auc_score

    auc = evaluation["test"]["roc_auc"]
    assert auc["value"] == pytest.approx(roc_auc_score(test["label"], test["prob"]))
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert table.loc[0, "AUC"].startswith(f"{auc['value']:.3f} [{auc['low']:.3f}")
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown.count("\n| a ") == markdown.count("\n| b ") == 2  # one row each, at both thresholds
    assert len(summary_table({"a": evaluation})) == 1


def _noisy_frame(rng, n, signal=0.5, paths=None):
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"path": paths if paths is not None else [f"img{i:03d}.jpeg" for i in range(n)], "label": y,
                         "prob": np.clip(y * signal + rng.random(n) * (1 - signal), 0, 1),
                         "patient_id": [f"p{i // 2}" for i in range(n)]})


def test_operating_points_are_chosen_on_val():
    rng = np.random.default_rng(3)
    val, test = _noisy_frame(rng, 200, 0.3), _noisy_frame(rng, 150, 0.3)
    evaluation = evaluate_predictions(val, test, n_boot=20, target_sensitivity=0.95)
    at = evaluation["threshold_at_target_sensitivity"]
    assert at == sensitivity_threshold(val["label"], val["prob"], 0.95)
    assert binary_metrics(val["label"], val["prob"], at)["sensitivity"] >= 0.95
    assert evaluation["test_at_target_sensitivity"]["_meta"]["threshold"] == at
    calibrated = apply_temperature(test["prob"], evaluation["temperature"])
    expected = binary_metrics(test["label"], calibrated, 0.5)["accuracy"]
    assert evaluation["test_at_0.5_calibrated"]["accuracy"]["value"] == pytest.approx(expected)


def _write_fake_run(root, name, val, test):
    from pneumonet.runs import write_run

    evaluation = evaluate_predictions(val, test, n_boot=20)
    predictions = pd.concat([test.assign(subset="test"), val.assign(subset="val")], ignore_index=True)
    return write_run(root / name, name, predictions, evaluation, config={}, data_frame=predictions)


def test_ensemble_averages_calibrated_members_and_is_evaluated_like_a_model(tmp_path):
    from pneumonet.evaluation.ensemble import (best_by_validation, mean_probability, paired_tests,
                                               read_predictions, write_ensemble)

    rng = np.random.default_rng(4)
    val, test = _noisy_frame(rng, 120, 0.4), _noisy_frame(rng, 100, 0.4)
    runs = {"a": _write_fake_run(tmp_path, "a", val, test)}
    better = [f.assign(prob=np.clip(f["label"] * 0.7 + rng.random(len(f)) * 0.3, 0, 1)) for f in (val, test)]
    runs["b"] = _write_fake_run(tmp_path, "b", *better)
    assert best_by_validation(runs) == "b"

    frames = {n: read_predictions(tmp_path, n) for n in runs}
    mean = mean_probability(frames, {"a": 1.0, "b": 1.0})
    assert np.allclose(mean["prob"], (frames["a"]["prob"] + frames["b"]["prob"]) / 2, atol=1e-6)
    tempered = mean_probability(frames, {"a": 2.0, "b": 1.0})["prob"]  # each member scaled by its own T
    assert np.allclose(tempered, (apply_temperature(frames["a"]["prob"], 2.0) + frames["b"]["prob"]) / 2, atol=1e-6)

    record = write_ensemble(tmp_path, ["a", "b"], n_boot=20)
    assert record["members"] == ["a", "b"] and record["threshold_chosen_on"] == "val"
    assert (tmp_path / "ensemble" / "predictions.csv").exists()
    tests = paired_tests(tmp_path, {**runs, "ensemble": record}, against="b")
    assert set(tests["model"]) == {"a", "ensemble"}
    assert tests.set_index("model").loc["a", "AUC difference"] < 0  # a is the weaker scorer
    # Benjamini-Hochberg over the two comparisons: the smaller p doubled, the larger kept (never below it)
    for test in ("McNemar", "DeLong"):
        low, high = sorted(tests[f"{test} p"])
        adjusted = dict(zip(tests[f"{test} p"], tests[f"{test} p (BH)"]))
        assert np.isclose(adjusted[low], min(1.0, min(2 * low, high))) and np.isclose(adjusted[high], high), test
    assert list(tests.columns) == ["model", "against", "McNemar p", "McNemar p (BH)", "AUC difference", "DeLong p",
                                   "DeLong p (BH)"]

    other = {"a": frames["a"], "c": frames["b"].assign(path=frames["b"]["path"] + "x")}
    with pytest.raises(ValueError, match="same images"):
        mean_probability(other, {"a": 1.0, "c": 1.0})


def test_compile_for_label_smoothing_and_weight_decay():
    import keras

    from pneumonet.training import compile_for

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    compile_for(model, 1e-3, label_smoothing=0.2, weight_decay=1e-4)
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == 1e-4
    y, p = np.array([1.0, 0.0]), np.array([1.0 - 1e-7, 1e-7])
    assert float(model.loss(y, p)) > 0.3  # smoothed targets 0.9 / 0.1: a perfect 1 / 0 is penalised
    compile_for(model, 1e-3)
    assert type(model.optimizer) is keras.optimizers.Adam and float(model.loss(y, p)) < 1e-3


def test_loss_floor_is_the_smoothed_loss_of_a_perfect_model_and_named_on_the_loss_axis(tmp_path, monkeypatch):
    import keras
    import matplotlib.image

    from pneumonet.experiment import write_figures
    from pneumonet.training import loss_floor

    for classes, loss in ((2, keras.losses.BinaryCrossentropy(label_smoothing=0.1)),
                          (3, keras.losses.CategoricalCrossentropy(label_smoothing=0.1))):
        targets = np.array([[1.0], [0.0]]) if classes == 2 else np.eye(3)
        smoothed = targets * 0.9 + 0.1 / classes  # the best a model can answer against smoothed targets
        assert np.isclose(loss_floor(0.1, classes), float(loss(targets, smoothed)), atol=1e-5)
        assert float(loss(targets, np.clip(smoothed + 0.02, 0, 1))) > loss_floor(0.1, classes)
    assert loss_floor(0.0) == 0.0

    history = pd.DataFrame({"epoch": [1, 2], "phase": [1, 1], "loss": [0.5, 0.4], "val_loss": [0.5, 0.45],
                            "auc": [0.8, 0.9], "val_auc": [0.8, 0.85]})
    import pneumonet.plots

    seen, original = {}, pneumonet.plots.plot_history

    def spy(history, name=None, labels=None, loss_floor=None):  # records what write_figures draws
        seen["drawn"] = original(history, name=name, labels=labels, loss_floor=loss_floor)
        return seen["drawn"]

    monkeypatch.setattr(pneumonet.plots, "plot_history", spy)
    write_figures(tmp_path, history, pd.DataFrame({"prob": [0.5]}), "m", label_smoothing=0.1)
    floor = [line for line in seen["drawn"].ax_[0].lines if line.get_label().startswith("lowest possible loss")]
    assert len(floor) == 1 and np.allclose(floor[0].get_ydata(), loss_floor(0.1))
    assert floor[0].get_label() == "lowest possible loss 0.199 (label smoothing)"
    write_figures(tmp_path, history, pd.DataFrame({"prob": [0.5]}), "m")
    assert not [line for line in seen["drawn"].ax_[0].lines if line.get_label().startswith("lowest")]
    assert matplotlib.image.imread(tmp_path / "figures" / "training_curves.png").ndim == 3


def test_intervals_at_several_thresholds_match_one_threshold_at_a_time():
    from pneumonet.evaluation.bootstrap import bootstrap_intervals

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    p = np.clip(0.35 * y + 0.65 * rng.random(120), 0, 1)
    patients = rng.integers(0, 50, 120)
    together = bootstrap_intervals(y, p, [0.3, 0.5, 0.7], groups=patients, n_boot=50, seed=4)
    assert together == [bootstrap_ci(y, p, t, groups=patients, n_boot=50, seed=4) for t in (0.3, 0.5, 0.7)]
    assert together[0]["fn"]["value"] < together[2]["fn"]["value"]  # each threshold keeps its own decisions


def test_counted_metrics_equal_scikit_learn_including_empty_classes():
    from sklearn import metrics as skm

    rng = np.random.default_rng(5)
    for y in (rng.integers(0, 2, 40), np.zeros(40, int), np.ones(40, int)):
        p = rng.random(40)
        for threshold in (0.0, 0.5, 1.01):
            m, decided = binary_metrics(y, p, threshold), (p >= threshold).astype(int)
            assert [m[k] for k in ("tn", "fp", "fn", "tp")] == list(skm.confusion_matrix(y, decided,
                                                                                           labels=[0, 1]).ravel())
            expected = skm.f1_score(y, decided, zero_division=np.nan)
            assert m["f1"] == expected or (np.isnan(m["f1"]) and np.isnan(expected))
