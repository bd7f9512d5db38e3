"""The shift benchmark, the shortcut check, augmented views and test-time augmentation: known answers."""

import keras
import numpy as np
import pytest

from pneumonet.evaluation.robustness import (SHIFTS, apply_shift, balanced_sample, evaluate_shifts,
                                             robust_summary, shifted_probabilities)
from pneumonet.explain import black_margin_report, black_share, deletion_curves, energy_shares, shortcut_report
from pneumonet.pipelines.views import Photometric, add_views
from pneumonet.tta import predict_tta, tta_batch, view_matrix
from tests.conftest import load_benchmark


def _images(n=40, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(60, 190, (n, size, size)).astype(np.uint8)


def _fixed_model(size, build):
    """A tiny model with hand-set weights: ``build(x)`` maps the (size, size, 1) input to one sigmoid unit."""
    inputs = keras.Input((size, size, 1))
    return keras.Model(inputs, build(inputs))


def test_every_shift_keeps_shape_and_grows_with_severity():
    images = _images(6)
    for shift in SHIFTS:
        changes = []
        for severity in (1, 2, 3):
            out = apply_shift(images, shift, severity)
            assert out.shape == images.shape and out.dtype == np.uint8, shift
            changes.append(np.abs(out.astype(float) - images).mean())
        assert changes[0] > 0, shift
        assert changes[0] < changes[2], f"{shift}: severity 3 must change the images more than severity 1"
    with pytest.raises(ValueError, match="shift='fog'"):
        apply_shift(images, "fog", 1)
    with pytest.raises(ValueError, match="severity=4"):
        apply_shift(images, "blur", 4)


def test_mask_blacks_out_corners_and_marker_writes_white_in_one():
    images = np.full((4, 64, 64), 128, np.uint8)
    masked = apply_shift(images, "mask", 2)
    assert (masked[:, :4, :4] == 0).all() and (masked[:, -4:, -4:] == 0).all() and (masked[:, 32, 32] == 128).all()
    marked = apply_shift(images, "marker", 3)
    changed = marked != 128
    assert changed.any(axis=(1, 2)).all()
    assert not changed[:, 24:40, 24:40].any()  # the centre, where the lungs are, is untouched


def test_a_model_that_ignores_pixels_is_unaffected():
    size = 32
    model = _fixed_model(size, lambda x: keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
                                                            bias_initializer=keras.initializers.Constant(0.3))(
        keras.layers.GlobalAveragePooling2D()(x * 0.0)))
    labels = np.repeat([0, 1], 10)
    frame = evaluate_shifts(model, _images(20, size), labels, threshold=0.5, severities=(1, 3))
    assert len(frame) == 1 + 2 * len(SHIFTS)
    for column in ("auc", "sensitivity", "specificity", "mean_probability"):
        assert np.allclose(frame[column], frame[column].iloc[0]), column
    assert frame["mean_probability"].iloc[0] == pytest.approx(1 / (1 + np.exp(-0.3)), abs=1e-6)


def test_a_model_that_reads_a_corner_marker_collapses_under_marker_shifts():
    size, n = 64, 40
    images, labels = _images(n, size), np.repeat([0, 1], n // 2)
    images[labels == 1, 2:8, 2:8] = 255  # the "pneumonia" films carry a marker in the top-left corner
    corner = keras.layers.Cropping2D(((0, size - 10), (0, size - 10)))  # the model looks only there

    def build(x):
        pooled = keras.layers.GlobalAveragePooling2D()(corner(x))
        return keras.layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.Constant(0.2),
                                  bias_initializer=keras.initializers.Constant(-0.2 * 140))(pooled)

    frame = evaluate_shifts(_fixed_model(size, build), images, labels, threshold=0.5)
    clean = frame[frame["shift"] == "none"].iloc[0]
    assert clean["auc"] == 1.0 and clean["specificity"] == 1.0
    by_shift = frame.groupby("shift")["auc"].min()
    assert by_shift["mask"] <= 0.55  # the marker masked: the model is blind
    marker = frame[frame["shift"] == "marker"]
    assert marker["specificity"].min() < 0.9  # a marker on normal films too: false alarms at the same threshold
    assert by_shift[["blur", "noise", "contrast"]].min() > 0.95  # shifts that spare the marker do not matter
    summary = robust_summary(frame)
    # masking the corners, or moving them (pad, crop), blinds it; the robust AUC sees it
    assert summary["worst_auc"] <= 0.55 and summary["worst_shift"].split()[0] in ("mask", "pad", "crop")
    assert summary["robust_auc"] < summary["clean_auc"] - 0.05


def test_balanced_sample_takes_half_of_each_class():
    import pandas as pd

    frame = pd.DataFrame({"path": [f"{i:03d}" for i in range(100)], "label": [0] * 20 + [1] * 80})
    sample = balanced_sample(frame, 30, seed=1)
    assert sample["label"].value_counts().to_dict() == {0: 15, 1: 15}
    assert sample.equals(balanced_sample(frame, 30, seed=1))


