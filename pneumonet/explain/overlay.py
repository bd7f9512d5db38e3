"""Heatmaps on images: overlays, class grids, outcome grids (TP/FP/TN/FN), models side by side."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from pneumonet.explain.gradcam import upsample


def overlay(image, cam, alpha=0.4, cmap="jet"):
    """RGB float image in [0, 1]: the grayscale X-ray with the heatmap resized and blended on top."""
    image = np.asarray(image, dtype="float32")
    if image.ndim == 3:
        image = image[..., 0]
    gray = (image - image.min()) / (np.ptp(image) or 1.0)
    heat = upsample(cam[None], image.shape)[0]
    colored = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return np.clip((1 - alpha) * np.repeat(gray[..., None], 3, axis=-1) + alpha * colored, 0.0, 1.0)


def plot_gradcam_grid(images, cams, titles=None, ncols=4, alpha=0.4, axes=None):
    """Overlays in a grid; returns the array of Axes."""
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
    return axes


def add_heat_colorbar(axes, cmap="jet"):
    """One colour bar for a grid of overlays: what the colours of the heatmap mean. Returns it."""
    axes = np.asarray(axes).ravel()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
    bar = axes[0].figure.colorbar(mappable, ax=list(axes), fraction=0.02, pad=0.01)
    bar.set_label("Grad-CAM heat (normalised per image): evidence for the explained class")
    return bar


def outcome_labels(y_true, y_prob, threshold):
    """TP/FP/TN/FN per image."""
    y_true, y_pred = np.asarray(y_true).astype(int), (np.asarray(y_prob) >= threshold).astype(int)
    return np.where(y_pred == 1, np.where(y_true == 1, "TP", "FP"), np.where(y_true == 0, "TN", "FN"))


def pick_by_outcome(y_true, y_prob, threshold, per_outcome=2, seed=0):
    """Indices of up to ``per_outcome`` images for each of TP, FP, TN, FN."""
    outcomes = outcome_labels(y_true, y_prob, threshold)
    rng = np.random.default_rng(seed)
    chosen = []
    for outcome in ("TP", "FP", "TN", "FN"):
        idx = np.flatnonzero(outcomes == outcome)
        chosen.extend(rng.choice(idx, min(per_outcome, len(idx)), replace=False).tolist())
    return chosen, outcomes


def plot_models_side_by_side(images, cams_by_model, titles=None, alpha=0.4, axes=None):
    """One row per image, one column per model (plus the image itself); returns the Axes."""
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
    return axes
