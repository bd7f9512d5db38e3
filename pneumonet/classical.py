"""CNN features + classical classifiers: a frozen backbone's pooled features, then scikit-learn.

The backbone runs once over every image and its global-average-pooled features are cached on disk, keyed like
the decoded images (file list, image size) plus the backbone and its weights. A support vector machine or a
logistic regression is then tuned on the training split by cross-validation **grouped by patient** (one
patient's images are near duplicates: image-level folds would score memorisation), its threshold is chosen on
the validation split, and the result is filed as an ordinary run folder, so ``pneumonet evaluate``, the summary
tables and the paired tests treat it like any fine-tuned model.

Probabilities: ``SVC(probability=True)`` is deprecated in scikit-learn 1.9; the SVM is wrapped in
``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` instead (Platt scaling, what ``probability=True``
did), with the same patient folds, so the calibration never sees a patient's other images either.
"""

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pneumonet.data import check_folds, patient_groups, subset
from pneumonet.evaluation import evaluate_predictions, prediction_frame
from pneumonet.io import atomic_path, write_csv
from pneumonet.models.registry import get_backbone
from pneumonet.models.weights import resolve_weights
from pneumonet.pipelines import load_arrays
from pneumonet.pipelines.cache import cache_key, default_cache_dir
from pneumonet.runs import METRICS, PREDICTIONS, check_run_name, claim_run, new_run_dir, write_run

CLASSIFIERS = ("svm", "logreg")
FEATURE_LAYER = "head_gap"  # the global average pooling every "gap_*" head starts with
_FORMAT = 1

# Small grids: each point is n_splits fits, and the SVM's cost grows with the square of the training images.
GRIDS = {
    "svm": {"svc__C": [0.1, 1.0, 10.0, 100.0], "svc__gamma": ["scale"], "svc__kernel": ["rbf"]},
    "logreg": {"logreg__C": [1e-3, 1e-2, 1e-1, 1.0]},
}


def _check_classifier(classifier):
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}. Received: classifier={classifier!r}")


def feature_extractor(backbone, weights="imagenet", weights_dir=None, image_size=224, seed=42):
    """A Keras model from uint8 gray images (N, H, W, 1) to the backbone's pooled features (N, D).

    Built with ``build_model``, so preprocessing and weights are exactly those of the fine-tuned models; only
    the head after the pooling is left out. ``seed`` fixes the initial weights when ``weights=None``.
    """
    import keras

    from pneumonet.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(backbone, head="gap_dense_dropout", weights=weights, weights_dir=weights_dir,
                        image_size=image_size)
    return keras.Model(model.inputs[0], model.get_layer(FEATURE_LAYER).output, name=f"{backbone}_features")


