"""One rule for every figure: it returns what it drew with ``.figure_`` and ``.ax_``, like scikit-learn's Displays."""

import matplotlib
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest

from pneumonet import plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def _record(rng):
    def interval(value):
        return {"value": value, "low": value - 0.02, "high": min(1.0, value + 0.02)}

    return {"test": {m: interval(float(rng.uniform(0.8, 0.95))) for m in ("roc_auc", "sensitivity", "specificity")}}


@pytest.fixture
def drawings():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = np.clip(y * 0.5 + rng.random(60) * 0.5, 0, 1)
    frame = pd.DataFrame({"label": y, "prob": p})
    history = pd.DataFrame({"epoch": [1, 2, 3], "phase": [1, 1, 2], "loss": [0.6, 0.5, 0.4],
                            "val_loss": [0.55, 0.5, 0.45], "auc": [0.8, 0.85, 0.9], "val_auc": [0.8, 0.9, 0.88]})
    shifts = pd.DataFrame([{"run": r, "split": "val", "shift": s, "severity": v, "auc": 0.9, "specificity": 0.8,
                            "n_images": 40} for r in ("a", "b") for s, v in (("none", 0), ("gamma", 1), ("gamma", 2))])
    deletion = {"fractions": [0, 0.5, 1], "gradcam": [0.9, 0.5, 0.2], "random": [0.9, 0.8, 0.7], "passed": True}
    images, cams = rng.integers(0, 255, (2, 16, 16)), rng.random((2, 4, 4))
    return {
        "confusion": plots.plot_confusion_matrix(y, p, 0.5), "roc": plots.plot_roc(y, p, threshold=0.5),
        "pr": plots.plot_pr(y, p), "calibration": plots.plot_calibration(y, p),
        "roc_curves": plots.plot_roc_curves({"a": frame, "b": frame}),
        "comparisons": plots.plot_model_comparisons({"a": _record(rng), "b": _record(rng)}),
        "deletion": plots.plot_deletion(deletion), "history": plots.plot_history(history, name="m"),
        "robustness": plots.plot_robustness(shifts), "grid": plots.plot_gradcam_grid(images, cams, ncols=2),
        "side": plots.plot_models_side_by_side(images, {"a": cams}),
    }


def test_every_plot_returns_its_figure_and_axes(drawings):
    for name, drawn in drawings.items():
        axes = np.ravel(drawn.ax_)
        assert isinstance(drawn.figure_, matplotlib.figure.Figure), name
        assert all(ax.figure is drawn.figure_ for ax in axes), name  # the figure that holds what was drawn
    assert np.shape(drawings["comparisons"].ax_) == (3,) and np.shape(drawings["grid"].ax_) == (1, 2)


def test_calibration_bins_are_labelled_with_their_image_counts_under_the_curve():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    p = np.array([0.01, 0.05, 0.08, 0.15, 0.55, 0.58, 0.89, 0.91, 0.99, 1.0])  # bins 0.0, 0.1, 0.5, 0.8 and 0.9
    centres, counts = plots.evaluation.calibration_counts(p)
    assert counts.tolist() == [3, 1, 2, 1, 3] and np.allclose(centres, [0.05, 0.15, 0.55, 0.85, 0.95])
    display = plots.plot_calibration(y, p)
    assert len(display.prob_pred) == len(counts)  # one count per point scikit-learn draws (same bin edges)
    ax = display.ax_
    assert [t.get_text() for t in ax.texts] == ["3", "1", "2", "1", "3"]
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    # the points at 0.89 and 0.91 sit 0.02 apart; their counts do not overprint, and all lie under the curve
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))
    lowest_point = ax.transData.transform((0, min(display.prob_true)))[1]
    assert all(box.y1 < lowest_point for box in boxes) and all(box.y0 > ax.get_window_extent(renderer).y0
                                                               for box in boxes)


def test_pr_axis_starts_below_the_chance_level_it_draws():
    y = np.array([0] * 30 + [1] * 70)
    p = np.where(y == 1, 0.6, 0.4) + np.linspace(0, 0.3, 100)
    display = plots.plot_pr(y, p)
    assert np.allclose(display.chance_level_.get_ydata(), 0.7)  # the share of PNEUMONIA
    low, high = display.ax_.get_ylim()
    assert np.isclose(low, 0.65) and high > 1 and min(display.line_.get_ydata()) >= low


def test_image_sizes_draw_small_groups_on_top_of_large_ones_at_the_same_size():
    inspected = pd.DataFrame({"subset": ["train"] * 6 + ["val"] * 3 + ["test"] * 2 + ["train"],
                              "width": [224] * 11 + [900], "height": [224] * 11 + [700]})
    points = plots.plot_image_sizes(inspected).ax_.collections[0]
    drawn_sizes = points.get_sizes()
    assert len(drawn_sizes) == 4 and list(drawn_sizes) == sorted(drawn_sizes, reverse=True)  # the last drawn is on top
    assert [t.get_text() for t in plots.plot_image_sizes(inspected).ax_.get_legend().get_texts()][1:4] == \
        ["test", "train", "val"]


