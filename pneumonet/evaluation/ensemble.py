"""Ensembles and paired comparisons over the runs of a results folder.

An ensemble averages its members' **temperature-scaled** probabilities (each member's temperature was fitted on
validation), so that no over-confident member dominates the mean; it is then evaluated like any model: its
threshold chosen on validation, intervals by patient. Members and the best single model are chosen on
validation AUC, never on test.
"""

from pathlib import Path

import pandas as pd

from pneumonet.data.splits import check_folds
from pneumonet.evaluation.calibration import apply_temperature
from pneumonet.evaluation.compare import delong, mcnemar
from pneumonet.evaluation.multiclass import SUBTYPE_COLUMNS
from pneumonet.evaluation.report import evaluate_predictions
from pneumonet.io import read_json
from pneumonet.runs import METRICS, PREDICTIONS, new_run_dir, write_run

KEYS = ["subset", "path"]
# what a combination does not inherit from the member whose rows it copies: its scores and decisions
MEMBER_SCORES = ["prob", "decision", "subtype_decision", *SUBTYPE_COLUMNS]


def read_predictions(results_dir, run):
    """``results_dir/run/predictions.csv`` sorted by (subset, path)."""
    return pd.read_csv(Path(results_dir) / run / PREDICTIONS).sort_values(KEYS).reset_index(drop=True)


def mean_probability(frames, temperatures):
    """The mean temperature-scaled P(PNEUMONIA) of aligned prediction frames ({run: frame}, {run: T})."""
    names = list(frames)
    first = frames[names[0]]
    for name in names[1:]:
        if not frames[name][KEYS].equals(first[KEYS]):
            raise ValueError(f"runs {names[0]!r} and {name!r} were not evaluated on the same images")
    out = first.drop(columns=MEMBER_SCORES, errors="ignore").copy()
    out["prob"] = sum(apply_temperature(frames[n]["prob"], temperatures[n]) for n in names) / len(names)
    return out


def best_by_validation(runs):
    """The run name with the highest validation AUC (``runs``: {name: metrics record})."""
    return max(runs, key=lambda name: runs[name]["val"]["roc_auc"])


def write_ensemble(results_dir, members, name="ensemble", n_boot=1000, seed=0, overwrite=False):
    """Evaluate the mean of ``members``' calibrated probabilities and file it as run ``name``; returns the record.
    An existing run ``name`` is replaced only with ``overwrite=True``."""
    new_run_dir(results_dir, name, overwrite=overwrite, create=False)  # refuse to clobber, first
    records = {m: read_json(Path(results_dir) / m / METRICS) for m in members}
    frames = {m: read_predictions(results_dir, m) for m in members}
    predictions = mean_probability(frames, {m: r["temperature"] for m, r in records.items()})
    val, test = (predictions[predictions["subset"] == s].reset_index(drop=True) for s in ("val", "test"))
    evaluation = evaluate_predictions(val, test, n_boot=n_boot, seed=seed)
    run_dir = new_run_dir(results_dir, name, overwrite=overwrite)
    return write_run(run_dir, name, predictions, evaluation, config={"members": list(members),
                                                                   "combination": "mean of temperature-scaled "
                                                                                  "probabilities"},
                     data_frame=predictions, extra={"members": list(members)})


def paired_tests(results_dir, runs, against):
    """McNemar (accuracy at each run's own threshold) and DeLong (AUC) of every run against ``against``, on
    the same test images. ``runs``: {name: metrics record}. Returns a DataFrame, one row per run, with both
    tests' p-values also adjusted for the number of comparisons in the table (Benjamini-Hochberg)."""
    from scipy.stats import false_discovery_control

    base = read_predictions(results_dir, against).query("subset == 'test'").reset_index(drop=True)
    rows = []
    for name, record in runs.items():
        if name == against:
            continue
        frame = read_predictions(results_dir, name).query("subset == 'test'").reset_index(drop=True)
        if not frame["path"].equals(base["path"]):
            continue  # evaluated on other images (another data folder): not comparable pair by pair
        rows.append(paired_row(name, frame, record["threshold"], against, base, runs[against]["threshold"]))
    table = pd.DataFrame(rows)
    if len(table):  # several comparisons against one model: one of them below 0.05 by chance is likely
        for test in ("McNemar", "DeLong"):
            table.insert(table.columns.get_loc(f"{test} p") + 1, f"{test} p (BH)",
                         false_discovery_control(table[f"{test} p"], method="bh"))
    return table


