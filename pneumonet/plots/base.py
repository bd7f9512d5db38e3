"""The one rule every pneumonet plot follows: take ``ax=None`` (or ``axes=None``: then draw on a new figure) and
return what was drawn as scikit-learn's Displays do, with ``.figure_`` and ``.ax_``. The curves built on
scikit-learn return their Display itself; every other plot returns a ``Drawn``."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np


@dataclasses.dataclass(frozen=True)
class Drawn:
    """What a plot drew: ``figure_`` and ``ax_``, as scikit-learn Displays name them."""
    figure_: object  # the matplotlib Figure (save it with ``pneumonet.io.save_figure(drawn.figure_, path)``)
    ax_: object      # the Axes, or an array of Axes for a figure of several panels


def drawn(ax):
    """``Drawn`` for ``ax`` (one Axes, or an array or list of them)."""
    return Drawn(np.ravel(ax)[0].figure, ax)


def one_axes(ax, figsize):
    """``ax``, or the Axes of a new figure of ``figsize`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax
