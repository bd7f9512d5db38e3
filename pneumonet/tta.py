"""Test-time augmentation: the mean prediction over small shifts and scales of each image.

No flips: a chest X-ray has a fixed orientation (the heart on the patient's left). Views are small enough that
the lungs stay in the frame; the identity view is always included.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonet.data import subset
from pneumonet.evaluation import evaluate_predictions, positive_probability, prediction_frame
from pneumonet.io import read_json
from pneumonet.models import input_size, load_model
from pneumonet.pipelines import load_arrays
from pneumonet.pipelines.augment import warp
from pneumonet.runs import METRICS, MODEL, PREDICTIONS, new_run_dir, write_run

# (shift x, shift y) as fractions of the side, and scale
IDENTITY = (0.0, 0.0, 1.0)
TTA_VIEWS = (IDENTITY, (0.04, 0.0, 1.0), (-0.04, 0.0, 1.0), (0.0, 0.04, 1.0), (0.0, 0.0, 1.06),
             (0.0, 0.0, 0.94))


def view_matrix(height, width, shift_x, shift_y, scale):
    """3 x 3 matrix mapping output pixels to input pixels: a zoom by ``scale`` about the centre, then a shift."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    inverse = 1.0 / scale
    return np.array([[inverse, 0, cx - inverse * cx - shift_x * width],
                     [0, inverse, cy - inverse * cy - shift_y * height], [0, 0, 1]])


def tta_batch(images, view):
    """uint8 (N, H, W) images under one ``(shift_x, shift_y, scale)`` view."""
    if tuple(view) == IDENTITY:
        return np.asarray(images)
    height, width = images.shape[1:3]
    matrix = view_matrix(height, width, *view)
    return np.stack([warp(image, matrix) for image in images])


def predict_tta(model, images, views=TTA_VIEWS, batch_size=32, identity=None):
    """Mean P(PNEUMONIA) over ``views`` of uint8 (N, H, W) ``images``.

    ``identity``: P(PNEUMONIA) already computed for the unshifted images (a run's own predictions); used for the
    identity view instead of a second pass through the model.
    """
    if not views or not all(len(v) == 3 and v[2] > 0 and math.isfinite(sum(v)) for v in views):
        raise ValueError(f"views must be (shift_x, shift_y, scale > 0) triples. Received: views={views!r}")
    probs = [np.asarray(identity, float) if identity is not None and tuple(v) == IDENTITY else
             positive_probability(model.predict(tta_batch(images, v)[..., None], batch_size=batch_size, verbose=0))
             for v in views]
    return np.mean(probs, axis=0)


def _stored_probabilities(run_dir, kept, subset_name):
    """The run's own P(PNEUMONIA) for ``kept``'s images in file order, or None when predictions.csv lacks any."""
    stored = pd.read_csv(Path(run_dir) / PREDICTIONS)
    stored = stored[stored["subset"] == subset_name].drop_duplicates("path").set_index("path")["prob"]
    probs = stored.reindex(kept["path"].astype(str)).to_numpy(float)
    return None if np.isnan(probs).any() else probs


def write_tta_run(results_dir, run, catalog, views=TTA_VIEWS, cache_dir=None, n_boot=1000, overwrite=False):
    """Evaluate ``run``'s model with TTA on val and test and file it as run ``<run>_tta``; returns the record.
    An existing ``<run>_tta`` is replaced only with ``overwrite=True``."""
    results_dir = Path(results_dir)
    new_run_dir(results_dir, f"{run}_tta", overwrite=overwrite, create=False)  # refuse to clobber, first
    model, meta = load_model(results_dir / run / MODEL)
    size = input_size(model, meta)
    frames = {}
    for name in ("val", "test"):
        images, _, kept = load_arrays(subset(catalog, name), size, cache_dir=cache_dir, progress=False)
        # the identity view is the run's own prediction of these images: read, not computed again
        identity = _stored_probabilities(results_dir / run, kept, name)
        frames[name] = prediction_frame(kept, predict_tta(model, images, views, identity=identity)[:, None])
    evaluation = evaluate_predictions(frames["val"], frames["test"], n_boot=n_boot)
    predictions = pd.concat([frames["test"].assign(subset="test"), frames["val"].assign(subset="val")],
                            ignore_index=True)
    base = read_json(results_dir / run / METRICS)
    name = f"{run}_tta"
    return write_run(new_run_dir(results_dir, name, overwrite=overwrite), name, predictions, evaluation,
                     config={"model": run, "tta_views": [list(v) for v in views]}, data_frame=catalog,
                     seed=base.get("seed"), extra={"members": [run]})
