"""Patient-bootstrap intervals at the three thresholds ``evaluate_predictions`` reports: one resampling pass
shared by the thresholds (``bootstrap_intervals``) against one ``bootstrap_ci`` pass per threshold, side by side.

    python benchmarks/bootstrap.py --predictions results/main/densenet121/predictions.csv

The test rows of a run's predictions (their patients resampled, as every report does), 1,000 resamples, at the
run's three thresholds: Youden's J on validation, 0.5 and the validation threshold reaching sensitivity 0.95.
The two ways must give identical intervals; the script stops if they do not.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from benchmarks._common import Timer, machine  # noqa: E402
from pneumonet.evaluation.bootstrap import bootstrap_ci, bootstrap_intervals  # noqa: E402
from pneumonet.evaluation.thresholds import choose_threshold  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", default="results/main/densenet121/predictions.csv")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    frame = pd.read_csv(args.predictions)
    val, test = frame[frame["subset"] == "val"], frame[frame["subset"] == "test"]
    thresholds = [choose_threshold(val["label"], val["prob"], "youden"), 0.5,
                  choose_threshold(val["label"], val["prob"], "sensitivity", 0.95)]
    y, p, groups = test["label"].to_numpy(), test["prob"].to_numpy(), test["patient_id"].to_numpy()
    with Timer() as separate:
        one_by_one = [bootstrap_ci(y, p, t, groups, n_boot=args.n_boot) for t in thresholds]
    with Timer() as shared:
        together = bootstrap_intervals(y, p, thresholds, groups, n_boot=args.n_boot)
    if together != one_by_one:
        sys.exit("the shared pass gave different intervals: not a speed-up, a bug")
    print(f"data: {args.predictions}, {len(test)} test images of {len(set(groups))} patients; {args.n_boot} "
          f"resamples at thresholds {', '.join(f'{t:.3f}' for t in thresholds)}; machine: {machine()}\n")
    print("| intervals at three thresholds | seconds | ratio |\n|---|---:|---:|")
    print(f"| one `bootstrap_ci` pass per threshold | {separate.seconds:.1f} | 1.0 |")
    print(f"| one shared pass (`bootstrap_intervals`), identical intervals | {shared.seconds:.1f} | "
          f"{separate.seconds / shared.seconds:.1f} |")


if __name__ == "__main__":
    main()
