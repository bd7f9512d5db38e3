"""Paired comparison of two models on the same images: McNemar (accuracy), DeLong and bootstrap (AUC)."""

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from pneumonet.evaluation.bootstrap import bootstrap_samples


def mcnemar(y_true, pred_a, pred_b):
    """McNemar's test on the discordant pairs; exact binomial when they are few (< 25)."""
    y_true = np.asarray(y_true).astype(int)
    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    if b + c == 0:
        p = 1.0
    elif b + c < 25:
        p = stats.binomtest(b, b + c, 0.5).pvalue
    else:
        statistic = (abs(b - c) - 1) ** 2 / (b + c)
        p = float(stats.chi2.sf(statistic, 1))
    return {"only_a_correct": b, "only_b_correct": c, "p_value": float(p)}


def delong(y_true, prob_a, prob_b):
    """DeLong's test for two correlated ROC AUCs (DeLong et al., 1988; fast form of Sun & Xu, 2014)."""
    y_true = np.asarray(y_true).astype(int)
    pos, neg = y_true == 1, y_true == 0
    m, n = int(pos.sum()), int(neg.sum())
    aucs, v10, v01 = [], [], []
    for prob in (np.asarray(prob_a, float), np.asarray(prob_b, float)):
        x, y = prob[pos], prob[neg]
        tx, ty, tz = stats.rankdata(x), stats.rankdata(y), stats.rankdata(np.concatenate([x, y]))  # midranks
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1 - (tz[m:] - ty) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    p = 1.0 if var <= 0 else float(2 * stats.norm.sf(abs(diff) / np.sqrt(var)))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": float(diff), "p_value": p}


def paired_bootstrap_auc(y_true, prob_a, prob_b, groups=None, n_boot=1000, seed=0):
    """Bootstrap (by patient) of the AUC difference a - b: 95% interval and a two-sided p-value."""
    y_true, prob_a, prob_b = np.asarray(y_true).astype(int), np.asarray(prob_a), np.asarray(prob_b)
    diffs = []
    for index in bootstrap_samples(len(y_true), groups, n_boot, seed):
        if len(np.unique(y_true[index])) < 2:
            continue
        diffs.append(roc_auc_score(y_true[index], prob_a[index]) - roc_auc_score(y_true[index], prob_b[index]))
    diffs = np.asarray(diffs)
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"difference": float(roc_auc_score(y_true, prob_a) - roc_auc_score(y_true, prob_b)),
            "low": float(np.quantile(diffs, 0.025)), "high": float(np.quantile(diffs, 0.975)), "p_value": float(p)}
