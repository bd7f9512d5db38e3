"""One rule for every figure: it returns what it drew with ``.figure_`` and ``.ax_``, like scikit-learn's Displays."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from pneumonet import plots

matplotlib.use("Agg")


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
