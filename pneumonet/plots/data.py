"""Figures about the data. Each takes ``ax=None`` and returns a ``Drawn`` (``.figure_``, ``.ax_``)."""

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

import warnings

from pneumonet.data.images import load_image
from pneumonet.errors import ImageLoadError
from pneumonet.plots.base import drawn, one_axes


def _readable(paths, image_size, limit=None):
    """(path, image) for the paths that load, up to ``limit``; each unreadable file is named in a warning."""
    loaded = []
    for path in paths:
        try:
            loaded.append((path, load_image(path, image_size)))
        except ImageLoadError as exc:
            warnings.warn(f"skipped {exc}", stacklevel=3)
        if limit is not None and len(loaded) == limit:
            break
    return loaded


def plot_class_distribution(catalog, column="subset", ax=None):
    """Images per split (or subset) and class."""
    ax = one_axes(ax, (6, 4))
    sns.countplot(data=catalog, x=column, hue="class_name", ax=ax)
    ax.set(title="Images per split and class", xlabel=column, ylabel="images")
    return drawn(ax)


def plot_sample_grid(catalog, n_per_class=4, image_size=(224, 224), seed=0, axes=None):
    """A grid of example images, one row per class."""
    classes = sorted(catalog["class_name"].unique())
    if axes is None:
        _, axes = plt.subplots(len(classes), n_per_class, figsize=(2.2 * n_per_class, 2.4 * len(classes)))
    axes = np.atleast_2d(axes)
    for row, class_name in enumerate(classes):
        rows = catalog[catalog["class_name"] == class_name].sample(frac=1.0, random_state=seed).set_index("path")
        for col, (path, image) in enumerate(_readable(rows.index, image_size, limit=n_per_class)):
            item = rows.loc[path]
            axes[row, col].imshow(image, cmap="gray", vmin=0, vmax=255)
            axes[row, col].set_title(f"{class_name}\n{item['subtype']}, {item['patient_id']}", fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    return drawn(axes)


def plot_intensity_histograms(catalog, n_per_class=100, image_size=(224, 224), seed=0, ax=None):
    """Pixel-intensity distributions per class, from a sample of images."""
    ax = one_axes(ax, (6, 4))
    for class_name, rows in catalog.groupby("class_name"):
        rows = rows.sample(min(n_per_class, len(rows)), random_state=seed)
        pixels = np.concatenate([image.ravel()[::16] for _, image in _readable(rows["path"], image_size)])
        sns.histplot(pixels, bins=64, stat="density", element="step", fill=False, label=class_name, ax=ax)
    ax.set(title="Pixel intensities", xlabel="intensity (0-255)")
    ax.legend()
    return drawn(ax)


def plot_image_sizes(inspected, ax=None):
    """Width against height of the images (needs ``inspect_images`` columns); each point is one size, its area
    grows with how many images have it, and the most common sizes are labelled with their counts."""
    ax = one_axes(ax, (6, 4))
    sizes = inspected.dropna(subset=["width", "height"]).groupby(["split", "width", "height"]).size()
    sizes = sizes.rename("images").reset_index()
    sns.scatterplot(data=sizes, x="width", y="height", hue="split", size="images", sizes=(15, 400), alpha=0.6, ax=ax)
    for _, row in sizes.nlargest(3, "images").iterrows():
        ax.annotate(f"{row['images']:,} x {int(row['width'])}x{int(row['height'])} ({row['split']})",
                    (row["width"], row["height"]), textcoords="offset points", xytext=(8, 8), fontsize=8)
    ax.set(title="Image sizes (px)", xlabel="width (px)", ylabel="height (px)")
    ax.legend(fontsize=8, loc="lower right")
    return drawn(ax)