def test_roc_corner_is_magnified_only_when_the_curves_live_there():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 100)
    separable = np.where(y == 1, 0.6 + 0.4 * rng.random(200), 0.55 * rng.random(200))  # AUC 1
    noisy = rng.random(200)  # AUC about 0.5: nothing to magnify
    frame = pd.DataFrame({"label": y, "prob": separable})
    assert len(plots.plot_roc(y, separable, threshold=0.58).ax_.child_axes) == 1
    assert len(plots.plot_roc(y, noisy).ax_.child_axes) == 0
    assert len(plots.plot_roc(y, separable, zoom=False).ax_.child_axes) == 0
    both = plots.plot_roc_curves({"a": frame, "b": frame.assign(prob=np.clip(separable + 0.05, 0, 1))})
    inset = both.ax_.child_axes[0]
    assert len(inset.lines) == 2 and inset.get_xlim() == (0, plots.evaluation.ZOOM_BELOW)
    # with the chance line drawn, the inset (its tick labels and title included) stays under the diagonal
    renderer = both.figure_.canvas.get_renderer()
    left, top = both.ax_.transData.inverted().transform(inset.get_tightbbox(renderer).corners()[1])
    assert top < left


def test_comparison_rows_are_ordered_by_validation_auc_best_at_the_top():
    def record(val_auc, test_auc):
        interval = {"value": test_auc, "low": test_auc - 0.01, "high": test_auc + 0.01}
        return {"val": {"roc_auc": val_auc}, "test": {m: interval for m in ("roc_auc", "sensitivity", "specificity")}}

    runs = {"a": record(0.90, 0.99), "b": record(0.97, 0.91), "c": record(0.95, 0.95)}
    ax = plots.plot_model_comparisons(runs).ax_[0]
    rows = {label.get_text(): y for label, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    top_to_bottom = sorted(rows, key=lambda name: rows[name] if ax.yaxis_inverted() else -rows[name])
    assert top_to_bottom == ["b", "c", "a"]  # by validation, not by the test AUC shown


def test_robustness_figure_has_a_clean_column_first():
    shifts = pd.DataFrame([{"run": r, "split": "val", "shift": s, "severity": v, "auc": a, "specificity": 0.8,
                            "n_images": 40} for r, a in (("a", 0.9), ("b", 0.8))
                           for s, v in (("none", 0), ("gamma", 1), ("blur", 1), ("jpeg", 1))])
    ax = plots.plot_robustness(shifts).ax_[1]  # the bottom panel carries the shared x labels
    assert [t.get_text() for t in ax.get_xticklabels()] == ["clean", "gamma", "blur", "jpeg\n(held out)"]


def test_figures_show_the_numbers_their_notes_name():
    # the deletion figure shows the noise-filled image and the confidence limit its verdict is about
    deletion = {"fractions": [0, 0.5, 1], "gradcam": [0.9, 0.5, 0.2], "random": [0.9, 0.8, 0.7], "passed": False,
                "reason": "noise-filled images read as confident pneumonia", "confident": 0.9,
                "degraded_probability": {"mean_filled": 0.7, "noise_filled": 0.93}}
    ax = plots.plot_deletion(deletion).ax_
    labels = ax.get_legend_handles_labels()[1]
    assert "all pixels noise (P = 0.93)" in labels and any(label.startswith("confident pneumonia (P >= 0.90)")
                                                            for label in labels)
    limit = next(line for line in ax.lines if line.get_label().startswith("confident"))
    assert limit.get_xdata()[0] >= 0.5  # drawn over the fully degraded end only, not over the clean images
    at_threshold = plots.plot_deletion({**deletion, "threshold": 0.5, "bar": 0.5, "reason": (
        "mean-filled images read as pneumonia at the model's threshold (mean P = 0.86 >= 0.57); noise-filled images "
        "read as pneumonia at the model's threshold (mean P = 0.93 >= 0.57)")}).ax_  # the model's lower bar
    renderer = at_threshold.figure.canvas.get_renderer()
    text = at_threshold.texts[0]
    assert text.get_text().startswith("mean-filled") and "\nnoise-filled" in text.get_text()  # a reason a paragraph
    assert text.get_window_extent(renderer).x1 <= at_threshold.get_window_extent(renderer).x1
    limit = next(line for line in at_threshold.lines if "threshold" in line.get_label())
    assert limit.get_label().startswith("pneumonia at the model's threshold (P >= 0.50)") and limit.get_ydata()[0] == 0.5
    # specificity under shift says how few normals it counts
    shifts = pd.DataFrame([{"run": "a", "split": "val", "shift": s, "severity": v, "auc": 0.9, "specificity": 0.8,
                            "n_images": 40, "n_normal": 20} for s, v in (("none", 0), ("gamma", 1))])
    assert "20 normal images: steps of 0.05" in plots.plot_robustness(shifts).ax_[1].get_ylabel()
    # each bar carries its count: a 16-image subset beside thousands is otherwise invisible
    catalog = pd.DataFrame({"subset": ["train"] * 300 + ["official_val"] * 16,
                            "class_name": ["NORMAL", "PNEUMONIA"] * 158})
    ax = plots.plot_class_distribution(catalog).ax_
    assert sorted(t.get_text() for t in ax.texts) == ["150", "150", "8", "8"]


def test_roc_inset_keeps_an_operating_point_just_outside_the_corner():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 100)
    # every pneumonia above every normal; 15 normals just under them, so a threshold of 0.55 has FPR 0.15
    normal = np.concatenate([0.5 * rng.random(85), 0.55 + 0.04 * rng.random(15)])
    ax = plots.plot_roc(y, np.concatenate([normal, 0.6 + 0.4 * rng.random(100)]), threshold=0.55).ax_
    marker = next(line for line in ax.lines if len(line.get_xdata()) == 1)
    assert marker.get_label() == "threshold 0.550" and marker.get_xdata()[0] == pytest.approx(0.15)
    assert ax.child_axes[0].get_xlim()[1] > 0.15
