"""Where pretrained weights come from: a weights folder, a file, or Keras' ImageNet download.

Never falls back to random weights: anything that cannot be had raises ``WeightsUnavailableError`` saying
how to provide a file.
"""

import os
import socket
from pathlib import Path

from pneumonet.errors import WeightsUnavailableError

WEIGHTS_ENV = "PNEUMONET_WEIGHTS"
_KERAS_WEIGHTS_HOST = ("storage.googleapis.com", 443)


def weights_dir_from_env(weights_dir=None):
    """The weights folder named by ``$PNEUMONET_WEIGHTS`` (None when unset)."""
    value = weights_dir or os.environ.get(WEIGHTS_ENV)
    return Path(value).expanduser() if value else None


def _keras_cached(spec):
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    prefix = spec.keras_cache_prefix
    return bool(prefix) and any((keras_home / "models").glob(f"{prefix}*notop*"))


def _reachable(address, timeout=3.0):
    try:
        socket.create_connection(address, timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_weights(spec, weights, weights_dir=None):
    """Return what to load for ``spec``: None, a file path, or ``"imagenet"`` (Keras downloads it).

    ``weights="imagenet"`` looks for ``<weights_dir or $PNEUMONET_WEIGHTS>/<name>_notop.weights.h5`` first, then
    Keras' own cache, then checks within seconds that the download can work.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        if not spec.keras_app:
            raise WeightsUnavailableError(
                f"{spec.name} has no ImageNet weights in keras.applications. Received: weights='imagenet'. "
                "Use weights=None (train from scratch) or a weights file.")
        folder = weights_dir_from_env(weights_dir)
        if folder is not None:
            candidate = folder / f"{spec.name}_notop.weights.h5"
            if candidate.is_file():
                return str(candidate)
        if _keras_cached(spec) or _reachable(_KERAS_WEIGHTS_HOST):
            return "imagenet"
        where = f" and {folder} has no {spec.name}_notop.weights.h5" if folder else ""
        raise WeightsUnavailableError(
            f"cannot download ImageNet weights for {spec.name}: this machine is offline{where}. Put a "
            f"'{spec.name}_notop.weights.h5' file in a folder and pass it as --weights-dir (weights_dir= in "
            f"Python) or set {WEIGHTS_ENV}, or pass a weights file (--weights / weights=).")
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"weights file not found. Received: weights={str(weights)!r}. Pass None, 'imagenet' or an existing "
            ".h5/.weights.h5 file.")
    if path.suffix != ".h5":
        raise WeightsUnavailableError(f"weights must be an .h5 or .weights.h5 file. Received: weights={str(path)!r}")
    return str(path)
