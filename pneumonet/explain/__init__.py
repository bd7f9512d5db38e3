"""Explanations: Grad-CAM (any backend), tf-keras-vis methods, overlays and sanity checks (their figures:
``pneumonet.plots.gradcam``)."""

from pneumonet.explain.gradcam import decided_classes, find_gradcam_layer, gradcam, upsample
from pneumonet.explain.overlay import outcome_labels, overlay, pick_by_outcome
from pneumonet.explain.sanity import deletion_curves, randomization_test, rank_agreement
from pneumonet.explain.shortcut import black_margin_report, black_share, energy_shares, shortcut_report

__all__ = ["black_margin_report", "black_share", "decided_classes", "deletion_curves", "energy_shares",
           "find_gradcam_layer", "gradcam", "outcome_labels", "overlay", "pick_by_outcome", "randomization_test",
           "rank_agreement", "shortcut_report", "upsample"]
