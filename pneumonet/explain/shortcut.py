"""A shortcut check: how much of a model's Grad-CAM heat lies where no lung is.

Models trained on one hospital's films learn its borders, corners and burnt-in text markers, features that do
not transfer. For each heatmap we measure the share of its energy (sum of the non-negative map) in the **border
band** (the outer ``border`` fraction of each side) and **outside a central lung-field box**. A uniform map
gives the band's and the box's area shares (``chance``); a model that reads the lungs stays well below them.

A second shortcut needs no heatmap: the **black share** of an image, its pixels at or below ``BLACK_LEVEL`` (film
background, margins outside the collimation). In this data set NORMAL films carry more of it than PNEUMONIA films;
``black_margin_report`` measures, within each class, how a model's P(pneumonia) follows it.
"""

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pneumonet.explain.gradcam import upsample

BLACK_LEVEL = 4  # of 255: film background and margins; lung and soft tissue are brighter

# rows, then columns, as fractions of the side: the lung fields of a framed pediatric chest film
LUNG_BOX = (0.12, 0.88, 0.10, 0.90)


def region_masks(height, width, border=0.08, lung_box=LUNG_BOX):
    """Boolean (H, W) masks: the border band and the region outside the lung-field box."""
    rows, cols = np.mgrid[0:height, 0:width]
    by, bx = border * height, border * width
    band = (rows < by) | (rows >= height - by) | (cols < bx) | (cols >= width - bx)
    top, bottom, left, right = lung_box
    inside = ((rows >= top * height) & (rows < bottom * height) & (cols >= left * width) & (cols < right * width))
    return band, ~inside


def energy_shares(cams, size=(224, 224), border=0.08, lung_box=LUNG_BOX):
    """Per-image shares of heat in the border band and outside the lung box: dict of (N,) arrays.

    ``cams`` are non-negative heatmaps (N, h, w) at any resolution; they are upsampled to ``size`` first. An
    all-zero map (no positive evidence) has no energy to place: its shares are NaN.
    """
    heat = np.clip(upsample(np.asarray(cams, dtype="float32"), size), 0, None)
    band, outside = region_masks(*size, border=border, lung_box=lung_box)
    total = heat.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"border": heat[:, band].sum(axis=1) / total, "outside_lung": heat[:, outside].sum(axis=1) / total}


def shortcut_report(cams, size=(224, 224), border=0.08, lung_box=LUNG_BOX):
    """Mean shares over images, the chance level of each (a uniform map), and how many maps had energy."""
    shares = energy_shares(cams, size, border, lung_box)
    band, outside = region_masks(*size, border=border, lung_box=lung_box)
    finite = np.isfinite(shares["border"])

    def mean(values):
        return float(values[finite].mean()) if finite.any() else float("nan")

    return {"border_share": mean(shares["border"]), "border_chance": float(band.mean()),
            "outside_lung_share": mean(shares["outside_lung"]),
            "outside_lung_chance": float(outside.mean()),
            "n_images": int(len(finite)), "n_with_energy": int(finite.sum())}


def black_share(images, level=BLACK_LEVEL):
    """Per-image share of pixels at or below ``level``: (N,) array from uint8 grayscale images (any iterable)."""
    return np.array([float((np.asarray(image) <= level).mean()) for image in images])


def black_margin_report(black, labels, probabilities):
    """Within each class, Spearman's rank correlation between the black share and each model's P(pneumonia).

    Within one class the label cannot explain the correlation: a clearly negative rho in both classes means the
    model calls an image less likely pneumonia the more black it holds, whatever the disease. A correlation, not a
    cause (the black share also goes with framing and body size): interventions such as the shift benchmark's
    crop and mask say more.

    ``black``: (N,) black shares; ``labels``: (N,) 0/1; ``probabilities``: {run: (N,) P(pneumonia)}.
    Returns a DataFrame: run, class, rho, p, n_images (rho and p NaN where either side is constant in a class).
    """
    black, labels = np.asarray(black, float), np.asarray(labels).astype(int)
    rows = []
    for run, prob in probabilities.items():
        prob = np.asarray(prob, float)
        for label, name in ((0, "NORMAL"), (1, "PNEUMONIA")):
            inside = labels == label
            if not all(values.size > 1 and values.min() < values.max() for values in (black[inside], prob[inside])):
                rho = p = float("nan")  # nothing varies (generated images without margins): no rank to correlate
            else:
                rho, p = spearmanr(black[inside], prob[inside])
            rows.append({"run": run, "class": name, "rho": float(rho), "p": float(p), "n_images": int(inside.sum())})
    return pd.DataFrame(rows)