def feature_key(paths, backbone, weights, weights_dir, image_size, seed):
    """The cache key of the features: the images (as the image cache keys them), backbone, weights, size."""
    source = resolve_weights(get_backbone(backbone), weights, weights_dir)  # also fails fast when unavailable
    if source not in (None, "imagenet"):
        stat = os.stat(source)
        source = [source, stat.st_size, stat.st_mtime_ns]
    size = (int(image_size), int(image_size))
    blob = json.dumps([_FORMAT, backbone, source, None if source is not None else seed, FEATURE_LAYER,
                       cache_key(paths, size)]).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def cached_features(frames, backbone, weights="imagenet", weights_dir=None, image_size=224, cache_dir=None,
                    batch_size=32, seed=42, progress=False):
    """Pooled features of each frame's images, computed once and read back from ``cache_dir`` afterwards.

    Args:
        frames: ``{name: catalog rows}`` (e.g. train, val, test).
    Returns:
        ``({name: (features float32 (N, D), labels, kept_frame)}, timing)`` where unreadable images are dropped
        from ``kept_frame`` (as ``load_arrays`` does) and ``timing`` holds the seconds spent decoding images,
        running the backbone and reading cached features, and which subsets were cached already.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    size = (int(image_size), int(image_size))
    timing = {"decode_seconds": 0.0, "backbone_seconds": 0.0, "read_seconds": 0.0, "cached": []}
    extractor, out = None, {}
    for name, frame in frames.items():
        start = time.time()
        images, labels, kept = load_arrays(frame, size, cache_dir=cache_dir, progress=progress)
        timing["decode_seconds"] += time.time() - start
        key = feature_key(kept["path"].tolist(), backbone, weights, weights_dir, image_size, seed)
        path = cache_dir / f"features-{backbone}-{size[0]}-{key}.npy"
        start = time.time()
        if path.exists():
            features = np.load(path, allow_pickle=False)  # never unpickle: the cache may be shared
            if len(features) == len(kept):
                timing["read_seconds"] += time.time() - start
                timing["cached"].append(name)
                out[name] = (features, labels, kept)
                continue
        extractor = extractor or feature_extractor(backbone, weights, weights_dir, image_size, seed)
        features = extractor.predict(images[..., None], batch_size=batch_size, verbose=0).astype("float32")
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, features, allow_pickle=False)
        timing["backbone_seconds"] += time.time() - start
        out[name] = (features, labels, kept)
    return out, {k: round(v, 1) if isinstance(v, float) else v for k, v in timing.items()}


def patient_folds(groups, n_splits=5):
    """``GroupKFold`` splits in which every patient (group) is entirely on one side of each fold."""
    groups = np.asarray(groups)
    check_folds(n_splits, groups, "the training split")
    return list(GroupKFold(n_splits=n_splits).split(np.zeros(len(groups)), groups=groups))


def classifier_pipeline(classifier, seed=42):
    """StandardScaler followed by an RBF SVM (decision function) or a logistic regression; classes balanced."""
    _check_classifier(classifier)
    if classifier == "svm":
        estimator = ("svc", SVC(class_weight="balanced", random_state=seed))
    else:
        estimator = ("logreg", LogisticRegression(class_weight="balanced", max_iter=5000))
    return Pipeline([("scale", StandardScaler()), estimator])


def tune_classifier(features, labels, groups, classifier="svm", grid=None, n_splits=5, n_jobs=None, seed=42):
    """Grid search scored by ROC AUC over patient folds of the training images.

    Returns ``(search, folds)``: the fitted ``GridSearchCV`` (``best_params_``, ``best_score_``,
    ``cv_results_``) and the folds it used. Only the logistic regression is refitted here; the SVM is refitted
    with its calibration by ``fit_final``.
    """
    folds = patient_folds(groups, n_splits)
    search = GridSearchCV(classifier_pipeline(classifier, seed), grid or GRIDS[classifier], scoring="roc_auc",
                          cv=folds, n_jobs=n_jobs, refit=classifier == "logreg")
    search.fit(features, labels)
    return search, folds


def fit_final(search, features, labels, folds, classifier, seed=42):
    """The classifier that gives probabilities: the refitted logistic regression, or the best SVM with Platt
    scaling fitted on its out-of-fold decision values over the same patient folds (then refitted on all)."""
    if classifier == "logreg":
        return search.best_estimator_
    best = classifier_pipeline("svm", seed).set_params(**search.best_params_)
    return CalibratedClassifierCV(best, method="sigmoid", cv=folds, ensemble=False).fit(features, labels)


def cv_table(search):
    """One row per grid point: its parameters, mean and standard deviation of the patient-fold AUC, rank."""
    results = pd.DataFrame(search.cv_results_)
    columns = [c for c in results if c.startswith("param_")] + ["mean_test_score", "std_test_score",
                                                               "rank_test_score", "mean_fit_time"]
    return results[columns].rename(columns={"mean_test_score": "cv_auc", "std_test_score": "cv_auc_std"})


def run_classical(catalog, results_dir, backbone="densenet121", classifier="svm", weights="imagenet",
                  weights_dir=None, image_size=224, name=None, cache_dir=None, grid=None, n_splits=5, n_jobs=None,
                  n_boot=1000, threshold_method="youden", seed=42, batch_size=32, overwrite=False):
    """Frozen-backbone features + a tuned classifier, evaluated and filed as ``results_dir/name``.

    Tuned on ``train`` (patient folds), threshold chosen on ``val``, evaluated on ``test``. Returns the metrics
    record, which also holds the seconds spent on features (decoding, backbone, cache reads) and on the search.
    """
    _check_classifier(classifier)
    name = check_run_name(name or f"{backbone}_{classifier}")
    with claim_run(Path(results_dir) / name):
        new_run_dir(results_dir, name, overwrite=overwrite, create=False)  # refuse to clobber, first
        start = time.time()
        frames = {s: subset(catalog, s) for s in ("train", "val", "test")}
        check_folds(n_splits, patient_groups(frames["train"]), "the training split")  # before the features
        data, timing = cached_features(frames, backbone, weights, weights_dir, image_size, cache_dir, batch_size,
                                       seed)
        x_train, y_train, train_frame = data["train"]
        start_search = time.time()
        search, folds = tune_classifier(x_train, y_train, patient_groups(train_frame), classifier, grid, n_splits,
                                        n_jobs, seed)
        timing["search_seconds"] = round(time.time() - start_search, 1)
        start_fit = time.time()
        model = fit_final(search, x_train, y_train, folds, classifier, seed)
        timing["final_fit_seconds"] = round(time.time() - start_fit, 1)
        val_pred, test_pred = (prediction_frame(data[s][2], model.predict_proba(data[s][0])[:, 1])
                               for s in ("val", "test"))
        evaluation = evaluate_predictions(val_pred, test_pred, threshold_method=threshold_method, n_boot=n_boot)
        run_dir = new_run_dir(results_dir, name, overwrite=overwrite)
        write_csv(run_dir / "cv_results.csv", cv_table(search))
        predictions = pd.concat([test_pred.assign(subset="test"), val_pred.assign(subset="val")],
                                ignore_index=True)
        timing["total_seconds"] = round(time.time() - start, 1)
        config = {"kind": "features+classifier", "backbone": backbone, "weights": weights, "image_size": image_size,
                  "feature_layer": FEATURE_LAYER, "classifier": classifier, "grid": grid or GRIDS[classifier],
                  "cv": f"GroupKFold({n_splits}) by patient on train", "scoring": "roc_auc",
                  "probabilities": "logistic regression" if classifier == "logreg"
                  else "Platt scaling (CalibratedClassifierCV sigmoid) over the same patient folds"}
        return write_run(run_dir, name, predictions, evaluation, config=config, data_frame=catalog, seed=seed,
                         extra={"best_params": {k: _plain(v) for k, v in search.best_params_.items()},
                                "best_cv_auc": float(search.best_score_), "timing": timing,
                                "n_features": int(x_train.shape[1]), "n_train": int(len(y_train))})


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def compare_runs(run_dir, other_dir):
    """McNemar (accuracy at each run's own threshold) and DeLong (AUC) of two run folders on their common test
    images, which may live in different results folders. Returns a one-row DataFrame.

    Both runs must have been evaluated on the same test images (the same data folder): otherwise a
    ``ValueError`` names the difference.
    """
    from pneumonet.evaluation.ensemble import paired_row
    from pneumonet.io import read_json

    runs = []
    for folder in (Path(run_dir), Path(other_dir)):
        frame = pd.read_csv(folder / PREDICTIONS).query("subset == 'test'").sort_values("path")
        runs.append((folder.name, frame.reset_index(drop=True), read_json(folder / METRICS)["threshold"]))
    (name, frame, threshold), (other, base, other_threshold) = runs
    if not frame["path"].equals(base["path"]):
        raise ValueError(f"{run_dir} and {other_dir} were not evaluated on the same test images "
                         f"({len(frame)} and {len(base)} images)")
    return pd.DataFrame([paired_row(name, frame, threshold, other, base, other_threshold)])
