"""The shift benchmark over a results folder: every trained model, the same images, every shift.

Scores each ``results/<run>/model.keras`` at its stored threshold on a class-balanced sample of the
patient-level validation split and of the dev test split, clean and under each ``evaluation.robustness``
shift; writes ``robustness.csv`` (one row per run, split, shift, severity) and ``robustness_summary.csv`` (clean,
robust and worst AUC per run and split). Recipes are compared on the **val** rows; test rows are reported only.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from pneumonet.data import subset
from pneumonet.errors import ModelFileError
from pneumonet.evaluation.robustness import SEVERITIES, balanced_sample, evaluate_shifts, robust_summary
from pneumonet.io import write_csv
from pneumonet.models import input_size, load_model
from pneumonet.pipelines import load_arrays
from pneumonet.runs import METRICS, MODEL


def trained_runs(results_dir):
    """Names of the runs in ``results_dir`` that have both ``metrics.json`` and ``model.keras``."""
    return sorted(p.parent.name for p in Path(results_dir).glob("*/model.keras")
                  if (p.parent / METRICS).exists())


def run_shift_benchmark(results_dir, catalog, runs=None, n_per_split=64, severities=SEVERITIES, shifts=None,
                        splits=("val", "test"), cache_dir=None, seed=0, log=print):
    """The shift benchmark for ``runs`` (default: every trained run) on ``catalog``'s ``splits``.

    Returns ``(frame, summary)`` and writes both as CSV files into ``results_dir``. A run whose model cannot be
    loaded is skipped, saying so through ``log``; the others are benchmarked.
    """
    results_dir = Path(results_dir)
    runs = list(runs or trained_runs(results_dir))
    if not runs:
        raise FileNotFoundError(f"no trained runs (model.keras with metrics.json) under {results_dir}")
    samples = {split: balanced_sample(subset(catalog, split), n_per_split, seed) for split in splits}
    frames, summary = [], []
    for run in runs:
        try:
            model, meta = load_model(results_dir / run / MODEL)
        except ModelFileError as exc:  # one damaged model never costs the others' benchmark
            log(f"[robustness] skipped {run}: {exc}")
            continue
        size = input_size(model, meta)
        for split, sample in samples.items():
            images, labels, _ = load_arrays(sample, size, cache_dir=cache_dir, progress=False)
            frame = evaluate_shifts(model, images, labels, meta.get("threshold", 0.5), shifts=shifts,
                                    severities=severities, seed=seed)
            counts = {"n_images": len(labels), "n_normal": int((np.asarray(labels) == 0).sum())}
            frames.append(frame.assign(run=run, split=split, **counts))
            summary.append({"run": run, "split": split, **counts, **robust_summary(frame)})
        row = summary[-len(splits)]
        log(f"[robustness] {run} ({row['split']}): AUC clean {row['clean_auc']:.3f}, robust {row['robust_auc']:.3f}, "
            f"worst {row['worst_auc']:.3f} ({row['worst_shift']})")
    if not frames:
        raise ModelFileError(f"no model under {results_dir} could be loaded: {', '.join(runs)}")
    frame = pd.concat(frames, ignore_index=True)
    summary = pd.DataFrame(summary)
    write_csv(results_dir / "robustness.csv", frame)
    write_csv(results_dir / "robustness_summary.csv", summary)
    return frame, summary
