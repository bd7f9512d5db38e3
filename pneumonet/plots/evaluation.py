"""Evaluation figures, built on scikit-learn's Display classes. Each takes ``ax=None`` and returns what it drew
(a scikit-learn Display, or a ``Drawn``: both have ``.figure_`` and ``.ax_``)."""

import textwrap

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


ZOOM_BELOW = 0.1  # the zoomed corner of a ROC plot: false positive rate up to this, sensitivity from 1 minus it
INSET_MIDDLE = (0.38, 0.3, 0.57, 0.45)  # axes fractions: clear of curves hugging the top-left and of a legend below
INSET_BELOW_CHANCE = (0.53, 0.07, 0.44, 0.36)  # lower right, under the chance diagonal (its corner at 0.53, 0.43)


def zoom_roc_corner(ax, lines, bounds=INSET_MIDDLE):
    """An inset that magnifies the top-left corner of a ROC plot, where curves of AUC near 1 are packed together.

    ``lines``: the curves (and markers) to copy into it; the inset is drawn only when every curve reaches 0.9
    sensitivity by a false positive rate of ``ZOOM_BELOW``, so the corner shows them. ``bounds``: where the inset
    sits, in axes fractions (x, y, width, height). Returns the inset or None.
    """
    curves = [line for line in lines if len(line.get_xdata()) > 1]
    if not curves or not all(np.interp(ZOOM_BELOW, c.get_xdata(), c.get_ydata()) >= 0.9 for c in curves):
        return None
    inset = ax.inset_axes(list(bounds))
    for line in lines:
        inset.plot(line.get_xdata(), line.get_ydata(), color=line.get_color(), linestyle=line.get_linestyle(),
                   marker=line.get_marker(), drawstyle=line.get_drawstyle())
    # an operating point just outside the corner widens it (up to 3 times), so the marker is not cut off
    right, bottom = ZOOM_BELOW, 1 - ZOOM_BELOW
    for x, y in ((m.get_xdata()[0], m.get_ydata()[0]) for m in lines if len(m.get_xdata()) == 1):
        if x <= 3 * ZOOM_BELOW and y >= 1 - 3 * ZOOM_BELOW:
            right, bottom = max(right, x * 1.15), min(bottom, y - 0.15 * (1 - y))
    inset.set(xlim=(0, right), ylim=(bottom, 1.005))
    inset.set_title("top-left corner, magnified", fontsize=8)
    inset.tick_params(labelsize=7)
    inset.grid(alpha=0.3)
    ax.indicate_inset_zoom(inset, edgecolor="0.5")
    return inset


