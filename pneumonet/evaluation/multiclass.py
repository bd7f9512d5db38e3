"""Three classes (normal, bacterial, viral pneumonia): metrics with patient-bootstrap intervals, and bacterial
against viral pneumonia in the terms of Kermany et al. 2018 (accuracy, sensitivity, specificity, AUC).

A three-class model answers the binary question too: P(pneumonia) = 1 - P(normal) (``positive_probability``),
so its runs are evaluated like any binary model and carry these metrics under ``metrics.json["subtypes"]``.
"""

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pneumonet.data.catalog import SUBTYPES
from pneumonet.evaluation.bootstrap import bootstrap_ci, bootstrap_samples
from pneumonet.evaluation.thresholds import choose_threshold

SUBTYPE_COLUMNS = tuple(f"p_{name}" for name in SUBTYPES)  # per-class probabilities in predictions.csv


def summary_metrics(y_true, y_prob, class_names=SUBTYPES):
    """Accuracy, macro precision / recall / F1, macro and per-class one-vs-rest AUC (NaN for a class that is
    absent, or alone, in ``y_true``)."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_prob).argmax(axis=1)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=range(len(class_names)),
                                                                   average="macro", zero_division=0)
    values = {"accuracy": skm.accuracy_score(y_true, y_pred), "precision_macro": precision,
              "recall_macro": recall, "f1_macro": f1}
    for index, name in enumerate(class_names):
        is_class = y_true == index
        values[f"auc_{name}"] = (skm.roc_auc_score(is_class, y_prob[:, index]) if 0 < is_class.sum() < len(y_true)
                                 else np.nan)
    aucs = [values[f"auc_{name}"] for name in class_names]
    values["roc_auc_macro"] = float(np.mean(aucs)) if not np.isnan(aucs).any() else np.nan
    return {key: float(value) for key, value in values.items()}


def multiclass_metrics(y_true, y_prob, class_names=SUBTYPES):
    """``summary_metrics`` plus the log loss, the confusion matrix (rows: true class) and the per-class report."""
    y_true = np.asarray(y_true).astype(int)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    y_prob = y_prob / y_prob.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only within rounding
    labels = list(range(len(class_names)))
    y_pred = y_prob.argmax(axis=1)
    report = skm.classification_report(y_true, y_pred, labels=labels, target_names=list(class_names),
                                       output_dict=True, zero_division=0)
    return {**summary_metrics(y_true, y_prob, class_names),
            "loss": skm.log_loss(y_true, np.clip(y_prob, 1e-7, 1), labels=labels),
            "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
            "per_class": {name: report[name] for name in class_names}}


def multiclass_intervals(y_true, y_prob, groups=None, n_boot=1000, seed=0, level=0.95):
    """{metric: {"value", "low", "high"}} for ``summary_metrics``: the value on all images and a percentile
    interval over ``n_boot`` resamples of whole patients (``groups``), as ``bootstrap_ci`` does for two classes."""
    y_true, y_prob = np.asarray(y_true).astype(int), np.asarray(y_prob, dtype=np.float64)
    point = summary_metrics(y_true, y_prob)
    draws = [summary_metrics(y_true[i], y_prob[i]) for i in bootstrap_samples(len(y_true), groups, n_boot, seed)]
    alpha = (1 - level) / 2
    out = {}
    for name, value in point.items():
        values = np.array([d[name] for d in draws])
        values = values[~np.isnan(values)]
        low, high = np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan)
        out[name] = {"value": value, "low": float(low), "high": float(high)}
    out["_meta"] = {"n_boot": n_boot, "level": level, "unit": "patient" if groups is not None else "image",
                    "n": int(len(y_true))}
    return out


def bacterial_probability(frame):
    """P(bacterial | pneumonia) = p_bacteria / (p_bacteria + p_virus), for the rows of a predictions frame."""
    bacteria, virus = frame["p_bacteria"].to_numpy(), frame["p_virus"].to_numpy()
    return bacteria / np.maximum(bacteria + virus, 1e-12)


def bacterial_vs_viral(val, test, n_boot=1000, seed=0):
    """Kermany's second task on the pneumonia images alone: bacterial (positive) against viral.

    The threshold on P(bacterial | pneumonia) is chosen on validation (Youden), never on test; test metrics carry
    patient-bootstrap intervals.
    """
    def pneumonia(frame):
        frame = frame[frame["subtype"].isin(["bacteria", "virus"])]
        return (frame["subtype"] == "bacteria").to_numpy().astype(int), bacterial_probability(frame), frame

    y_val, p_val, _ = pneumonia(val)
    y_test, p_test, test_rows = pneumonia(test)
    threshold = choose_threshold(y_val, p_val, "youden")
    groups = test_rows["patient_id"].to_numpy() if "patient_id" in test_rows else None
    return {"positive": "bacteria", "threshold": threshold, "threshold_chosen_on": "val",
            "test": bootstrap_ci(y_test, p_test, threshold, groups, n_boot=n_boot, seed=seed,
                                 metric_names=("accuracy", "sensitivity", "specificity", "roc_auc"))}


def evaluate_subtypes(val, test, n_boot=1000, seed=0):
    """The three-class evaluation of a run from its validation and test prediction frames (columns
    ``subtype_label``, ``subtype``, ``p_normal``, ``p_bacteria``, ``p_virus``, optionally ``patient_id``).

    Returns:
        ``{"class_names", "val": multiclass_metrics, "test": intervals, "test_confusion_matrix" (rows: true
        class, columns: predicted), "test_per_class": precision / recall / F1 / support, "bacterial_vs_viral"}``.
    """
    def arrays(frame):
        return frame["subtype_label"].to_numpy().astype(int), frame[list(SUBTYPE_COLUMNS)].to_numpy()

    y_val, p_val = arrays(val)
    y_test, p_test = arrays(test)
    groups = test["patient_id"].to_numpy() if "patient_id" in test else None
    report = multiclass_metrics(y_test, p_test, class_names=SUBTYPES)
    return {"class_names": list(SUBTYPES), "val": multiclass_metrics(y_val, p_val, class_names=SUBTYPES),
            "test": multiclass_intervals(y_test, p_test, groups, n_boot=n_boot, seed=seed),
            "test_confusion_matrix": report["confusion_matrix"], "test_per_class": report["per_class"],
            "bacterial_vs_viral": bacterial_vs_viral(val, test, n_boot=n_boot, seed=seed)}


SUBTYPE_TABLE = (("accuracy", "Accuracy"), ("f1_macro", "Macro F1"), ("roc_auc_macro", "Macro AUC"),
                 ("auc_normal", "AUC normal"), ("auc_bacteria", "AUC bacterial"), ("auc_virus", "AUC viral"))
KERMANY_TABLE = (("accuracy", "Accuracy"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"),
                 ("roc_auc", "AUC"))


def subtype_table(runs):
    """One row per three-class run (those whose record has ``subtypes``): the three-class metrics and bacterial
    against viral, each as ``value [low, high]`` on test."""
    rows = []
    for name, record in runs.items():
        if "subtypes" not in record:
            continue
        three, kermany = record["subtypes"]["test"], record["subtypes"]["bacterial_vs_viral"]["test"]
        row = {"model": name}
        row.update({label: _interval(three[key]) for key, label in SUBTYPE_TABLE})
        row.update({f"bacterial vs viral: {label}": _interval(kermany[key]) for key, label in KERMANY_TABLE})
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(metric):
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"
