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


def binary_metrics(y_true, y_prob, threshold=0.5):
    """Every metric the reference tables report, at ``threshold`` (decision: probability >= threshold)."""
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.shape != y_prob.shape:
        raise ValueError(f"y_true and y_prob differ in shape. Received: {y_true.shape} and {y_prob.shape}")
    y_pred = (y_prob >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = len(np.unique(y_true)) == 2
    sensitivity = tp / (tp + fn) if tp + fn else np.nan
    return {
        "threshold": float(threshold), "n": int(len(y_true)),
        "accuracy": (tp + tn) / len(y_true),
        "loss": skm.log_loss(y_true, np.clip(y_prob, 1e-7, 1 - 1e-7), labels=[0, 1]),
        "precision": tp / (tp + fp) if tp + fp else np.nan,
        "recall": sensitivity, "sensitivity": sensitivity,
        "specificity": tn / (tn + fp) if tn + fp else np.nan,
        "f1": skm.f1_score(y_true, y_pred, zero_division=np.nan),
        "roc_auc": skm.roc_auc_score(y_true, y_prob) if both else np.nan,
        "pr_auc": skm.average_precision_score(y_true, y_prob) if both else np.nan,
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
    }


def confusion(y_true, y_prob, threshold=0.5):
    """2 x 2 confusion matrix (rows: true NORMAL, PNEUMONIA; columns: predicted)."""
    return skm.confusion_matrix(np.asarray(y_true).astype(int), (np.asarray(y_prob) >= threshold).astype(int),
                                labels=[0, 1])


def classification_report(y_true, y_prob, threshold=0.5, target_names=("NORMAL", "PNEUMONIA")):
    """scikit-learn's per-class report as a dict."""
    y_pred = (np.asarray(y_prob) >= threshold).astype(int)
    return skm.classification_report(np.asarray(y_true).astype(int), y_pred, labels=[0, 1],
                                     target_names=list(target_names), output_dict=True, zero_division=0)
