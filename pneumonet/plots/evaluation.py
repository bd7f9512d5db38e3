"""Evaluation figures, built on scikit-learn's Display classes. Each takes ``ax=None`` and returns what it drew
(a scikit-learn Display, or a ``Drawn``: both have ``.figure_`` and ``.ax_``)."""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

from pneumonet.plots.base import drawn, one_axes


def plot_confusion_matrix(y_true, y_prob, threshold=0.5, ax=None, labels=("NORMAL", "PNEUMONIA")):
    """Confusion matrix at ``threshold``; returns the ``ConfusionMatrixDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    display = ConfusionMatrixDisplay.from_predictions(np.asarray(y_true).astype(int), y_pred, labels=[0, 1],
                                                      display_labels=list(labels), ax=ax, colorbar=False,
                                                      cmap="Blues")
    ax.set_title(f"threshold {threshold:.3f}")
    return display


def plot_roc(y_true, y_prob, name=None, threshold=None, ax=None):
    """ROC curve; marks the operating point at ``threshold`` when given. Returns the ``RocCurveDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    display = RocCurveDisplay.from_predictions(y_true, y_prob, name=name, ax=ax)
    if threshold is not None:
        y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_prob) >= threshold
        tpr = y_pred[y_true == 1].mean()
        fpr = y_pred[y_true == 0].mean()
        ax.plot(fpr, tpr, "o", color=display.line_.get_color(), label=f"threshold {threshold:.2f}")
        ax.legend(fontsize=8)
    return display


def plot_pr(y_true, y_prob, name=None, ax=None):
    """Precision-recall curve; returns the ``PrecisionRecallDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    return PrecisionRecallDisplay.from_predictions(y_true, y_prob, name=name, ax=ax)


def plot_calibration(y_true, y_prob, name=None, n_bins=10, ax=None):
    """Reliability curve over ``n_bins`` bins; returns the ``CalibrationDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    return CalibrationDisplay.from_predictions(y_true, y_prob, n_bins=n_bins, name=name, ax=ax)


METRIC_LABELS = {"roc_auc": "ROC AUC", "sensitivity": "Sensitivity (recall)", "specificity": "Specificity",
                 "accuracy": "Accuracy", "f1": "F1", "precision": "Precision"}


def plot_roc_curves(predictions, ax=None, split="test"):
    """ROC curves of several models on the same images, with AUCs to three decimals and the chance line.

    ``predictions``: {model name: DataFrame with label, prob}.
    """
    ax = one_axes(ax, (7, 6.5))
    styles = ["-", "--", "-.", ":"]
    colors = plt.get_cmap("tab10").colors
    for i, (name, frame) in enumerate(predictions.items()):
        display = RocCurveDisplay.from_predictions(frame["label"], frame["prob"], ax=ax, name=name,
                                                   plot_chance_level=(i == len(predictions) - 1),
                                                   curve_kwargs=dict(color=colors[i % 10],
                                                                     linestyle=styles[i % len(styles)]))
        display.line_.set_label(f"{name} (AUC {display.roc_auc:.3f})")
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)",
           title=f"ROC curves on the {split} split")
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    return drawn(ax)


def plot_model_comparisons(runs, metrics=("roc_auc", "sensitivity", "specificity"), key="test", axes=None):
    """One panel per metric, one row per model: point estimates with 95% interval whiskers.

    ``runs``: {model name: metrics record}.
    """
    names = list(runs)
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 1.6 + 0.5 * len(names)), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics):
        frame = {"model": names, **{k: [runs[n][key][metric][k] for n in names] for k in ("value", "low", "high")}}
        plot_model_comparison(frame, metric=metric, ax=ax)
    axes[0].figure.suptitle(f"Models on the {key} split, at each model's validation threshold (95% patient "
                            "bootstrap intervals)")
    return drawn(axes)


def plot_model_comparison(summary, metric="roc_auc", ax=None):
    """Point estimates with 95% interval whiskers, one row per model (``summary_table`` + the runs' intervals).

    ``summary`` is a DataFrame with columns model, value, low, high.
    """
    value, low, high = (np.asarray(summary[k], float) for k in ("value", "low", "high"))
    ax = one_axes(ax, (6, 1.2 + 0.45 * len(value)))
    y = np.arange(len(value))
    ax.errorbar(value, y, xerr=np.vstack([value - low, high - value]), fmt="o", capsize=4)
    ax.set_yticks(y, list(summary["model"]))
    ax.set_ylim(-0.6, len(value) - 0.4)
    label = METRIC_LABELS.get(metric, metric)
    ax.set(xlabel=f"{label} (95% CI)", title=label)
    ax.grid(axis="x", alpha=0.3)
    return drawn(ax)


def plot_deletion(deletion, name=None, ax=None):
    """The deletion check (``explain.deletion_curves``): P(PNEUMONIA) as pixels are deleted, hottest first and
    at random, with the verdict in the title."""
    ax = one_axes(ax, (6.5, 4.5))
    ax.plot(deletion["fractions"], deletion["gradcam"], "-o", label="hottest pixels first (Grad-CAM)")
    ax.plot(deletion["fractions"], deletion["random"], "-s", label="random pixels")
    ax.set(xlabel="fraction of pixels replaced by the image mean", ylabel="mean P(PNEUMONIA)", ylim=(-0.02, 1.02),
           title=f"Deletion check{f', {name}' if name else ''}: {'passed' if deletion['passed'] else 'FAILED'}")
    if not deletion["passed"]:
        ax.text(0.02, 0.02, deletion["reason"], transform=ax.transAxes, fontsize=8, wrap=True, va="bottom")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=9)
    ax.grid(alpha=0.3)
    return drawn(ax)
