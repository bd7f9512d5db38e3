"""Figures. Every function takes ``ax=None`` (or ``axes=None``) and returns what it drew, with ``.figure_`` and
``.ax_`` (``plots.base``)."""

from pneumonet.plots.data import (plot_class_distribution, plot_image_sizes, plot_intensity_histograms,
                                  plot_sample_grid)
from pneumonet.plots.evaluation import (plot_calibration, plot_confusion_matrix, plot_deletion, plot_evaluation,
                                        plot_model_comparison, plot_model_comparisons, plot_pr, plot_roc,
                                        plot_roc_curves)
from pneumonet.plots.gradcam import add_heat_colorbar, plot_gradcam_grid, plot_models_side_by_side
from pneumonet.plots.robustness import plot_robustness
from pneumonet.plots.training import plot_history

__all__ = ["add_heat_colorbar", "plot_calibration", "plot_class_distribution", "plot_confusion_matrix",
           "plot_deletion", "plot_evaluation", "plot_gradcam_grid", "plot_history", "plot_image_sizes", "plot_intensity_histograms",
           "plot_model_comparison", "plot_model_comparisons", "plot_models_side_by_side", "plot_pr",
           "plot_robustness", "plot_roc", "plot_roc_curves", "plot_sample_grid"]