def test_shortcut_shares_known_answers():
    size = 56
    corner = np.zeros((1, size, size)); corner[0, :3, :3] = 1.0
    centre = np.zeros((1, size, size)); centre[0, 24:32, 24:32] = 1.0
    uniform = np.ones((1, size, size))
    assert energy_shares(corner)["border"][0] == pytest.approx(1.0, abs=0.02)
    assert energy_shares(corner)["outside_lung"][0] == pytest.approx(1.0, abs=0.02)
    assert energy_shares(centre)["border"][0] == pytest.approx(0.0, abs=0.02)
    assert energy_shares(centre)["outside_lung"][0] == pytest.approx(0.0, abs=0.02)
    report = shortcut_report(uniform)
    assert report["border_share"] == pytest.approx(report["border_chance"], abs=0.02)
    assert report["outside_lung_share"] == pytest.approx(report["outside_lung_chance"], abs=0.02)
    assert shortcut_report(np.zeros((2, 7, 7)))["n_with_energy"] == 0  # no positive evidence: nothing to place


def test_black_margin_known_answers():
    framed = np.full((20, 20), 120, np.uint8); framed[:, :5] = 0; framed[0, 10] = 4; framed[1, 10] = 5
    assert black_share([framed, np.full((8, 8), 200, np.uint8)]).tolist() == [(20 * 5 + 1) / 400, 0.0]  # 4 counts
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [150, 250])  # classes of different sizes, in the report's NORMAL, PNEUMONIA order
    black = np.where(labels == 0, 0.08, 0.02) + 0.02 * rng.random(400)
    # normal images: P falls with black (monotone, not linear); pneumonia images: P rises with it
    reads = np.where(labels == 0, 0.3 - np.exp(20 * black) / 100, 0.7 + black ** 3)
    report = black_margin_report(black, labels, {
        "reads_margins": reads,
        "ignores_them": np.where(labels == 1, 0.7, 0.2) + 0.1 * rng.random(400)}).set_index(["run", "class"])
    assert report.loc["reads_margins", "rho"].tolist() == pytest.approx([-1.0, 1.0])  # ranks, per class, in order
    assert (report.loc["ignores_them", "rho"].abs() < 0.2).all()  # 150-250 images a class: noise near 0.07
    assert report["n_images"].tolist() == [150, 250, 150, 250]
    flat = black_margin_report(np.zeros(4), [0, 0, 1, 1], {"a": [0.1, 0.2, 0.8, 0.9]})  # no margins at all
    assert flat["rho"].isna().all() and flat["p"].isna().all()


def test_strict_deletion_fails_a_model_that_calls_anything_pneumonia():
    size = 32
    model = _fixed_model(size, lambda x: keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
                                                            bias_initializer=keras.initializers.Constant(4.0))(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="conv")(x))))
    images = _images(4, size)
    cams = np.random.default_rng(0).random((4, 6, 6))
    result = deletion_curves(model, images, cams=cams, steps=2)
    assert not result["passed"]
    assert "confident pneumonia" in result["reason"] and result["degraded_probability"]["noise_filled"] > 0.95


def test_strict_deletion_bar_is_the_models_threshold_when_lower():
    # P = 0.70 for anything: not "confident" (0.9), but called pneumonia by a model whose threshold is 0.5
    size = 32
    model = _fixed_model(size, lambda x: keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
                                                            bias_initializer=keras.initializers.Constant(0.85))(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="conv")(x))))
    images, cams = _images(4, size), np.random.default_rng(0).random((4, 6, 6))
    lenient = deletion_curves(model, images, cams=cams, steps=2)
    strict = deletion_curves(model, images, cams=cams, steps=2, threshold=0.5)
    assert lenient["bar"] == 0.9 and "read as" not in lenient["reason"]
    assert strict["bar"] == 0.5 and not strict["passed"]
    assert "mean-filled images read as pneumonia at the model's threshold (mean P = 0.70 >= 0.50)" in strict["reason"]
    assert deletion_curves(model, images, cams=cams, steps=2, threshold=0.95)["bar"] == 0.9  # never more lenient
    with pytest.raises(ValueError, match="threshold=1.5"):
        deletion_curves(model, images, cams=cams, steps=2, threshold=1.5)


def test_views_are_the_clean_images_then_k_augmented_copies():
    images, labels = _images(6, 48), np.array([0, 1, 0, 1, 1, 0])
    out, out_labels = add_views(images, labels, k=2, seed=3)
    assert out.shape == (18, 48, 48) and out.dtype == np.uint8
    assert (out[:6] == images).all() and (out_labels == np.tile(labels, 3)).all()
    assert not (out[6:12] == images).all() and not (out[6:12] == out[12:]).all()
    again, _ = add_views(images, labels, k=2, seed=3)
    assert (again == out).all()  # drawn once from the seed: a resumed run sees the same views
    assert add_views(images, labels, k=0)[0] is images
    flat = np.full((1, 32, 32), 100, np.uint8)
    changed = Photometric(gamma=(2.0, 2.0), contrast=(1, 1), blur=0, noise=0).apply(flat[0], np.random.default_rng())
    assert changed.mean() == pytest.approx(255 * (100 / 255) ** 2, abs=1)