def paired_row(name, frame, threshold, against, base, base_threshold):
    """McNemar (accuracy, each run at its own threshold) and DeLong (AUC) of run ``name`` against ``against``,
    from their test prediction frames in the same image order."""
    accuracy = mcnemar(frame["label"], frame["prob"] >= threshold, base["prob"] >= base_threshold)
    auc = delong(frame["label"], frame["prob"], base["prob"])
    return {"model": name, "against": against, "McNemar p": accuracy["p_value"],
            "AUC difference": auc["difference"], "DeLong p": auc["p_value"]}


def write_stack(results_dir, members, name="stack", n_splits=5, n_boot=1000, seed=0, overwrite=False):
    """Stacking: a logistic regression on the members' logits, fitted on validation, filed as run ``name``.

    What is fitted on what: the members were trained on ``train``; the stacker sees only their **validation**
    predictions. The validation probabilities of the stack are out of fold (``GroupKFold(n_splits)`` by patient
    on val: each patient scored by a stacker that never saw them), so its threshold, temperature and validation
    metrics are as honest as any member's; the test probabilities come from the stacker refitted on the whole
    validation split. Returns the metrics record, with the refitted coefficients under ``"stacking"``.
    """
    import numpy as np
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    members = list(members)
    if len(members) < 2 or len(set(members)) != len(members):
        raise ValueError(f"stacking needs at least two different member runs. Received: members={members}")
    new_run_dir(results_dir, name, overwrite=overwrite, create=False)  # refuse to clobber, first
    frames = {m: read_predictions(results_dir, m) for m in members}
    base = frames[members[0]]
    for member in members[1:]:
        if not frames[member][KEYS].equals(base[KEYS]):
            raise ValueError(f"runs {members[0]!r} and {member!r} were not evaluated on the same images")
    # logits, not probabilities: the stacker's weights then act like temperatures and mixing weights at once
    x = np.column_stack([logit(np.clip(frames[m]["prob"].to_numpy(float), 1e-6, 1 - 1e-6)) for m in members])
    y = base["label"].to_numpy(int)
    val, test = (base["subset"] == "val").to_numpy(), (base["subset"] == "test").to_numpy()
    groups = base.loc[val, "patient_id" if "patient_id" in base else "path"].to_numpy()
    check_folds(n_splits, groups, "the validation split")
    stacker = LogisticRegression()
    out = base.drop(columns=MEMBER_SCORES, errors="ignore").loc[val | test].copy()
    out.loc[val, "prob"] = cross_val_predict(stacker, x[val], y[val], groups=groups, cv=GroupKFold(n_splits),
                                             method="predict_proba")[:, 1]
    stacker.fit(x[val], y[val])
    out.loc[test, "prob"] = stacker.predict_proba(x[test])[:, 1]
    out = out.reset_index(drop=True)
    val_pred, test_pred = (out[out["subset"] == s].reset_index(drop=True) for s in ("val", "test"))
    evaluation = evaluate_predictions(val_pred, test_pred, n_boot=n_boot, seed=seed)
    stacking = {"coefficients": {m: round(float(c), 4) for m, c in zip(members, stacker.coef_[0])},
                "intercept": round(float(stacker.intercept_[0]), 4)}
    run_dir = new_run_dir(results_dir, name, overwrite=overwrite)
    config = {"members": members, "combination": "logistic regression on the members' logits",
              "fitted_on": f"val predictions; val scores out of fold (GroupKFold({n_splits}) by patient), test "
                           "scores from the stacker refitted on all of val"}
    return write_run(run_dir, name, out, evaluation, config=config, data_frame=out, seed=seed,
                     extra={"members": members, "stacking": stacking})
