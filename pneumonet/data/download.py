"""Where the data come from: an argument, ``PNEUMONET_DATA``, ``data/chest_xray``, or a kagglehub download."""

import os
import socket
from pathlib import Path

from pneumonet.errors import DataLayoutError, DataUnavailableError

KAGGLE_DATASET = "paultimothymooney/chest-xray-pneumonia"
DATA_ENV = "PNEUMONET_DATA"
PROBE_ENV = "PNEUMONET_KAGGLE_PROBE"


def is_online(host=None, port=None, timeout=3.0):
    """A quick reachability probe, so offline machines fail in seconds instead of hanging on a download.

    Probes ``www.kaggle.com:443`` unless ``$PNEUMONET_KAGGLE_PROBE`` names another ``host:port`` (a proxy, or
    the Colab simulation in the tests, where a stand-in kagglehub serves local data)."""
    default_host, _, default_port = os.environ.get(PROBE_ENV, "www.kaggle.com:443").rpartition(":")
    host, port = host or default_host, port or int(default_port)
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


# the checkout pneumonet runs from (an editable install), whose data/chest_xray a notebook looks for from notebooks/
CHECKOUT = Path(__file__).resolve().parents[2]


def resolve_data_dir(data_dir=None, download=False, project_root=".", checkout=False):
    """The one place that decides which data folder a command or notebook uses.

    The first folder that exists of ``data_dir``, ``$PNEUMONET_DATA``, ``data/chest_xray`` under
    ``project_root`` and, with ``checkout=True``, under the checkout pneumonet runs from (so a notebook, which runs
    in ``notebooks/``, finds the repository's ``data/chest_xray``); with ``download=True`` and none present, a
    kagglehub download.
    Returns the folder that holds the splits (a nested ``chest_xray``, as Kaggle zips nest it, is followed).
    Raises ``DataUnavailableError`` saying what to do when nothing works, and ``DataLayoutError`` when the
    folder exists but holds no ``train``.
    """
    candidates = [("argument", data_dir), (DATA_ENV, os.environ.get(DATA_ENV)),
                  ("default", Path(project_root) / "data" / "chest_xray")]
    if checkout:
        candidates.append(("default", CHECKOUT / "data" / "chest_xray"))
    for origin, candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            return find_data_root(candidate)
        if candidate and origin != "default":
            what = "is a file, not a folder" if Path(candidate).expanduser().exists() else "does not exist"
            raise DataUnavailableError(f"data folder from {origin} {what}: {candidate}")
    if download:
        return find_data_root(download_with_kagglehub())
    raise DataUnavailableError(
        f"no data folder: pass one (--data DIR), set {DATA_ENV}, or put the Kaggle download in data/chest_xray.")


def find_data_root(root):
    """The folder holding the splits: ``root`` itself or a nested ``chest_xray`` (as Kaggle zips nest it)."""
    root = Path(root).expanduser().resolve()  # one spelling of every image path, whatever the caller typed
    if not root.is_dir():
        raise DataLayoutError(
            f"data folder not found: {root}. Expected the Kaggle layout {{train,val,test}}/{{NORMAL,PNEUMONIA}}; "
            "see data/README.md for how to get the data, or run `pneumonet data --synthetic DIR` for a demo set.")
    for candidate in (root, root / "chest_xray", root / "chest_xray" / "chest_xray"):
        if (candidate / "train").is_dir():
            return candidate
    found = sorted(p.name for p in root.iterdir())[:10]
    raise DataLayoutError(f"{root} has no 'train' folder (found: {found}). "
                          "Expected {train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg")
