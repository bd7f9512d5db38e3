"""A shortcut check: how much of a model's Grad-CAM heat lies where no lung is.

Models trained on one hospital's films learn its borders, corners and burnt-in text markers, features that do
not transfer. For each heatmap we measure the share of its energy (sum of the non-negative map) in the **border
band** (the outer ``border`` fraction of each side) and **outside a central lung-field box**. A uniform map
gives the band's and the box's area shares (``chance``); a model that reads the lungs stays well below them.
"""

import numpy as np

from pneumonet.explain.gradcam import upsample

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
