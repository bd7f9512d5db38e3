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


def _grouping(catalog):
    """The column images are grouped by: ``subset`` once ``assign_subsets`` has run, else the folder ``split``."""
    return "subset" if "subset" in catalog else "split"


def plot_class_distribution(catalog, column="subset", ax=None):
    """Images per split (or subset) and class."""
    ax = one_axes(ax, (6, 4))
    sns.countplot(data=catalog, x=column, hue="class_name", ax=ax)
    for bars in ax.containers:  # the counts on the bars: a subset of 16 images is otherwise a flat line
        ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    ax.margins(y=0.1)
    ax.set(title=f"Images per {column} and class", xlabel=column, ylabel="images")
    return drawn(ax)


def plot_sample_grid(catalog, n_per_class=4, image_size=(224, 224), seed=0, axes=None):
    """A grid of example images, one row per class; each title names the class, subtype, patient and the subset
    (or, before ``assign_subsets``, the folder) the image belongs to."""
    classes = sorted(catalog["class_name"].unique())
    where = _grouping(catalog)
    if axes is None:
        _, axes = plt.subplots(len(classes), n_per_class, figsize=(2.8 * n_per_class, 3.0 * len(classes)),
                               constrained_layout=True)
    axes = np.atleast_2d(axes)
    for row, class_name in enumerate(classes):
        rows = catalog[catalog["class_name"] == class_name].sample(frac=1.0, random_state=seed).set_index("path")
        for col, (path, image) in enumerate(_readable(rows.index, image_size, limit=n_per_class)):
            item = rows.loc[path]
            axes[row, col].imshow(image, cmap="gray", vmin=0, vmax=255)
            axes[row, col].set_title(f"{class_name} ({item['subtype']})\n{item['patient_id']}, {item[where]}",
                                     fontsize=10)
        for ax in axes[row]:
            ax.axis("off")
    axes[0, 0].figure.suptitle(f"Example images, {image_size[0]}x{image_size[1]} px (title: class, patient, {where})")
    return drawn(axes)


def plot_intensity_histograms(catalog, n_per_class=100, image_size=(224, 224), seed=0, ax=None):
    """Pixel-intensity distributions per class, from a sample of images."""
    ax = one_axes(ax, (6, 4))
    for class_name, rows in catalog.groupby("class_name"):
        rows = rows.sample(min(n_per_class, len(rows)), random_state=seed)
        pixels = np.concatenate([image.ravel()[::16] for _, image in _readable(rows["path"], image_size)])
        sns.histplot(pixels, bins=64, stat="density", element="step", fill=False, label=class_name, ax=ax)
    ax.set(title=f"Pixel intensities ({n_per_class} images per class)", xlabel="intensity (0-255)", ylabel="density")
    ax.legend()
    return drawn(ax)


def plot_image_sizes(inspected, column=None, ax=None):
    """Width against height of the images (needs ``inspect_images`` columns), coloured by ``column`` (default:
    ``subset`` when ``assign_subsets`` has run, else the folder ``split``). Each point is one size, its area grows
    with how many images have it, and the (up to three) most common sizes, each of at least 1% of the images, are
    labelled once with their counts per group."""
    ax = one_axes(ax, (6, 4))
    column = column or _grouping(inspected)
    sizes = inspected.dropna(subset=["width", "height"]).groupby([column, "width", "height"]).size()
    # largest first, so a smaller group of the same size is drawn on top of a larger one, not hidden under it
    sizes = sizes.rename("images").reset_index().sort_values("images", ascending=False, kind="stable")
    sns.scatterplot(data=sizes, x="width", y="height", hue=column, hue_order=sorted(sizes[column].unique()),
                    size="images", sizes=(15, 400), alpha=0.6, ax=ax)
    # one label per size, not per group: groups of the same size sit on the same point
    by_size = sizes.groupby(["width", "height"])
    totals = by_size["images"].sum()
    middle = sum(ax.get_xlim()) / 2
    for (width, height), total in totals[totals >= 0.01 * totals.sum()].nlargest(3).items():
        counts = by_size.get_group((width, height)).sort_values("images", ascending=False)
        parts = ", ".join(f"{n:,} {group}" for group, n in zip(counts[column], counts["images"]))
        left = width >= middle  # the label runs towards the wider side, so it stays inside the axes
        ax.annotate(f"{int(width)}x{int(height)}: {parts}", (width, height), textcoords="offset points",
                    xytext=(-10 if left else 10, 10), ha="right" if left else "left", fontsize=8)
    ax.set(title=f"Image sizes by {column}", xlabel="width (px)", ylabel="height (px)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: points sit anywhere
    return drawn(ax)
