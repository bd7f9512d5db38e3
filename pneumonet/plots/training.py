"""Training curves across both phases, with the phase boundary marked."""

import matplotlib.pyplot as plt

from pneumonet.plots.base import drawn


def plot_history(history, metrics=("loss", "auc"), axes=None, name=None, labels=None, loss_floor=None):
    """One panel per metric (train and validation); a dashed line where fine-tuning starts and a star at the
    epoch with the best validation AUC (the one kept). One legend below the panels, where it hides no curve.
    ``labels``: {metric: axis label} replacing the defaults. ``loss_floor``: the lowest loss the training can
    reach (``training.loss_floor`` of its label smoothing), drawn on the loss panel. Returns a ``Drawn``
    (``.figure_``, ``.ax_``)."""
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), constrained_layout=True)
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    boundary = history.loc[history["phase"] == 2, "epoch"].min() if "phase" in history else None
    for ax, metric in zip(axes, metrics):
        for column, style in ((metric, "-o"), (f"val_{metric}", "-s")):
            if column in history:
                # training metrics are measured on the batches as trained: dropout on, and the recipe's
                # augmentation if it has one, so they can sit below the validation curve
                label = "validation" if column.startswith("val_") else "training (as trained: dropout on)"
                ax.plot(history["epoch"], history[column], style, label=label, markersize=3)
        if boundary == boundary and boundary is not None:  # not NaN: phase 2 happened
            ax.axvline(boundary - 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        if "val_auc" in history and f"val_{metric}" in history and history["val_auc"].notna().any():
            best = history.loc[history["val_auc"].idxmax()]
            ax.plot(best["epoch"], best[f"val_{metric}"], "*", color="black", markersize=12,
                    label=f"kept: epoch {int(best['epoch'])} (best validation AUC)")
        if metric == "loss" and loss_floor:  # smoothed targets: no model can go below it
            ax.axhline(loss_floor, color="0.4", linestyle=":", label=f"lowest possible loss {loss_floor:.3f} "
                                                                     "(label smoothing)")
        label = {"loss": "cross-entropy loss", "auc": "ROC AUC", **(labels or {})}.get(metric, metric)
        ax.set(xlabel="epoch", ylabel=label, title=f"{name}: {label}" if name else label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    # one row for up to four entries, else two rows: a row of five runs past the edge of a two-panel figure
    ncol = len(labels) if len(labels) <= 4 else (len(labels) + 1) // 2
    axes[0].figure.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=9, frameon=False)
    return drawn(axes)
