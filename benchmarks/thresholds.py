"""Would a threshold chosen under shift transfer better? Each trained run's threshold rules, judged on shifts that
the choice never saw, on validation images only (never on test).

    python benchmarks/thresholds.py --data ../shared/data/chest_xray --results runs/main-<time> \
        --out results/thresholds

Every run keeps its ranking under shift better than its threshold: on the shift benchmark its specificity at the
stored threshold falls well below the clean figure, the failure the official test split showed. One answer is to
choose the threshold on validation images under the shifts training imitates (exposure, gamma, contrast, blur,
noise, crop, pad), so it already sits where shifted normal images fall. This measures whether that helps where it
should: on the held-out shifts (resolution, JPEG, marker, mask), which neither training nor the choice saw.

A class-balanced sample of the patient-level validation split is cut in two by patient; a threshold is chosen on
one half and judged on the other, and the other way round (the two halves' figures averaged). Rules compared: the
run's stored threshold (Youden's J on the whole validation split, clean), 0.5, Youden's J on the choosing half
clean (the stored rule on as few images), and Youden's J on the choosing half pooled over clean and imitated
shifts. Writes ``<out>/thresholds.csv`` / ``.md``: per run and rule, sensitivity, specificity and balanced
accuracy on the judging half, clean, under the imitated shifts and under the held-out shifts.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import StratifiedGroupKFold  # noqa: E402

from pneumonet.data import subset  # noqa: E402
from pneumonet.evaluation.metrics import binary_metrics  # noqa: E402
from pneumonet.evaluation.robustness import HELD_OUT, balanced_sample, shifted_probabilities  # noqa: E402
from pneumonet.evaluation.thresholds import youden_threshold  # noqa: E402
from pneumonet.experiment import prepare_catalog  # noqa: E402
from pneumonet.io import write_csv, write_text  # noqa: E402
from pneumonet.models import input_size, load_model  # noqa: E402
from pneumonet.pipelines import load_arrays  # noqa: E402
from pneumonet.robustness import trained_runs  # noqa: E402
from pneumonet.runs import MODEL  # noqa: E402

GROUPS = ("clean", "imitated", "held_out")


def group_of(shift):
    """Which part of the benchmark a condition belongs to: clean, a shift training imitates, or held out."""
    return "clean" if shift == "none" else "held_out" if shift in HELD_OUT else "imitated"


def judge(labels, conditions, threshold):
    """Mean sensitivity, specificity and balanced accuracy at ``threshold`` per group of conditions.

    ``conditions``: ``{(shift, severity): probabilities}`` for the same ``labels``.
    """
    out = {}
    for group in GROUPS:
        found = [binary_metrics(labels, p, threshold) for (shift, _), p in conditions.items()
                 if group_of(shift) == group]
        sensitivity = float(np.mean([m["sensitivity"] for m in found]))
        specificity = float(np.mean([m["specificity"] for m in found]))
        out.update({f"{group}_sensitivity": sensitivity, f"{group}_specificity": specificity,
                    f"{group}_balanced_accuracy": (sensitivity + specificity) / 2})
    return out


def choose(labels, conditions, stored):
    """The threshold of each rule from the choosing half (``conditions`` as in ``judge``)."""
    clean = conditions[("none", 0)]
    seen = [p for (shift, _), p in conditions.items() if group_of(shift) != "held_out"]
    return {"stored (Youden, all validation, clean)": stored, "0.5": 0.5,
            "Youden, this half, clean": youden_threshold(labels, clean),
            "Youden, this half, clean + imitated shifts": youden_threshold(np.tile(labels, len(seen)),
                                                                            np.concatenate(seen))}


def cross_fit(labels, groups, conditions, stored, seed=0):
    """Each rule chosen on one patient half and judged on the other, both ways; the mean of the two judgements
    (and of the two thresholds) per rule, as a DataFrame."""
    rows = []
    halves = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=seed).split(labels, labels, groups)
    for choosing, judging in halves:
        chosen = choose(labels[choosing], {k: p[choosing] for k, p in conditions.items()}, stored)
        judged = {k: p[judging] for k, p in conditions.items()}
        rows += [{"rule": rule, "threshold": t, **judge(labels[judging], judged, t)} for rule, t in chosen.items()]
    return pd.DataFrame(rows).groupby("rule", sort=False).mean().reset_index()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--results", required=True, help="folder of trained runs (*/model.keras + metrics.json)")
    parser.add_argument("--runs", nargs="+", help="run names (default: every trained run in --results)")
    parser.add_argument("--n-images", type=int, default=200, help="validation images, half of each class")
    parser.add_argument("--out", default="results/thresholds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    catalog = prepare_catalog(args.data, progress=False)
    sample = balanced_sample(subset(catalog, "val"), args.n_images, args.seed)
    frames = []
    for run in args.runs or trained_runs(args.results):
        model, meta = load_model(Path(args.results) / run / MODEL)
        images, labels, kept = load_arrays(sample, input_size(model, meta), progress=False)
        conditions = {(shift, severity): probs for shift, severity, probs
                      in shifted_probabilities(model, images, seed=args.seed)}
        frame = cross_fit(labels, kept["patient_id"].to_numpy(), conditions, meta["threshold"], args.seed)
        frames.append(frame.assign(run=run))
        print(frame.round(3).to_string(index=False), flush=True)
    table = pd.concat(frames, ignore_index=True)
    table = table[["run"] + [c for c in table.columns if c != "run"]].round(4)
    shown = ["run", "rule", "threshold"] + [f"{g}_balanced_accuracy" for g in GROUPS] + [
        "held_out_sensitivity", "held_out_specificity"]
    write_csv(Path(args.out) / "thresholds.csv", table)
    write_text(Path(args.out) / "thresholds.md", (
        f"# Threshold rules judged on held-out shifts (`{' '.join(sys.argv)}`)\n\n"
        f"{len(kept)} validation images (half of each class, patient-level split; no test image), cut in two by "
        "patient: each rule's threshold chosen on one half, judged on the other, both ways, averaged. Imitated "
        "shifts: exposure, gamma, contrast, blur, noise, crop, pad (3 severities each); held-out: "
        f"{', '.join(HELD_OUT)}. Balanced accuracy = (sensitivity + specificity) / 2, averaged over the "
        "conditions of each group. The stored threshold saw the judging half's clean images when it was chosen."
        f"\n\n{table[shown].to_markdown(index=False)}\n\nEvery column: `thresholds.csv`.\n"))


if __name__ == "__main__":
    main()
