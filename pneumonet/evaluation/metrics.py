"""Clinical metrics at a threshold, from scikit-learn, for binary predictions (three classes: ``multiclass``)."""

import numpy as np
from sklearn import metrics as skm

BINARY_METRICS = ("accuracy", "loss", "precision", "recall", "sensitivity", "specificity", "f1", "roc_auc",
                  "pr_auc", "tp", "fp", "tn", "fn")


def positive_probability(outputs):
    """P(PNEUMONIA) from model outputs: one sigmoid unit (N, 1)/(N,), a two-way softmax (N, 2), or the
    three-way softmax (N, 3) over normal / bacterial / viral, where P(PNEUMONIA) = 1 - P(normal)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 1:
        return outputs
    if outputs.shape[1] == 1:
        return outputs[:, 0]
    if outputs.shape[1] == 2:
        return outputs[:, 1]
    if outputs.shape[1] == 3:
        return 1.0 - outputs[:, 0]
    raise ValueError(f"expected (N,), (N, 1), (N, 2) or (N, 3) outputs. Received: shape={outputs.shape}")


RANKING_METRICS = ("loss", "roc_auc", "pr_auc")  # what ranking_metrics returns: the same at every threshold


def ranking_metrics(y_true, y_prob):
    """The metrics that do not depend on a threshold: log loss, ROC AUC and average precision (scikit-learn)."""
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    both = len(np.unique(y_true)) == 2
    return {
        "loss": skm.log_loss(y_true, np.clip(y_prob, 1e-7, 1 - 1e-7), labels=[0, 1]),
        "roc_auc": skm.roc_auc_score(y_true, y_prob) if both else np.nan,
        "pr_auc": skm.average_precision_score(y_true, y_prob) if both else np.nan,
    }


def threshold_metrics(y_true, y_prob, threshold=0.5):
    """The metrics of the decisions ``y_prob >= threshold``, from the four counts of the confusion matrix.

    Counted with ``np.bincount`` rather than ``confusion_matrix``: the bootstrap calls this thousands of times and
    scikit-learn's input checks cost more than the counting; F1 is scikit-learn's formula, 2 TP / (2 TP + FP + FN).
    """
    y_true = np.asarray(y_true).astype(int)
    y_pred = (np.asarray(y_prob, dtype=np.float64) >= threshold).astype(int)
    tn, fp, fn, tp = (int(c) for c in np.bincount(2 * y_true + y_pred, minlength=4))
    sensitivity = tp / (tp + fn) if tp + fn else np.nan
    return {
        "threshold": float(threshold), "n": int(len(y_true)),
        "accuracy": (tp + tn) / len(y_true),
        "precision": tp / (tp + fp) if tp + fp else np.nan,
        "recall": sensitivity, "sensitivity": sensitivity,
        "specificity": tn / (tn + fp) if tn + fp else np.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan,
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def binary_metrics(y_true, y_prob, threshold=0.5):
    """Every metric the reference tables report, at ``threshold`` (decision: probability >= threshold)."""
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob)
    if y_true.shape != y_prob.shape:
        raise ValueError(f"y_true and y_prob differ in shape. Received: {y_true.shape} and {y_prob.shape}")
    merged = {**threshold_metrics(y_true, y_prob, threshold), **ranking_metrics(y_true, y_prob)}
    return {name: merged[name] for name in ("threshold", "n", *BINARY_METRICS)}


def confusion(y_true, y_prob, threshold=0.5):
    """2 x 2 confusion matrix (rows: true NORMAL, PNEUMONIA; columns: predicted)."""
    return skm.confusion_matrix(np.asarray(y_true).astype(int), (np.asarray(y_prob) >= threshold).astype(int),
                                labels=[0, 1])


def classification_report(y_true, y_prob, threshold=0.5, target_names=("NORMAL", "PNEUMONIA")):
    """scikit-learn's per-class report as a dict."""
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    return skm.classification_report(np.asarray(y_true).astype(int), y_pred, labels=[0, 1],
                                     target_names=list(target_names), output_dict=True, zero_division=0)
