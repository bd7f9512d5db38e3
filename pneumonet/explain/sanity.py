"""Do the heatmaps mean anything? Two checks from the literature, as functions.

- Model randomization (Adebayo et al., 2018): heatmaps of the same images from a model with re-initialised
  weights must differ from the trained model's; we report the mean Spearman rank correlation (well below 0.5
  passes).
- Deletion (Petsiuk et al., 2018): deleting the hottest pixels first must lower the class score faster than
  deleting random pixels; we report the area between the two curves (positive passes). Strict: the check also
  fails, saying why, when fully degraded images (every pixel the mean, or random noise) still read as confident
  pneumonia, or as pneumonia at all at the model's own threshold: such a model answers "pneumonia" for anything it
  does not recognise, whatever its heatmaps show.
"""

import keras
import numpy as np
from scipy.stats import spearmanr

from pneumonet.evaluation.metrics import positive_probability
from pneumonet.explain.gradcam import gradcam, upsample


def randomized_copy(model, seed=0):
    """The same architecture with freshly initialised weights (the trained model is not touched)."""
    keras.utils.set_random_seed(seed)
    clone = keras.models.clone_model(model)
    clone.pneumonet_config = getattr(model, "pneumonet_config", {})
    return clone


def rank_agreement(maps, others):
    """Spearman rank correlation between two sets of heatmaps of the same images, one value per image (N,).

    Maps of different resolutions (Grad-CAM's feature map, Score-CAM's input size) are compared at the finer one;
    where either map is constant (an all-zero map: no positive evidence anywhere) there is nothing to rank: NaN.
    """
    maps, others = np.asarray(maps, dtype="float32"), np.asarray(others, dtype="float32")
    size = max(maps.shape[1:], others.shape[1:], key=lambda shape: shape[0] * shape[1])
    maps, others = upsample(maps, size), upsample(others, size)
    return np.array([spearmanr(a.ravel(), b.ravel()).statistic if a.std() > 0 and b.std() > 0 else np.nan
                     for a, b in zip(maps, others)])


def randomization_test(model, images, layer=None, class_index=1, seed=0):
    """Mean Spearman correlation between trained and randomized-model heatmaps, and the per-image values."""
    trained = gradcam(model, images, layer=layer, class_index=class_index)
    random_cams = gradcam(randomized_copy(model, seed), images, layer=layer, class_index=class_index)
    # a constant map shares no ranking with the other: 0, which counts towards passing
    values = [float(rho) for rho in np.nan_to_num(rank_agreement(trained, random_cams), nan=0.0)]
    return {"mean_spearman": float(np.mean(values)), "per_image": values, "passed": bool(np.mean(values) < 0.5)}


def _score(model, batch, class_index):
    p = positive_probability(model.predict(batch, verbose=0, batch_size=64))
    return p if class_index != 0 else 1 - p


def deletion_curves(model, images, cams=None, layer=None, class_index=1, steps=10, seed=0, confident=0.9,
                    threshold=None):
    """Class score as the fraction of deleted pixels grows, hottest-first and random; with the area between.

    Deleted pixels are set to the image's mean (a neutral grey, not a black hole the network may react to).
    ``passed`` needs a positive area between the curves and, for the pneumonia class, mean P(PNEUMONIA) on fully
    degraded images (mean-filled, and uniform noise) below the bar: ``confident``, or the model's decision
    ``threshold`` when that is lower (a model that calls grey images pneumonia fails even at P = 0.6).
    ``reason`` says what failed; ``bar`` is the bar used.
    """
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1]. Received: threshold={threshold}")
    bar = confident if threshold is None else min(confident, threshold)
    called = "confident pneumonia" if bar == confident else "pneumonia at the model's threshold"

    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    n, height, width = images.shape[:3]
    if cams is None:
        cams = gradcam(model, images, layer=layer, class_index=class_index)
    heat = upsample(cams, (height, width)).reshape(n, -1)
    rng = np.random.default_rng(seed)
    orders = {"gradcam": np.argsort(-heat, axis=1), "random": np.stack([rng.permutation(height * width)
                                                                         for _ in range(n)])}
    fractions = np.linspace(0, 1, steps + 1)
    curves = {}
    for name, order in orders.items():
        scores = []
        for fraction in fractions:
            batch = images.reshape(n, height * width, -1).copy()
            k = int(round(fraction * height * width))
            fill = batch.mean(axis=1, keepdims=True)
            rows = np.arange(n)[:, None]
            batch[rows, order[:, :k]] = np.broadcast_to(fill, (n, k, batch.shape[-1]))
            scores.append(_score(model, batch.reshape(images.shape), class_index).mean())
        curves[name] = np.asarray(scores)
    area = {name: float(np.trapezoid(curve, fractions)) for name, curve in curves.items()}
    noise = rng.uniform(0, 255, images.shape).astype("float32")
    degraded = {"mean_filled": float(curves["random"][-1]), "noise_filled": float(_score(model, noise, 1).mean())}
    reasons = []
    if area["random"] <= area["gradcam"]:
        reasons.append("deleting the hottest pixels first does not lower the score faster than random deletion")
    if class_index == 1:
        reasons += [f"{kind.replace('_', '-')} images read as {called} (mean P = {p:.2f} >= {bar:.2f})"
                    for kind, p in degraded.items() if p >= bar]
    return {"fractions": fractions.tolist(), "gradcam": curves["gradcam"].tolist(),
            "random": curves["random"].tolist(), "auc_gradcam": area["gradcam"], "auc_random": area["random"],
            "area_between": area["random"] - area["gradcam"], "degraded_probability": degraded,
            "confident": confident, "threshold": threshold, "bar": bar, "passed": not reasons, "reason": "; ".join(reasons) or "passed"}