def plot_roc(y_true, y_prob, name=None, threshold=None, zoom=True, ax=None):
    """ROC curve labelled with its AUC to three decimals; marks the operating point at ``threshold`` when given,
    and magnifies the top-left corner in an inset when the curve lives there (``zoom``). Returns the
    ``RocCurveDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    display = RocCurveDisplay.from_predictions(y_true, y_prob, name=name, ax=ax)
    # scikit-learn prints two decimals: 0.996 would read "AUC = 1.00"
    display.line_.set_label(f"{name + ' ' if name else ''}(AUC {display.roc_auc:.3f})")
    lines = [display.line_]
    if threshold is not None:
        y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_prob) >= threshold
        tpr = y_pred[y_true == 1].mean()
        fpr = y_pred[y_true == 0].mean()
        lines += ax.plot(fpr, tpr, "o", color=display.line_.get_color(), label=f"threshold {threshold:.3f}")
    ax.legend(fontsize=8)
    if zoom:
        zoom_roc_corner(ax, lines)
    return display


def plot_pr(y_true, y_prob, name=None, ax=None):
    """Precision-recall curve labelled with its average precision to three decimals, with the chance level (the
    share of PNEUMONIA, which is also the curve's precision at full recall); the precision axis starts just below
    it, so a curve near the top is not squeezed into the upper edge. Returns the ``PrecisionRecallDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    display = PrecisionRecallDisplay.from_predictions(y_true, y_prob, name=name, ax=ax, plot_chance_level=True)
    display.line_.set_label(f"{name + ' ' if name else ''}(AP {display.average_precision:.3f})")
    chance = display.prevalence_pos_label
    display.chance_level_.set_label(f"chance level (share of PNEUMONIA {chance:.2f})")
    ax.set_ylim(max(0.0, chance - 0.05), 1.01)
    ax.set_aspect("auto")  # the Display's square box would shrink the panel to the new y range
    ax.legend(fontsize=8)
    return display


def calibration_counts(y_prob, n_bins=10):
    """Images per bin of a uniform ``n_bins`` reliability curve (scikit-learn's ``calibration_curve`` bin edges):
    the centres and counts of the non-empty bins, the bins scikit-learn draws a point for."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], np.asarray(y_prob, float)), minlength=n_bins)
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[counts > 0], counts[counts > 0]


def plot_calibration(y_true, y_prob, name=None, n_bins=10, ax=None):
    """Reliability curve over ``n_bins`` bins, with each bin's number of images written in a row under the curve
    (a bin of three images can sit far from the diagonal by chance alone). Returns the ``CalibrationDisplay``."""
    ax = one_axes(ax, (4.5, 4))
    display = CalibrationDisplay.from_predictions(y_true, y_prob, n_bins=n_bins, name=name, ax=ax)
    # a band under 0, where no fraction can fall: the counts never sit on the curve or the diagonal, and each
    # bin's count stays at its bin's centre, so the crowded high bins do not overprint
    ax.set_ylim(-0.13, 1.05)
    ax.axhline(-0.02, color="0.8", linewidth=0.8)
    for x, n in zip(*calibration_counts(y_prob, n_bins)):
        ax.text(x, -0.075, f"{n}", ha="center", va="center", fontsize=7, color="0.3")
    return display


def plot_evaluation(y_true, y_prob, threshold, name, split="test", axes=None):
    """Four panels for one model on one split: the confusion matrix at ``threshold`` (chosen on validation), ROC
    (the operating point marked, the corner magnified), precision-recall and calibration. Returns a ``Drawn``."""
    if axes is None:
        _, axes = plt.subplots(1, 4, figsize=(19, 4.8), constrained_layout=True)
    plot_confusion_matrix(y_true, y_prob, threshold, ax=axes[0])
    plot_roc(y_true, y_prob, name=name, threshold=threshold, ax=axes[1])
    plot_pr(y_true, y_prob, name=name, ax=axes[2])
    axes[1].set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC")
    axes[1].legend(loc="lower right", fontsize=8)
    axes[2].set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall")
    axes[2].legend(loc="lower left", fontsize=8)
    plot_calibration(y_true, y_prob, name=name, ax=axes[3])
    # after the Display, which writes its own "(Positive class: 1)" labels
    axes[3].set(xlabel="mean predicted P(PNEUMONIA)", ylabel="fraction PNEUMONIA",
                title="Calibration (bottom row: images per bin)")
    axes[3].legend(loc="best", fontsize=8, framealpha=0.9)  # clear of the points, above or below the diagonal
    axes[0].figure.suptitle(f"{name} on the {split} split ({len(y_true)} images; threshold chosen on validation)")
    return drawn(axes)


METRIC_LABELS = {"roc_auc": "ROC AUC", "sensitivity": "Sensitivity (recall)", "specificity": "Specificity",
                 "accuracy": "Accuracy", "f1": "F1", "precision": "Precision"}


def plot_roc_curves(predictions, ax=None, split="test", zoom=True):
    """ROC curves of several models on the same images, with AUCs to three decimals, the chance line and (``zoom``)
    the top-left corner magnified when every curve lives there.

    ``predictions``: {model name: DataFrame with label, prob}.
    """
    ax = one_axes(ax, (7, 6.5))
    styles = ["-", "--", "-.", ":"]
    colors = plt.get_cmap("tab10").colors
    lines = []
    for i, (name, frame) in enumerate(predictions.items()):
        display = RocCurveDisplay.from_predictions(frame["label"], frame["prob"], ax=ax, name=name,
                                                   plot_chance_level=(i == len(predictions) - 1),
                                                   curve_kwargs=dict(color=colors[i % 10],
                                                                     linestyle=styles[i % len(styles)]))
        display.line_.set_label(f"{name} (AUC {display.roc_auc:.3f})")
        lines.append(display.line_)
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)",
           title=f"ROC curves on the {split} split")
    # beside the axes: with many models a legend inside would cover the magnified corner
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)
    if zoom:
        zoom_roc_corner(ax, lines, bounds=INSET_BELOW_CHANCE)  # this plot draws the chance line: stay off it
    ax.grid(alpha=0.3)
    return drawn(ax)


def plot_model_comparisons(runs, metrics=("roc_auc", "sensitivity", "specificity"), key="test", axes=None):
    """One panel per metric, one row per model: point estimates with 95% interval whiskers, the models ordered by
    validation AUC (best at the top; never by the split shown) when every record has one.

    ``runs``: {model name: metrics record}.
    """
    names = list(runs)
    by_val = all("roc_auc" in runs[n].get("val", {}) for n in names)
    if by_val:
        names.sort(key=lambda n: -runs[n]["val"]["roc_auc"])
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 1.6 + 0.5 * len(names)), sharey=True,
                               constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics):
        frame = {"model": names, **{k: [runs[n][key][metric][k] for n in names] for k in ("value", "low", "high")}}
        plot_model_comparison(frame, metric=metric, ax=ax)
    order = ", ordered by validation AUC (best at the top)" if by_val else ""
    # each panel's axis spans only its intervals (an AUC axis may run from 0.98 to 1): read the tick labels
    axes[0].figure.suptitle(f"Models on the {key} split at each model's validation threshold: 95% patient "
                            f"bootstrap intervals{order}\n(each axis is zoomed to the intervals it shows)")
    return drawn(axes)


def plot_model_comparison(summary, metric="roc_auc", ax=None):
    """Point estimates with 95% interval whiskers, one row per model, the first at the top (``summary_table`` +
    the runs' intervals).

    ``summary`` is a DataFrame with columns model, value, low, high.
    """
    value, low, high = (np.asarray(summary[k], float) for k in ("value", "low", "high"))
    ax = one_axes(ax, (6, 1.2 + 0.45 * len(value)))
    y = np.arange(len(value))
    ax.errorbar(value, y, xerr=np.vstack([value - low, high - value]), fmt="o", capsize=4)
    ax.set_yticks(y, list(summary["model"]))
    ax.set_ylim(len(value) - 0.4, -0.6)  # inverted: the first row at the top
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
    # the strict check's other degraded image: all pixels replaced by noise (all by the mean is the curves' end)
    noise = deletion.get("degraded_probability", {}).get("noise_filled")
    if noise is not None:
        ax.plot([deletion["fractions"][-1]], [noise], "X", color="tab:red", markersize=9,
                label=f"all pixels noise (P = {noise:.2f})")
    bar = deletion.get("bar", deletion.get("confident"))  # results written before the threshold bar have no "bar"
    if bar is not None:  # over the fully degraded end only: the clean start may sit above it
        called = ("confident pneumonia" if bar == deletion.get("confident") else "pneumonia at the model's threshold")
        ax.axhline(bar, xmin=0.8, color="tab:red", linestyle=":", linewidth=1.5,
                   label=f"{called} (P >= {bar:.2f}): fully degraded images must stay below")
    ax.set(xlabel="fraction of pixels replaced by the image mean", ylabel="mean P(PNEUMONIA)", ylim=(-0.02, 1.02),
           title=f"Deletion check{f', {name}' if name else ''}: {'passed' if deletion['passed'] else 'FAILED'}")
    if not deletion["passed"]:
        # wrapped by hand, a reason a paragraph: matplotlib's wrap=True wraps at the figure's edge, past the axes
        ax.text(0.02, 0.02, "\n".join(textwrap.fill(reason, 70) for reason in deletion["reason"].split("; ")),
                transform=ax.transAxes, fontsize=8, va="bottom")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    ax.grid(alpha=0.3)
    return drawn(ax)
