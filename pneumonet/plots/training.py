"""Training curves across both phases, with the phase boundary marked."""

import matplotlib.pyplot as plt

from pneumonet.plots.base import drawn


def plot_history(history, metrics=("loss", "auc"), axes=None, name=None):
    """One panel per metric (train and validation); a dashed line where fine-tuning starts and a star at the
    epoch with the best validation AUC (the one kept). Returns a ``Drawn`` (``.figure_``, ``.ax_``)."""
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5))
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    boundary = history.loc[history["phase"] == 2, "epoch"].min() if "phase" in history else None
    for ax, metric in zip(axes, metrics):
        for column, style in ((metric, "-o"), (f"val_{metric}", "-s")):
            if column in history:
                label = ("validation" if column.startswith("val_") else "training (augmented, dropout on)")
                ax.plot(history["epoch"], history[column], style, label=label, markersize=3)
        if boundary == boundary and boundary is not None:  # not NaN: phase 2 happened
            ax.axvline(boundary - 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        if "val_auc" in history and f"val_{metric}" in history and history["val_auc"].notna().any():
            best = history.loc[history["val_auc"].idxmax()]
            ax.plot(best["epoch"], best[f"val_{metric}"], "*", color="black", markersize=12,
                    label=f"kept: epoch {int(best['epoch'])}")
        label = {"loss": "cross-entropy loss", "auc": "ROC AUC"}.get(metric, metric)
        ax.set(xlabel="epoch", ylabel=label, title=f"{name}: {label}" if name else label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return drawn(axes)
