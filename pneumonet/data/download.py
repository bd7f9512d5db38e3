"""Where the data come from: an argument, ``PNEUMONET_DATA``, ``data/chest_xray``, or a kagglehub download."""

import os
import socket
from pathlib import Path

from pneumonet.errors import DataUnavailableError

KAGGLE_DATASET = "paultimothymooney/chest-xray-pneumonia"
DATA_ENV = "PNEUMONET_DATA"


def is_online(host="www.kaggle.com", port=443, timeout=3.0):
    """A quick reachability probe, so offline machines fail in seconds instead of hanging on a download."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def download_with_kagglehub(timeout=3.0):
    """Download the Kaggle data set with kagglehub (online only) and return the folder holding the splits."""
    if not is_online(timeout=timeout):
        raise DataUnavailableError(
            f"cannot download {KAGGLE_DATASET}: Kaggle is not reachable from this machine. Download "
            "'Chest X-Ray Images (Pneumonia)' elsewhere, unpack it, and pass its folder with --data or "
            f"{DATA_ENV}=/path/to/chest_xray (see data/README.md).")
    import kagglehub  # imported late: optional dependency, only needed online

    return Path(kagglehub.dataset_download(KAGGLE_DATASET))


def resolve_data_dir(data_dir=None, download=False, project_root="."):
    """Return the first folder that exists: ``data_dir``, ``$PNEUMONET_DATA``, ``data/chest_xray``.

    With ``download=True`` and none of those present, fetch the data set with kagglehub.
    Raises ``DataUnavailableError`` saying what to do when nothing works.
    """
    candidates = [("argument", data_dir), (DATA_ENV, os.environ.get(DATA_ENV)),
                  ("default", Path(project_root) / "data" / "chest_xray")]
    for origin, candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            return Path(candidate).expanduser()
        if candidate and origin != "default":
            raise DataUnavailableError(f"data folder from {origin} does not exist: {candidate}")
    if download:
        return download_with_kagglehub()
    raise DataUnavailableError(
        f"no data folder: pass one (--data DIR), set {DATA_ENV}, or put the Kaggle download in data/chest_xray.")
