"""Grad-CAM figures: overlays in a grid, several models side by side, and the colour bar that says what the colours
mean. Each takes ``axes=None`` and returns a ``Drawn`` (``.figure_``, ``.ax_``)."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from pneumonet.explain.overlay import overlay
from pneumonet.plots.base import drawn


def plot_gradcam_grid(images, cams, titles=None, ncols=4, alpha=0.4, axes=None):
    """Overlays in a grid of ``ncols`` columns, with one colour bar."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    if axes is None:
        _, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False)
    axes = np.atleast_2d(axes)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < n:
            ax.imshow(overlay(images[index], cams[index], alpha))
            if titles is not None:
                ax.set_title(titles[index], fontsize=8)
    add_heat_colorbar(axes)
    return drawn(axes)


def add_heat_colorbar(axes, cmap="jet"):
    """One colour bar for a grid of overlays: what the colours of the heatmap mean. Returns it."""
    axes = np.asarray(axes).ravel()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
    bar = axes[0].figure.colorbar(mappable, ax=list(axes), fraction=0.02, pad=0.01)
    bar.set_label("Grad-CAM heat, normalised per image\n(evidence for the explained class)")
    return bar


def plot_models_side_by_side(images, cams_by_model, titles=None, alpha=0.4, axes=None):
    """One row per image, one column per model (plus the image itself), with one colour bar."""
    names = list(cams_by_model)
    if axes is None:
        _, axes = plt.subplots(len(images), len(names) + 1, figsize=(3 * (len(names) + 1), 3 * len(images)),
                               squeeze=False)
    for row, image in enumerate(images):
        axes[row, 0].imshow(np.asarray(image).squeeze(), cmap="gray")
        axes[row, 0].set_title(titles[row] if titles is not None else "image", fontsize=8)
        for col, name in enumerate(names, start=1):
            axes[row, col].imshow(overlay(image, cams_by_model[name][row], alpha))
            axes[row, col].set_title(name, fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    add_heat_colorbar(axes[:, 1:] if len(names) else axes)
    return drawn(axes)
