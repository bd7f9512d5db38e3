"""Evaluation: metrics, thresholds, bootstrap intervals, paired tests, calibration and summaries (run folders
themselves: ``pneumonet.runs``)."""

from pneumonet.evaluation.bootstrap import bootstrap_ci
from pneumonet.evaluation.calibration import (apply_temperature, calibration_summary, expected_calibration_error,
                                              fit_temperature)
from pneumonet.evaluation.compare import delong, mcnemar, paired_bootstrap_auc
from pneumonet.evaluation.metrics import (binary_metrics, classification_report, confusion,
                                          positive_probability)
from pneumonet.evaluation.multiclass import evaluate_subtypes, multiclass_metrics
from pneumonet.evaluation.report import evaluate_predictions, prediction_frame, summary_table, write_summary
from pneumonet.evaluation.thresholds import choose_threshold, sensitivity_threshold, youden_threshold

__all__ = ["apply_temperature", "binary_metrics", "bootstrap_ci", "calibration_summary", "choose_threshold",
           "classification_report", "confusion", "delong", "evaluate_predictions", "evaluate_subtypes",
           "expected_calibration_error", "fit_temperature", "mcnemar", "multiclass_metrics", "paired_bootstrap_auc",
           "positive_probability", "prediction_frame", "sensitivity_threshold", "summary_table", "write_summary",
           "youden_threshold"]
