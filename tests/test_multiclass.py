"""Three classes: known answers for the metrics, and the whole run (train, evaluate, Grad-CAM) on synthetic data."""

import json

import numpy as np
import pandas as pd
import pytest

from pneumonet.evaluation import positive_probability, prediction_frame
from pneumonet.evaluation.multiclass import (bacterial_vs_viral, evaluate_subtypes, multiclass_intervals,
                                             summary_metrics, subtype_table)

SUBTYPE = np.array(["normal", "bacteria", "virus"])


def _frame(y, probs, patients=None):
    frame = pd.DataFrame({"label": (np.asarray(y) > 0).astype(int), "subtype_label": y, "subtype": SUBTYPE[y],
                          "patient_id": patients if patients is not None else [f"p{i}" for i in range(len(y))]})
    return prediction_frame(frame, probs)


def test_hand_computed_confusion_matrix_and_metrics():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2, 2, 0])  # by hand: rows true, columns predicted
    probs = np.full((8, 3), 0.1)
    probs[np.arange(8), predicted] = 0.8
    frame = _frame(y, probs)
    result = evaluate_subtypes(frame, frame, n_boot=20)
    assert result["test_confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [1, 0, 2]]
    assert result["test"]["accuracy"]["value"] == pytest.approx(5 / 8)
    recalls = [1 / 2, 2 / 3, 2 / 3]
    assert result["test"]["recall_macro"]["value"] == pytest.approx(np.mean(recalls))
    assert result["test_per_class"]["virus"]["recall"] == pytest.approx(2 / 3)
    # a three-class model answers the binary question with P(pneumonia) = 1 - P(normal)
    np.testing.assert_allclose(frame["prob"], 1 - probs[:, 0])
    np.testing.assert_allclose(positive_probability(probs), 1 - probs[:, 0])


def test_per_class_auc_is_one_against_the_rest():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    virus = np.where(y == 2, 0.6 + 0.3 * rng.random(60), 0.5 * rng.random(60))  # class 2 perfectly ranked
    rest = rng.dirichlet(np.ones(2), 60) * (1 - virus)[:, None]  # the others at chance
    probs = np.column_stack([rest, virus])
    values = summary_metrics(y, probs)
    assert values["auc_virus"] == 1.0 and 0.3 < values["auc_normal"] < 0.8
    intervals = multiclass_intervals(y, probs, groups=None, n_boot=50)
    assert intervals["auc_virus"]["low"] == pytest.approx(1.0)
    for name in ("accuracy", "roc_auc_macro", "f1_macro"):
        assert intervals[name]["low"] <= intervals[name]["value"] <= intervals[name]["high"]


def test_bacterial_against_viral_uses_pneumonia_images_and_a_validation_threshold():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1],  # normal: left out of this task
                      [0.1, 0.8, 0.1], [0.2, 0.6, 0.2], [0.0, 0.55, 0.45],  # bacterial: P(b | pneumonia) >= 0.55
                      [0.1, 0.2, 0.7], [0.0, 0.3, 0.7], [0.2, 0.35, 0.45]])  # viral: P(b | pneumonia) <= 0.4375
    frame = _frame(y, probs)
    result = bacterial_vs_viral(frame, frame, n_boot=20)
    assert result["positive"] == "bacteria" and result["threshold_chosen_on"] == "val"
    assert 0.4375 < result["threshold"] <= 0.55
    assert result["test"]["roc_auc"]["value"] == 1.0 and result["test"]["accuracy"]["value"] == 1.0
    assert result["test"]["_meta"]["n"] == 6


def test_subtype_run_end_to_end(synthetic_root, synthetic_catalog, tmp_path):
    from pneumonet.evaluation import write_summary
    from pneumonet.runs import load_runs
    from pneumonet.experiment import Experiment, run_experiment
    from pneumonet.explain import gradcam
    from pneumonet.models import load_model
    from pneumonet.training import TrainConfig

    experiment = Experiment("cnn_subtype", "cnn", head="gap_dense_dropout", weights=None, image_size=48,
                            target="subtype", train=TrainConfig(epochs_head=2, batch_size=16))
    record = run_experiment(experiment, synthetic_catalog, tmp_path, n_boot=20, verbose=0)
    three = record["subtypes"]
    assert three["class_names"] == ["normal", "bacteria", "virus"]
    assert np.asarray(three["test_confusion_matrix"]).sum() == (synthetic_catalog["subset"] == "test").sum()
    assert "roc_auc" in record["test"]  # and the binary question, from 1 - P(normal)
    predictions = pd.read_csv(tmp_path / "cnn_subtype" / "predictions.csv")
    assert set(predictions["subtype_decision"]) <= {"normal", "bacteria", "virus"}
    np.testing.assert_allclose(predictions["prob"], 1 - predictions["p_normal"], atol=1e-6)
    assert (tmp_path / "cnn_subtype" / "figures" / "subtypes.png").exists()
    model, meta = load_model(tmp_path / "cnn_subtype" / "model.keras")
    assert meta["class_names"] == ["normal", "bacteria", "virus"] and model.output.shape[-1] == 3
    images = np.random.default_rng(0).integers(0, 255, (2, 48, 48)).astype("uint8")
    viral, bacterial = gradcam(model, images, class_index=2), gradcam(model, images, class_index=1)
    assert viral.shape == bacterial.shape and not np.allclose(viral, bacterial)  # any class can be explained
    table = subtype_table(load_runs(tmp_path))
    assert list(table["model"]) == ["cnn_subtype"] and table.loc[0, "Accuracy"].startswith(
        f"{three['test']['accuracy']['value']:.3f}")
    write_summary(tmp_path)
    assert "Three classes" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "cnn_subtype" / "metrics.json").read_text())["config"]["target"] == "subtype"


def test_subtype_needs_the_fast_pipeline():
    from pneumonet.experiment import Experiment

    with pytest.raises(ValueError, match="Received: target='subtype', pipeline='classic'"):
        Experiment("x", "cnn", weights=None, target="subtype", pipeline="classic")
    with pytest.raises(ValueError, match="Received: target='three'"):
        Experiment("x", "cnn", weights=None, target="three")
