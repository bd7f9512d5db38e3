"""Evaluation: metrics, thresholds, bootstrap intervals, paired tests, calibration, run folders and summaries."""

from pneumonet.evaluation.bootstrap import bootstrap_ci
from pneumonet.evaluation.calibration import (apply_temperature, calibration_summary, expected_calibration_error,
                                              fit_temperature)
from pneumonet.evaluation.compare import delong, mcnemar, paired_bootstrap_auc
from pneumonet.evaluation.metrics import (binary_metrics, classification_report, confusion, multiclass_metrics,
                                          positive_probability)
from pneumonet.evaluation.multiclass import evaluate_subtypes
from pneumonet.evaluation.report import (claim_run, evaluate_predictions, load_runs, new_run_dir, prediction_frame,
                                         summary_table, write_run, write_summary)
from pneumonet.evaluation.thresholds import choose_threshold, sensitivity_threshold, youden_threshold

__all__ = ["apply_temperature", "binary_metrics", "bootstrap_ci", "calibration_summary", "choose_threshold",
           "claim_run", "classification_report", "confusion", "delong", "evaluate_predictions", "evaluate_subtypes", "expected_calibration_error",
           "fit_temperature", "load_runs", "mcnemar", "multiclass_metrics", "new_run_dir", "paired_bootstrap_auc",
           "positive_probability", "prediction_frame", "sensitivity_threshold", "summary_table", "write_run",
           "write_summary", "youden_threshold"]
