"""What every notebook does first, in one call: quiet logs, the data folder, the results folder, the profile."""

import dataclasses
import sys
from pathlib import Path

DEFAULT_RESULTS = "../runs/notebooks"
# in Colab, results go where they survive the runtime when possible: the mounted Drive, else /content
COLAB_ROOTS = (Path("/content/drive/MyDrive"), Path("/content"))

from pneumonet import quiet_tensorflow


@dataclasses.dataclass
class Session:
    data: Path          # the data folder (Kaggle layout), resolved once
    results: Path       # where this notebook writes
    profile: str        # "cpu" or "gpu": image sizes, epochs, augmentation of the line-up
    in_colab: bool
    smoke: bool
    weights: object     # "imagenet", None (smoke) or a weights file


def colab_results_dir(roots=None):
    """``pneumonet_runs`` under the first of ``roots`` (default ``COLAB_ROOTS``) that exists."""
    for root in roots or COLAB_ROOTS:
        if Path(root).is_dir():
            return Path(root) / "pneumonet_runs"
    return Path(DEFAULT_RESULTS)


def setup(data_dir=None, results_dir=DEFAULT_RESULTS, profile=None, smoke=False, weights="imagenet"):
    """Prepare a notebook: silence TensorFlow's start-up lines, resolve the data (argument, ``$PNEUMONET_DATA``,
    ``data/chest_xray``, then a kagglehub download in Colab), create the results folder, pick the profile
    (the GPU one when Keras sees a GPU). In Colab the default results folder moves to Drive (when mounted) or
    /content. Smoke runs use no pretrained weights. Returns a ``Session``."""
    quiet_tensorflow()
    import warnings

    import keras
    import pandas as pd

    keras.utils.disable_interactive_logging()  # no progress bars (with terminal codes) from any predict call
    # Keras warns when a model built on a named input is called with a plain array: harmless, and noisy
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

    from pneumonet.data import resolve_data_dir
    from pneumonet.lineup import PROFILES, detect_profile

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 30)
    in_colab = "google.colab" in sys.modules
    data = resolve_data_dir(data_dir, download=in_colab)
    results = colab_results_dir() if in_colab and str(results_dir) == DEFAULT_RESULTS else Path(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    profile = profile or detect_profile()
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES} or None. Received: profile={profile!r}")
    return Session(data=data, results=results, profile=profile, in_colab=in_colab, smoke=bool(smoke),
                   weights=None if smoke else weights)
