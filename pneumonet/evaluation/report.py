"""Evaluate one model and file the result: ``results/<run>/{metrics.json, predictions.csv, history.csv, figures/}``.

The threshold is chosen on validation predictions only, then applied unchanged to test.
"""

import contextlib
import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from pneumonet.data.catalog import SUBTYPES
from pneumonet.evaluation.bootstrap import bootstrap_ci
from pneumonet.evaluation.calibration import apply_temperature, calibration_summary, fit_temperature
from pneumonet.evaluation.metrics import binary_metrics, classification_report, positive_probability
from pneumonet.evaluation.multiclass import SUBTYPE_COLUMNS, subtype_table
from pneumonet.evaluation.thresholds import choose_threshold
from pneumonet.io import read_json, write_csv, write_json, write_text


def data_fingerprint(frame):
    """sha256 over (file name, size) of every image used: the same data give the same fingerprint anywhere."""
    digest = hashlib.sha256()
    for path in sorted(frame["path"]):
        size = Path(path).stat().st_size if Path(path).exists() else -1
        digest.update(f"{Path(path).parent.name}/{Path(path).name}:{size}\n".encode())
    return digest.hexdigest()[:16]


def environment():
    versions = {}
    for package in ("keras", "tensorflow", "jax", "numpy", "scikit-learn", "pandas", "pneumonet"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    import keras

    return {"versions": versions, "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.system()}, {__import__('os').cpu_count()} cpus"}


def new_run_dir(results_root, name, overwrite=False, create=True):
    """``results_root/name`` (created unless ``create=False``); a finished run is never overwritten unless
    ``overwrite=True``."""
    run_dir = Path(results_root) / name
    if (run_dir / "metrics.json").exists() and not overwrite:
        raise FileExistsError(f"{run_dir} already holds a finished run; pass overwrite=True (--overwrite) to "
                              "replace it, or choose another run name")
    if create:
        (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    return run_dir


@contextlib.contextmanager
def claim_run(run_dir):
    """Hold ``run_dir`` for this process for the whole block: a second writer of the same run is refused.

    The claim is a lock file beside the folder, created exclusively (atomic on every file system); one left by a
    process that no longer runs (killed) is taken over.
    """
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = run_dir.with_name(f".{run_dir.name}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and _alive(owner):
                raise FileExistsError(f"{run_dir} is being written by another pneumonet process (pid {owner}); "
                                      "wait for it to finish or choose another run name") from None
            lock.unlink(missing_ok=True)  # left by a killed process
    else:
        raise FileExistsError(f"cannot claim {run_dir}: {lock} keeps reappearing")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield run_dir
    finally:
        lock.unlink(missing_ok=True)


def _lock_owner(lock):
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    return {
        "threshold": threshold,
        "threshold_method": threshold_method if threshold_method != "sensitivity"
        else f"sensitivity>={target_sensitivity}",
        "threshold_chosen_on": "val",
        "val": binary_metrics(val["label"], val["prob"], threshold),
        "test": bootstrap_ci(test["label"], test["prob"], threshold, groups, n_boot=n_boot, seed=seed),
        "test_at_0.5": bootstrap_ci(test["label"], test["prob"], 0.5, groups, n_boot=n_boot, seed=seed),
        # operating points: a clinical sensitivity target set on val, and 0.5 on temperature-scaled probabilities
        "target_sensitivity": target_sensitivity,
        "threshold_at_target_sensitivity": at_sensitivity,
        "test_at_target_sensitivity": bootstrap_ci(test["label"], test["prob"], at_sensitivity, groups,
                                                   n_boot=n_boot, seed=seed),
        "test_at_0.5_calibrated": bootstrap_ci(test["label"], calibrated, 0.5, groups, n_boot=n_boot, seed=seed),
        "test_report": classification_report(test["label"], test["prob"], threshold),
        "calibration": calibration_summary(test["label"], test["prob"]),
        "temperature": temperature,
        "calibration_after_temperature": calibration_summary(test["label"], calibrated),
    }


def prediction_frame(frame, outputs):
    """Rows of ``frame`` (path, label, subtype, patient_id) with the model's P(PNEUMONIA), in file order; a
    three-class model's per-class probabilities too (``p_normal``, ``p_bacteria``, ``p_virus``)."""
    columns = ("path", "label", "subtype", "subtype_label", "patient_id", "subset")
    out = frame[[c for c in columns if c in frame]].copy().reset_index(drop=True)
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == len(SUBTYPE_COLUMNS):
        for index, name in enumerate(SUBTYPE_COLUMNS):
            out[name] = outputs[:, index]
    out["prob"] = positive_probability(outputs)
    return out


def write_run(run_dir, name, predictions, evaluation, config, data_frame, seed=None, extra=None):
    """Write ``predictions.csv`` and ``metrics.json`` (metrics, threshold, config, fingerprint, versions, seed)."""
    run_dir = Path(run_dir)
    predictions = predictions.copy()
    predictions["decision"] = (predictions["prob"] >= evaluation["threshold"]).astype(int)
    if SUBTYPE_COLUMNS[0] in predictions:  # a three-class model: its own decision too (the most probable class)
        predictions["subtype_decision"] = [SUBTYPES[i] for i in predictions[list(SUBTYPE_COLUMNS)].to_numpy()
                                           .argmax(axis=1)]
    write_csv(run_dir / "predictions.csv", predictions)
    record = {"run": name, **evaluation, "config": config, "data_fingerprint": data_fingerprint(data_frame),
              "environment": environment(), "seed": seed, **(extra or {})}
    write_json(run_dir / "metrics.json", record)
    return record


TABLE_COLUMNS = [("accuracy", "Accuracy"), ("loss", "Loss"), ("precision", "Precision"), ("recall", "Recall"),
                 ("f1", "F1"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"),
                 ("roc_auc", "AUC"), ("fn", "False negatives")]


def load_runs(results_root, skipped=None):
    """Every readable ``metrics.json`` below ``results_root`` (one level), by run name.

    A file that is truncated, not JSON, or lacks the test metrics is left out and, when ``skipped`` (a dict) is
    given, recorded there as path -> reason: one bad run never blocks the others.
    """
    runs = {}
    for path in sorted(Path(results_root).glob("*/metrics.json")):
        try:
            record = read_json(path)
            missing = [key for key in ("test", "test_at_0.5", "threshold") if key not in record]
            if missing:
                raise ValueError(f"no {', '.join(missing)} in it")
            record["test"]["_meta"]["threshold"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if skipped is not None:
                skipped[str(path)] = f"{type(exc).__name__}: {exc}"
            continue
        runs[path.parent.name] = record
    return runs


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
