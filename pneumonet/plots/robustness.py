"""The shift benchmark as a figure. Takes ``axes=None`` and returns a ``Drawn`` (``.figure_``, ``.ax_``)."""

import matplotlib.pyplot as plt
import seaborn as sns

from pneumonet.plots.base import drawn


def plot_robustness(frame, split="val", axes=None):
    """AUC and specificity (at each model's stored threshold) per shift, one colour per run.

    ``frame`` is ``robustness.csv``: columns run, split, shift, severity, auc, specificity. Points are the mean
    over severities, bars their range; the dashed line is each run's clean value (two panels).
    """
    frame = frame[frame["split"] == split]
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(13, 8), sharex=True, constrained_layout=True)
    shifted = frame[frame["shift"] != "none"]
    palette = dict(zip(sorted(frame["run"].unique()), sns.color_palette("colorblind")))
    for ax, metric, label in ((axes[0], "auc", "AUC"), (axes[1], "specificity", "specificity at stored threshold")):
        sns.pointplot(data=shifted, x="shift", y=metric, hue="run", palette=palette, errorbar=("pi", 100),
                      dodge=0.5 if len(palette) > 1 else False, linestyle="none", markers="o", capsize=0.1, ax=ax)
        for run, rows in frame[frame["shift"] == "none"].groupby("run"):
            ax.axhline(rows[metric].iloc[0], color=palette[run], linestyle="--", linewidth=1)
        ax.set(ylabel=label, xlabel="")
        ax.grid(axis="y", alpha=0.3)
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, labels, title="model\n(dashed: clean)", loc="upper left", bbox_to_anchor=(1.01, 1),
                   fontsize=10, title_fontsize=10)
    n = int(frame["n_images"].iloc[0]) if "n_images" in frame else None
    axes[0].set_title(f"Shift benchmark on the {split} split ({n} images, severities 1-3: point = mean, bar = range)")
    axes[1].set_xlabel("synthetic acquisition shift")
    return drawn(axes)
