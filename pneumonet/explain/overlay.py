"""Heatmaps on images: the overlay itself, and which images to show (TP/FP/TN/FN). The grids that draw them
live with the other figures, in ``pneumonet.plots.gradcam``."""

import matplotlib
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
