"""Evaluate one model from its validation and test predictions, and summarise the runs of a results folder.

The threshold is chosen on validation predictions only, then applied unchanged to test. Where the results go
is ``pneumonet.runs``' business.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from pneumonet.data.catalog import SUBTYPES
from pneumonet.evaluation.bootstrap import bootstrap_ci, bootstrap_intervals
from pneumonet.evaluation.calibration import apply_temperature, calibration_summary, fit_temperature
from pneumonet.evaluation.metrics import binary_metrics, classification_report, positive_probability
from pneumonet.evaluation.multiclass import SUBTYPE_COLUMNS, subtype_table
from pneumonet.evaluation.thresholds import choose_threshold
from pneumonet.io import write_csv, write_text
from pneumonet.runs import load_runs


def evaluate_predictions(val, test, threshold_method="youden", target_sensitivity=0.95, n_boot=1000, seed=0):
    """Metrics for one model from validation and test predictions.

    ``val`` and ``test`` are DataFrames with columns ``label``, ``prob`` and (optionally) ``patient_id``.
    Returns a dict: the threshold and how it was chosen, test metrics with 95% patient-level bootstrap
    intervals at that threshold, at 0.5, at the val threshold reaching ``target_sensitivity``, and at 0.5 after
    temperature scaling; calibration before and after temperature scaling (fitted on val).
    """
    threshold = choose_threshold(val["label"], val["prob"], threshold_method, target_sensitivity)
    at_sensitivity = choose_threshold(val["label"], val["prob"], "sensitivity", target_sensitivity)
    groups = test["patient_id"].to_numpy() if "patient_id" in test else None
    temperature = fit_temperature(val["label"], val["prob"])
    calibrated = apply_temperature(test["prob"], temperature)
    at_threshold, at_half, at_target = bootstrap_intervals(test["label"], test["prob"],
                                                           [threshold, 0.5, at_sensitivity], groups,
                                                           n_boot=n_boot, seed=seed)
    return {
        "threshold": threshold,
        "threshold_method": threshold_method if threshold_method != "sensitivity"
        else f"sensitivity>={target_sensitivity}",
        "threshold_chosen_on": "val",
        "val": binary_metrics(val["label"], val["prob"], threshold),
        "test": at_threshold,
        "test_at_0.5": at_half,
        # operating points: a clinical sensitivity target set on val, and 0.5 on temperature-scaled probabilities
        "target_sensitivity": target_sensitivity,
        "threshold_at_target_sensitivity": at_sensitivity,
        "test_at_target_sensitivity": at_target,
        "test_at_0.5_calibrated": bootstrap_ci(test["label"], calibrated, 0.5, groups, n_boot=n_boot, seed=seed),
        "test_report": classification_report(test["label"], test["prob"], threshold),
        "calibration": calibration_summary(test["label"], test["prob"]),
        "temperature": temperature,
        "calibration_after_temperature": calibration_summary(test["label"], calibrated),
    }


def prediction_frame(frame, outputs):
    """Rows of ``frame`` (path, label, subtype, patient_id) with the model's P(PNEUMONIA), in file order; a
    three-class model's per-class probabilities too (``p_normal``, ``p_bacteria``, ``p_virus``) and its most
    probable class (``subtype_decision``)."""
    columns = ("path", "label", "subtype", "subtype_label", "patient_id", "subset")
    out = frame[[c for c in columns if c in frame]].copy().reset_index(drop=True)
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == len(SUBTYPE_COLUMNS):  # three classes: their own decision too
        for index, name in enumerate(SUBTYPE_COLUMNS):
            out[name] = outputs[:, index]
        out["subtype_decision"] = [SUBTYPES[i] for i in outputs.argmax(axis=1)]
    out["prob"] = positive_probability(outputs)
    return out


TABLE_COLUMNS = [("accuracy", "Accuracy"), ("loss", "Loss"), ("precision", "Precision"), ("recall", "Recall"),
                 ("f1", "F1"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"),
                 ("roc_auc", "AUC"), ("fn", "False negatives")]


def summary_table(runs, key="test"):
    """One row per run in the shape of the reference tables, with ``value [low, high]`` strings and numbers."""
    rows = []
    for name, record in runs.items():
        metrics = record[key]
        row = {"model": name, "threshold": round(metrics["_meta"]["threshold"], 3)}
        for metric, label in TABLE_COLUMNS:
            m = metrics[metric]
            digits = 0 if metric == "fn" else 3
            row[label] = (f"{m['value']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}]")
            row[f"{metric}_value"] = m["value"]
        rows.append(row)
    return pd.DataFrame(rows)


def write_summary(results_root, runs=None):
    """``summary.csv`` and ``summary.md`` in ``results_root`` (at the chosen threshold and at 0.5)."""
    runs = runs if runs is not None else load_runs(results_root)
    if not runs:
        raise FileNotFoundError(f"no runs with metrics.json under {results_root}")
    chosen, fixed = summary_table(runs, "test"), summary_table(runs, "test_at_0.5")
    write_csv(Path(results_root) / "summary.csv", chosen)
    labels = ["model", "threshold"] + [label for _, label in TABLE_COLUMNS]
    any_run = next(iter(runs.values()))
    meta = any_run["test"]["_meta"]
    text = ("# Results on the test split\n\n"
            f"Values with 95% bootstrap intervals ({meta['n_boot']} resamples of {meta['unit']}s). Threshold chosen "
            "on the patient-level validation split.\n\n" + chosen[labels].to_markdown(index=False) +
            "\n\n## At the conventional 0.5 threshold\n\n" + fixed[labels].to_markdown(index=False) + "\n")
    three = subtype_table(runs)
    if len(three):
        text += ("\n## Three classes: normal, bacterial, viral\n\nThe three-class runs above answer the binary "
                 "question with P(pneumonia) = 1 - P(normal). Here: their three-class metrics on test, and bacterial "
                 "(positive) against viral among the pneumonia images, threshold chosen on validation.\n\n"
                 + three.to_markdown(index=False) + "\n")
    write_text(Path(results_root) / "summary.md", text)
    return chosen


OPERATING_POINTS = (("test_at_0.5", "0.5"), ("test", "validation threshold (Youden)"),
                    ("test_at_target_sensitivity", "validation sensitivity target"),
                    ("test_at_0.5_calibrated", "0.5 after temperature scaling"))


def operating_points(runs):
    """One row per (model, operating point): threshold, sensitivity, specificity, accuracy and false negatives
    on test, for each threshold in ``OPERATING_POINTS`` that the run's metrics hold."""
    rows = []
    for name, record in runs.items():
        for key, label in OPERATING_POINTS:
            if key not in record:
                continue
            m = record[key]
            rows.append({"model": name, "operating point": label, "threshold": m["_meta"]["threshold"],
                         **{metric: m[metric]["value"] for metric in ("sensitivity", "specificity", "accuracy")},
                         "false negatives": int(m["fn"]["value"]), "false positives": int(m["fp"]["value"])})
    return pd.DataFrame(rows)