def test_tta_views_shift_and_scale_as_asked():
    assert np.allclose(view_matrix(10, 10, 0, 0, 1.0), np.eye(3))
    image = np.zeros((1, 20, 20), np.uint8); image[0, 10, 5] = 255
    shifted = tta_batch(image, (0.1, 0.0, 1.0))  # 10% of 20 px: two pixels to the right
    assert np.unravel_index(shifted[0].argmax(), (20, 20)) == (10, 7)
    size = 32
    model = _fixed_model(size, lambda x: keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
                                                            bias_initializer="zeros")(
        keras.layers.GlobalAveragePooling2D()(x)))
    assert np.allclose(predict_tta(model, _images(3, size)), 0.5)
    with pytest.raises(ValueError, match="views"):
        predict_tta(model, _images(3, size), views=[(0, 0, 0)])


def test_tta_run_reads_the_identity_view_from_the_runs_own_predictions(synthetic_catalog, tmp_path, monkeypatch):
    import pandas as pd

    import pneumonet.tta as tta
    from pneumonet.experiment import Experiment, run_experiment
    from pneumonet.training import TrainConfig

    experiment = Experiment("tiny", "cnn", head="gap_dense_dropout", weights=None, image_size=32,
                            train=TrainConfig(epochs_head=1, batch_size=16))
    run_experiment(experiment, synthetic_catalog, tmp_path, n_boot=10, verbose=0)
    stored = pd.read_csv(tmp_path / "tiny" / "predictions.csv")
    passes = []
    real_predict_tta = tta.predict_tta

    def counting(model, images, views, identity=None):
        passes.append(sum(identity is None or tuple(v) != tta.IDENTITY for v in views))
        fresh = real_predict_tta(model, images, views=(tta.IDENTITY,))
        if identity is not None:  # the stored prediction is the same quantity as a fresh one, image by image
            np.testing.assert_allclose(identity, fresh, atol=1e-5)
        return real_predict_tta(model, images, views, identity=identity)

    monkeypatch.setattr(tta, "predict_tta", counting)
    tta.write_tta_run(tmp_path, "tiny", synthetic_catalog, views=(tta.IDENTITY,), n_boot=10)
    assert passes == [0, 0]  # val and test: no model pass for the identity view
    again = pd.read_csv(tmp_path / "tiny_tta" / "predictions.csv")
    merged = again.merge(stored, on=["path", "subset"], suffixes=("_tta", ""))
    assert len(merged) == len(stored)
    np.testing.assert_allclose(merged["prob_tta"], merged["prob"], atol=1e-7)


def test_shifted_probabilities_are_the_models_on_each_shifted_copy_clean_first():
    model = _fixed_model(24, lambda x: keras.ops.mean(x, axis=(1, 2)) / 255.0)
    images = _images(6, 24)
    found = list(shifted_probabilities(model, images, shifts=["gamma", "mask"], severities=(1, 3)))
    assert [(s, v) for s, v, _ in found] == [("none", 0), ("gamma", 1), ("gamma", 3), ("mask", 1), ("mask", 3)]
    np.testing.assert_allclose(found[0][2], images.mean(axis=(1, 2)) / 255.0, rtol=1e-5)
    np.testing.assert_allclose(found[4][2], apply_shift(images, "mask", 3).mean(axis=(1, 2)) / 255.0, rtol=1e-5)


def test_threshold_rules_are_chosen_on_one_half_and_judged_on_held_out_shifts_of_the_other():
    module = load_benchmark("thresholds")
    labels = np.array([0] * 10 + [1] * 10)
    by_class = {("none", 0): (0.2, 0.5),  # clean: Youden puts the threshold at 0.5
                ("blur", 1): (0.55, 0.9), ("noise", 1): (0.55, 0.9),  # imitated: shifted normals rise above it
                ("jpeg", 1): (0.7, 0.95)}  # held out: normals higher still, below 0.9
    conditions = {k: np.where(labels == 1, high, low) for k, (low, high) in by_class.items()}
    table = module.cross_fit(labels, np.arange(20), conditions, stored=0.3).set_index("rule")
    clean, shifted = table.loc["Youden, this half, clean"], table.loc["Youden, this half, clean + imitated shifts"]
    assert clean["threshold"] == 0.5 and shifted["threshold"] == 0.9
    assert clean["clean_balanced_accuracy"] == 1.0 and clean["held_out_specificity"] == 0.0
    assert shifted["held_out_balanced_accuracy"] == 1.0  # normals at 0.7 now fall below the threshold
    assert shifted["clean_sensitivity"] == 0.0 and shifted["imitated_balanced_accuracy"] == 1.0
    stored = table.loc["stored (Youden, all validation, clean)"]
    assert stored["threshold"] == 0.3 and stored["imitated_specificity"] == 0.0
    assert [module.group_of(s) for s in ("none", "crop", "marker")] == ["clean", "imitated", "held_out"]
