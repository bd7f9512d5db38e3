"""A shift benchmark: how a model holds up when the images come from another scanner, site or protocol.

The dev ``test`` split comes from the same hospital as ``train``; another hospital's images differ in exposure,
contrast, sharpness, noise, resolution, compression, framing and the text markers burnt into the film. Each
``SHIFTS`` entry imitates one of those at severities 1 (mild) to 3 (strong) on uint8 grey images; a model is
scored at its stored threshold on the same images before and after each shift. The **robust AUC** is the mean
AUC over every shift and severity: one number to compare recipes by, chosen without touching test labels when
computed on the validation split.
"""

import cv2
import numpy as np
import pandas as pd

from pneumonet.evaluation.metrics import binary_metrics, positive_probability

SEVERITIES = (1, 2, 3)
# shifts that no training augmentation of pneumonet imitates (``pipelines.views`` covers exposure, gamma,
# contrast, blur, noise and, through zoom and shift, mild framing): the honest part of the benchmark for a
# model trained with augmented views
HELD_OUT = ("resolution", "jpeg", "marker", "mask")


def _scale(image):
    return image.shape[0] / 224.0  # severities are defined at 224 px and scaled to the model's input size


def _to_uint8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def exposure(image, severity, rng):
    """Over-exposure: grey levels multiplied by 1.3, 1.6, 2.0 (saturating at white)."""
    return _to_uint8(image.astype(np.float32) * (1.3, 1.6, 2.0)[severity - 1])


def gamma(image, severity, rng):
    """A darker tone curve: gamma 1.5, 2.0, 2.8."""
    return _to_uint8(255.0 * (image / 255.0) ** (1.5, 2.0, 2.8)[severity - 1])


def contrast(image, severity, rng):
    """Flatter contrast around the mean: factor 0.7, 0.5, 0.3."""
    x = image.astype(np.float32)
    return _to_uint8((x - x.mean()) * (0.7, 0.5, 0.3)[severity - 1] + x.mean())


def blur(image, severity, rng):
    """Gaussian blur, sigma 1, 2, 3 pixels at 224 px."""
    sigma = (1.0, 2.0, 3.0)[severity - 1] * _scale(image)
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)


def noise(image, severity, rng):
    """Gaussian noise of standard deviation 8, 16, 28 grey levels."""
    return _to_uint8(image + rng.normal(0.0, (8.0, 16.0, 28.0)[severity - 1], image.shape))


def resolution(image, severity, rng):
    """Detail lost to a 2x, 3x, 4x smaller acquisition, scaled back up."""
    factor = (2, 3, 4)[severity - 1]
    height, width = image.shape
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def jpeg(image, severity, rng):
    """JPEG re-compression at quality 30, 15, 6."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, (30, 15, 6)[severity - 1]])
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def crop(image, severity, rng):
    """Tighter framing: 6%, 12%, 18% cut from every side, resized back."""
    height, width = image.shape
    cut = (0.06, 0.12, 0.18)[severity - 1]
    dy, dx = int(round(height * cut)), int(round(width * cut))
    return cv2.resize(image[dy:height - dy, dx:width - dx], (width, height), interpolation=cv2.INTER_LINEAR)


def pad(image, severity, rng):
    """Looser framing: the image shrunk to 88%, 76%, 64% of the side inside a black border."""
    height, width = image.shape
    keep = (0.88, 0.76, 0.64)[severity - 1]
    h, w = max(1, int(round(height * keep))), max(1, int(round(width * keep)))
    out = np.zeros_like(image)
    top, left = (height - h) // 2, (width - w) // 2
    out[top:top + h, left:left + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return out


def _corner_box(image, fraction, corner):
    height, width = image.shape
    size = max(2, int(round(min(height, width) * fraction)))
    margin = max(1, size // 4)
    top = margin if corner in (0, 1) else height - size - margin
    left = margin if corner in (0, 2) else width - size - margin
    return top, left, size


def marker(image, severity, rng):
    """A white text marker ("R") burnt into a random corner; 7%, 10%, 14% of the side."""
    out = image.copy()
    top, left, size = _corner_box(image, (0.07, 0.10, 0.14)[severity - 1], int(rng.integers(4)))
    scale = size / 22.0
    cv2.putText(out, "R", (left, top + size), cv2.FONT_HERSHEY_SIMPLEX, scale, 255,
                max(1, int(round(2 * scale))), cv2.LINE_AA)
    return out


def mask(image, severity, rng):
    """Every corner blacked out, as when text markers are masked: squares of 10%, 15%, 20% of the side."""
    out = image.copy()
    height, width = image.shape
    size = max(1, int(round(min(height, width) * (0.10, 0.15, 0.20)[severity - 1])))
    for rows in (slice(0, size), slice(height - size, height)):
        for cols in (slice(0, size), slice(width - size, width)):
            out[rows, cols] = 0
    return out


SHIFTS = {f.__name__: f for f in (exposure, gamma, contrast, blur, noise, resolution, jpeg, crop, pad, marker,
                                  mask)}


def apply_shift(images, shift, severity, seed=0):
    """``images`` uint8 (N, H, W) under one shift (a ``SHIFTS`` name) at ``severity`` 1-3; returns a new array."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift. Received: shift={shift!r}; available: {sorted(SHIFTS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1, 2 or 3. Received: severity={severity!r}")
    rng = np.random.default_rng([seed, severity, list(SHIFTS).index(shift)])
    return np.stack([SHIFTS[shift](image, severity, rng) for image in np.asarray(images, dtype=np.uint8)])


