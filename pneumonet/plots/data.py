"""Figures about the data. Each function takes ``ax=None`` and returns the Axes it drew on."""

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from pneumonet.data.images import load_image


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_class_distribution(catalog, column="subset", ax=None):
    """Images per split (or subset) and class."""
    ax = _axes(ax)
    sns.countplot(data=catalog, x=column, hue="class_name", ax=ax)
    ax.set(title="Images per split and class", xlabel=column, ylabel="images")
    return ax


def plot_sample_grid(catalog, n_per_class=4, image_size=(224, 224), seed=0, axes=None):
    """A grid of example images, one row per class; returns the array of Axes."""
    classes = sorted(catalog["class_name"].unique())
    if axes is None:
        _, axes = plt.subplots(len(classes), n_per_class, figsize=(2.2 * n_per_class, 2.4 * len(classes)))
    axes = np.atleast_2d(axes)
    for row, class_name in enumerate(classes):
        rows = catalog[catalog["class_name"] == class_name].sample(n_per_class, random_state=seed, replace=False)
        for col, (_, item) in enumerate(rows.iterrows()):
            axes[row, col].imshow(load_image(item["path"], image_size), cmap="gray")
            axes[row, col].set_title(f"{class_name}\n{item['subtype']}, {item['patient_id']}", fontsize=8)
            axes[row, col].axis("off")
    return axes


def plot_intensity_histograms(catalog, n_per_class=100, image_size=(224, 224), seed=0, ax=None):
    """Pixel-intensity distributions per class, from a sample of images."""
    ax = _axes(ax)
    for class_name, rows in catalog.groupby("class_name"):
        rows = rows.sample(min(n_per_class, len(rows)), random_state=seed)
        pixels = np.concatenate([load_image(p, image_size).ravel()[::16] for p in rows["path"]])
        sns.histplot(pixels, bins=64, stat="density", element="step", fill=False, label=class_name, ax=ax)
    ax.set(title="Pixel intensities", xlabel="intensity (0-255)")
    ax.legend()
    return ax


def plot_image_sizes(inspected, ax=None):
    """Width against height of every image (needs ``inspect_images`` columns)."""
    ax = _axes(ax)
    sns.scatterplot(data=inspected, x="width", y="height", hue="split", alpha=0.5, s=12, ax=ax)
    ax.set(title="Image sizes (px)")
    return ax
