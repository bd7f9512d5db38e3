"""Choosing the decision threshold on the validation split (never on test)."""

import numpy as np
from sklearn.metrics import roc_curve


def youden_threshold(y_true, y_prob):
    """The threshold maximising Youden's J = sensitivity + specificity - 1."""
    fpr, tpr, thresholds = roc_curve(np.asarray(y_true).astype(int), y_prob)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def sensitivity_threshold(y_true, y_prob, target=0.95):
    """The highest threshold whose sensitivity is at least ``target`` (fewest false alarms at that recall)."""
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1]. Received: target={target}")
    # every threshold: the default drop_intermediate=True removes points on vertical runs of the curve, where
    # the highest threshold reaching the target usually lies
    fpr, tpr, thresholds = roc_curve(np.asarray(y_true).astype(int), y_prob, drop_intermediate=False)
    ok = np.flatnonzero(tpr >= target)
    return float(min(thresholds[ok[0]], 1.0))


def choose_threshold(y_true, y_prob, method="youden", target=0.95):
    """``method``: "youden", "sensitivity" (with ``target``) or "fixed" (0.5)."""
    if method == "youden":
        return youden_threshold(y_true, y_prob)
    if method == "sensitivity":
        return sensitivity_threshold(y_true, y_prob, target)
    if method == "fixed":
        return 0.5
    raise ValueError(f"method must be 'youden', 'sensitivity' or 'fixed'. Received: method={method!r}")
