"""The shift benchmark as a figure. Takes ``axes=None`` and returns a ``Drawn`` (``.figure_``, ``.ax_``)."""

import matplotlib.pyplot as plt
import seaborn as sns

from pneumonet.evaluation.robustness import HELD_OUT
from pneumonet.plots.base import drawn


def plot_robustness(frame, split="val", axes=None):
    """AUC and specificity (at each model's stored threshold) per shift, one colour per run.

    ``frame`` is ``robustness.csv``: columns run, split, shift, severity, auc, specificity. The first column,
    "clean", is each run on the unshifted images; after it, points are the mean over severities and bars their
    range, with a light band at the clean values to read the drop against (two panels). Shifts in ``HELD_OUT``
    (shifts no training augmentation imitates) are labelled "held out" under their name.
    """
    frame = frame[frame["split"] == split].replace({"shift": {"none": "clean"}})
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(13, 8), sharex=True, constrained_layout=True)
    palette = dict(zip(sorted(frame["run"].unique()), sns.color_palette("colorblind")))
    order = ["clean"] + [s for s in frame["shift"].unique() if s != "clean"]
    clean = frame[frame["shift"] == "clean"]
    for ax, metric, label in ((axes[0], "auc", "AUC"), (axes[1], "specificity", "specificity at stored threshold")):
        sns.pointplot(data=frame, x="shift", y=metric, hue="run", order=order, palette=palette,
                      errorbar=("pi", 100), dodge=0.5 if len(palette) > 1 else False, linestyle="none", markers="o",
                      capsize=0.1, ax=ax)
        if len(clean):  # one band from the worst to the best clean value, instead of one line per run
            ax.axhspan(clean[metric].min(), clean[metric].max(), color="0.85", zorder=0)
        if metric == "specificity" and "n_normal" in frame and len(frame):  # few normals: coarse steps
            normals = int(frame["n_normal"].iloc[0])
            label += f"\n({normals} normal images: steps of {1 / max(normals, 1):.2g})"
        ax.set(ylabel=label, xlabel="")
        ax.grid(axis="y", alpha=0.3)
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, labels, title="model\n(grey band: clean\nvalues)", loc="upper left",
                   bbox_to_anchor=(1.01, 1), fontsize=10, title_fontsize=10)
    n = int(frame["n_images"].iloc[0]) if "n_images" in frame else None
    axes[0].set_title(f"Shift benchmark on the {split} split ({n} images; shifts at severities 1-3: point = mean, "
                      "bar = range)")
    axes[1].set_xlabel("synthetic acquisition shift (held out: no training augmentation imitates it)")
    axes[1].set_xticks(range(len(order)), [f"{s}\n(held out)" if s in HELD_OUT else s for s in order])
    return drawn(axes)
