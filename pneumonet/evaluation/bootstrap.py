"""95% bootstrap confidence intervals, resampling patients (not images) where patient ids exist.

Images of one patient are correlated; resampling images would make intervals too narrow.
"""

import numpy as np
import pandas as pd

from pneumonet.evaluation.metrics import (RANKING_METRICS, binary_metrics, ranking_metrics,
                                         threshold_metrics)

INTERVAL_METRICS = ("accuracy", "loss", "precision", "recall", "sensitivity", "specificity", "f1", "roc_auc",
                    "pr_auc", "fn", "fp")


def _group_index(groups, n):
    if groups is None:
        return [np.array([i]) for i in range(n)]
    codes, _ = pd.factorize(pd.Series(groups))
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds)


def bootstrap_samples(n, groups=None, n_boot=1000, seed=0):
    """Yield index arrays, each a resample of whole groups (patients) with replacement."""
    members = _group_index(groups, n)
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        chosen = rng.integers(0, len(members), size=len(members))
        yield np.concatenate([members[c] for c in chosen])


def bootstrap_intervals(y_true, y_prob, thresholds, groups=None, n_boot=1000, seed=0, level=0.95,
                        metric_names=INTERVAL_METRICS):
    """``bootstrap_ci`` at each of ``thresholds`` over the same resamples: one dict per threshold.

    The threshold-free metrics (loss, ROC AUC, average precision) of a resample are computed once and shared by
    every threshold; they cost most of the time.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer of at least 2 (1000 is usual). Received: n_boot={n_boot!r}")
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    thresholds = [float(t) for t in thresholds]
    ranked = any(name in RANKING_METRICS for name in metric_names)
    draws = [{name: [] for name in metric_names} for _ in thresholds]
    for index in bootstrap_samples(len(y_true), groups, n_boot, seed):
        y, p = y_true[index], y_prob[index]
        shared = ranking_metrics(y, p) if ranked else {}
        for threshold, drawn in zip(thresholds, draws):
            values = {**threshold_metrics(y, p, threshold), **shared}
            for name in metric_names:
                drawn[name].append(values[name])
    alpha = (1 - level) / 2
    unit = "patient" if groups is not None else "image"
    n_groups = int(len(set(groups))) if groups is not None else int(len(y_true))
    results = []
    for threshold, drawn in zip(thresholds, draws):
        point = binary_metrics(y_true, y_prob, threshold)  # checks the shapes too
        out = {}
        for name in metric_names:
            values = np.asarray(drawn[name], dtype=np.float64)
            values = values[~np.isnan(values)]
            low, high = (np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan))
            out[name] = {"value": float(point[name]), "low": float(low), "high": float(high)}
        out["_meta"] = {"n_boot": n_boot, "level": level, "unit": unit, "threshold": threshold,
                        "n": int(len(y_true)), "n_groups": n_groups}
        results.append(out)
    return results


def bootstrap_ci(y_true, y_prob, threshold=0.5, groups=None, n_boot=1000, seed=0, level=0.95,
                 metric_names=INTERVAL_METRICS):
    """{metric: {"value", "low", "high"}}: the point estimate on all data and a percentile interval."""
    return bootstrap_intervals(y_true, y_prob, [threshold], groups, n_boot, seed, level, metric_names)[0]
