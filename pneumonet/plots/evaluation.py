"""Evaluation figures, built on scikit-learn's Display classes. Each takes ``ax=None`` and returns what it drew."""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay


def _axes(ax, figsize=(4.5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_confusion_matrix(y_true, y_prob, threshold=0.5, ax=None, labels=("NORMAL", "PNEUMONIA")):
    """Confusion matrix at ``threshold``; returns the ``ConfusionMatrixDisplay``."""
    ax = _axes(ax)
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    display = ConfusionMatrixDisplay.from_predictions(np.asarray(y_true).astype(int), y_pred, labels=[0, 1],
                                                      display_labels=list(labels), ax=ax, colorbar=False,
                                                      cmap="Blues")
    ax.set_title(f"threshold {threshold:.3f}")
    return display


def plot_roc(y_true, y_prob, name=None, threshold=None, ax=None):
    """ROC curve; marks the operating point at ``threshold`` when given. Returns the ``RocCurveDisplay``."""
    ax = _axes(ax)
    display = RocCurveDisplay.from_predictions(y_true, y_prob, name=name, ax=ax)
    if threshold is not None:
        y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_prob) >= threshold
        tpr = y_pred[y_true == 1].mean()
        fpr = y_pred[y_true == 0].mean()
        ax.plot(fpr, tpr, "o", color=display.line_.get_color(), label=f"threshold {threshold:.2f}")
        ax.legend(fontsize=8)
    return display


def plot_pr(y_true, y_prob, name=None, ax=None):
    ax = _axes(ax)
    return PrecisionRecallDisplay.from_predictions(y_true, y_prob, name=name, ax=ax)


def plot_calibration(y_true, y_prob, name=None, n_bins=10, ax=None):
    ax = _axes(ax)
    return CalibrationDisplay.from_predictions(y_true, y_prob, n_bins=n_bins, name=name, ax=ax)


def plot_model_comparison(summary, metric="roc_auc", ax=None):
    """Point estimates with 95% interval whiskers, one row per model (``summary_table`` + the runs' intervals).

    ``summary`` is a DataFrame with columns model, value, low, high.
    """
    ax = _axes(ax, figsize=(6, 0.5 + 0.45 * len(summary)))
    y = np.arange(len(summary))
    errors = np.vstack([summary["value"] - summary["low"], summary["high"] - summary["value"]])
    ax.errorbar(summary["value"], y, xerr=errors, fmt="o", capsize=4)
    ax.set_yticks(y, summary["model"])
    ax.set(xlabel=f"{metric} (95% CI)", title=f"Model comparison: {metric}")
    ax.grid(axis="x", alpha=0.3)
    return ax
