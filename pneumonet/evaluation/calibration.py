"""Calibration: expected calibration error, Brier score, reliability curve, temperature scaling."""

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss


def expected_calibration_error(y_true, y_prob, n_bins=10):
    """Weighted mean |accuracy - confidence| of the positive class over equal-width probability bins."""
    y_true, y_prob = np.asarray(y_true, float), np.asarray(y_prob, float)
    bins = np.minimum((y_prob * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            ece += inside.mean() * abs(y_true[inside].mean() - y_prob[inside].mean())
    return float(ece)


def calibration_summary(y_true, y_prob, n_bins=10):
    """Calibration of P(PNEUMONIA) in one dict.

    Returns:
        ``{"ece", "brier", "curve": {"mean_predicted", "fraction_positive"}}``: the expected calibration error
        (``n_bins`` equal-width bins), the Brier score, and scikit-learn's reliability curve (empty bins dropped).
    """
    frac_pos, mean_pred = calibration_curve(np.asarray(y_true).astype(int), y_prob, n_bins=n_bins)
    return {"ece": expected_calibration_error(y_true, y_prob, n_bins),
            "brier": float(brier_score_loss(np.asarray(y_true).astype(int), y_prob)),
            "curve": {"mean_predicted": mean_pred.tolist(), "fraction_positive": frac_pos.tolist()}}


def _logit(p):
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def fit_temperature(y_true, y_prob):
    """The temperature T > 0 minimising the validation log-loss of sigmoid(logit / T)."""
    y, z = np.asarray(y_true, float), _logit(y_prob)

    def nll(log_t):
        p = 1 / (1 + np.exp(-z / np.exp(log_t)))
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def apply_temperature(y_prob, temperature):
    """Probabilities rescaled as sigmoid(logit(p) / ``temperature``): the ranking (and so the AUC) is unchanged;
    ``temperature`` > 1 softens over-confident probabilities, < 1 sharpens them."""
    return 1 / (1 + np.exp(-_logit(y_prob) / temperature))
