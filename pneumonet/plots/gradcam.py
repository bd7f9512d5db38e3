"""Grad-CAM figures: overlays in a grid, several models side by side, and the colour bar that says what the colours
mean. Each takes ``axes=None`` and returns a ``Drawn`` (``.figure_``, ``.ax_``)."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from pneumonet.explain.overlay import overlay
from pneumonet.plots.base import drawn


def plot_gradcam_grid(images, cams, titles=None, ncols=4, alpha=0.4, title=None, axes=None):
    """Overlays in a grid of ``ncols`` columns, with one colour bar; ``title`` (the model and split, say) goes
    above the grid."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    if axes is None:
        _, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False,
                               constrained_layout=True)
    axes = np.atleast_2d(axes)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < n:
            ax.imshow(overlay(images[index], cams[index], alpha))
            if titles is not None:
                ax.set_title(titles[index], fontsize=9)
    add_heat_colorbar(axes)
    if title:
        axes.flat[0].figure.suptitle(title)
    return drawn(axes)


def add_heat_colorbar(axes, cmap="jet", method="Grad-CAM"):
    """One colour bar for a grid of overlays: what the colours of the heatmap mean (``method``: the name of the
    method that made every map, or ``None`` when the grid mixes methods). Returns it."""
    axes = np.asarray(axes).ravel()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
    bar = axes[0].figure.colorbar(mappable, ax=list(axes), fraction=0.02, pad=0.01)
    bar.set_label(f"{method + ' heat' if method else 'Heat'}, normalised per image\n(evidence for the explained class)")
    return bar


def plot_models_side_by_side(images, cams_by_model, titles=None, cell_titles=None, alpha=0.4, method="Grad-CAM",
                             title=None, axes=None):
    """One row per image, one column per map (a model, or a method) after the image itself, with one colour bar.

    Args:
        cams_by_model: {column name: one map per image}.
        titles: one title per image for the first column (for example its true class).
        cell_titles: {column name: one title per image} for the maps (for example what that model decided);
            each column is titled with its name otherwise.
        method: what made every map, for the colour bar; ``None`` when the columns are different methods.
        title: above the figure (the model or models, and the split).
    """
    names = list(cams_by_model)
    if axes is None:
        _, axes = plt.subplots(len(images), len(names) + 1, figsize=(3 * (len(names) + 1), 3.3 * len(images)),
                               squeeze=False, constrained_layout=True)
    for row, image in enumerate(images):
        axes[row, 0].imshow(np.asarray(image).squeeze(), cmap="gray")
        axes[row, 0].set_title(titles[row] if titles is not None else "image", fontsize=9)
        for col, name in enumerate(names, start=1):
            axes[row, col].imshow(overlay(image, cams_by_model[name][row], alpha))
            axes[row, col].set_title(cell_titles[name][row] if cell_titles else name, fontsize=9)
        for ax in axes[row]:
            ax.axis("off")
    add_heat_colorbar(axes[:, 1:] if len(names) else axes, method=method)
    if title:
        axes[0, 0].figure.suptitle(title)
    return drawn(axes)