def _scores(labels, probs, threshold):
    """The benchmark's columns, from the same ``binary_metrics`` every other table uses."""
    m = binary_metrics(labels, probs, threshold)
    return {"auc": float(m["roc_auc"]), "sensitivity": float(m["sensitivity"]),
            "specificity": float(m["specificity"]), "accuracy": float(m["accuracy"]),
            "mean_probability": float(np.mean(probs))}


def shifted_probabilities(model, images, shifts=None, severities=SEVERITIES, batch_size=32, seed=0):
    """P(pneumonia) of ``model`` on uint8 (N, H, W) ``images``, clean and under each shift and severity.

    Yields ``(shift, severity, probabilities)``: first ``("none", 0, ...)`` for the clean images, then every
    ``shifts`` name (default all of ``SHIFTS``) at every severity.
    """
    images = np.asarray(images, dtype=np.uint8)

    def predict(batch):
        return positive_probability(model.predict(batch[..., None], batch_size=batch_size, verbose=0))

    yield "none", 0, predict(images)
    for shift in shifts or SHIFTS:
        for severity in severities:
            yield shift, severity, predict(apply_shift(images, shift, severity, seed))


def evaluate_shifts(model, images, labels, threshold, shifts=None, severities=SEVERITIES, batch_size=32, seed=0):
    """Scores of ``model`` on uint8 (N, H, W) ``images``, clean and under each shift and severity.

    Returns a DataFrame with one row per condition (``shift="none"``, ``severity=0`` for the clean images) and
    columns auc, sensitivity, specificity, accuracy (at ``threshold``) and mean_probability.
    """
    return pd.DataFrame([{"shift": shift, "severity": severity, **_scores(labels, probs, threshold)}
                         for shift, severity, probs in shifted_probabilities(model, images, shifts, severities,
                                                                             batch_size, seed)])


def robust_summary(frame):
    """Clean AUC, robust AUC (mean over every shifted condition), held-out AUC (mean over the ``HELD_OUT``
    shifts), worst AUC and where, and the specificity at the stored threshold clean and on average under shift."""
    clean = frame[frame["shift"] == "none"].iloc[0]
    shifted = frame[frame["shift"] != "none"]
    worst = shifted.loc[shifted["auc"].idxmin()]
    held_out = shifted[shifted["shift"].isin(HELD_OUT)]
    return {"clean_auc": float(clean["auc"]), "robust_auc": float(shifted["auc"].mean()),
            "held_out_auc": float(held_out["auc"].mean()) if len(held_out) else float("nan"),
            "worst_auc": float(worst["auc"]), "worst_shift": f"{worst['shift']} {int(worst['severity'])}",
            "clean_specificity": float(clean["specificity"]),
            "shifted_specificity": float(shifted["specificity"].mean()),
            "clean_sensitivity": float(clean["sensitivity"]),
            "shifted_sensitivity": float(shifted["sensitivity"].mean())}


def balanced_sample(frame, n, seed=0):
    """Up to ``n`` rows of ``frame`` (column ``label``), half of each class where possible, in a fixed order."""
    parts = []
    for label, rows in frame.groupby("label"):
        parts.append(rows.sample(n=min(len(rows), n // 2), random_state=seed))
    return pd.concat(parts).sort_values("path").reset_index(drop=True)
