"""Ensembles and paired comparisons over the runs of a results folder.

An ensemble averages its members' **temperature-scaled** probabilities (each member's temperature was fitted on
validation), so that no over-confident member dominates the mean; it is then evaluated like any model: its
threshold chosen on validation, intervals by patient. Members and the best single model are chosen on
validation AUC, never on test.
"""

from pathlib import Path

import pandas as pd

from pneumonet.evaluation.calibration import apply_temperature
from pneumonet.evaluation.compare import delong, mcnemar
from pneumonet.evaluation.report import evaluate_predictions, write_run
from pneumonet.io import read_json

KEYS = ["subset", "path"]


def read_predictions(results_dir, run):
    """``results_dir/run/predictions.csv`` sorted by (subset, path)."""
    return pd.read_csv(Path(results_dir) / run / "predictions.csv").sort_values(KEYS).reset_index(drop=True)


def mean_probability(frames, temperatures):
    """The mean temperature-scaled P(PNEUMONIA) of aligned prediction frames ({run: frame}, {run: T})."""
    names = list(frames)
    first = frames[names[0]]
    for name in names[1:]:
        if not frames[name][KEYS].equals(first[KEYS]):
            raise ValueError(f"runs {names[0]!r} and {name!r} were not evaluated on the same images")
    out = first.drop(columns=["prob", "decision"], errors="ignore").copy()
    out["prob"] = sum(apply_temperature(frames[n]["prob"], temperatures[n]) for n in names) / len(names)
    return out


def best_by_validation(runs):
    """The run name with the highest validation AUC (``runs``: {name: metrics record})."""
    return max(runs, key=lambda name: runs[name]["val"]["roc_auc"])


def write_ensemble(results_dir, members, name="ensemble", n_boot=1000, seed=0):
    """Evaluate the mean of ``members``' calibrated probabilities and file it as run ``name``; returns the record."""
    records = {m: read_json(Path(results_dir) / m / "metrics.json") for m in members}
    frames = {m: read_predictions(results_dir, m) for m in members}
    predictions = mean_probability(frames, {m: r["temperature"] for m, r in records.items()})
    val, test = (predictions[predictions["subset"] == s].reset_index(drop=True) for s in ("val", "test"))
    evaluation = evaluate_predictions(val, test, n_boot=n_boot, seed=seed)
    run_dir = Path(results_dir) / name
    return write_run(run_dir, name, predictions, evaluation, config={"members": list(members),
                                                                   "combination": "mean of temperature-scaled "
                                                                                  "probabilities"},
                     data_frame=predictions, extra={"members": list(members)})


def paired_tests(results_dir, runs, against):
    """McNemar (accuracy at each run's own threshold) and DeLong (AUC) of every run against ``against``, on
    the same test images. ``runs``: {name: metrics record}. Returns a DataFrame, one row per run."""
    base = read_predictions(results_dir, against).query("subset == 'test'").reset_index(drop=True)
    rows = []
    for name, record in runs.items():
        if name == against:
            continue
        frame = read_predictions(results_dir, name).query("subset == 'test'").reset_index(drop=True)
        if not frame["path"].equals(base["path"]):
            continue  # evaluated on other images (another data folder): not comparable pair by pair
        accuracy = mcnemar(frame["label"], frame["prob"] >= record["threshold"],
                           base["prob"] >= runs[against]["threshold"])
        auc = delong(frame["label"], frame["prob"], base["prob"])
        rows.append({"model": name, "against": against, "McNemar p": accuracy["p_value"],
                     "AUC difference": auc["difference"], "DeLong p": auc["p_value"]})
    return pd.DataFrame(rows)
