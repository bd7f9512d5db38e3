"""Save and load ``.keras`` models with pneumonet's metadata (backbone, image size, chosen threshold) inside.

Loading is safe: the file must be a Keras zip archive, Keras' ``safe_mode`` stays on (no Lambda code runs),
and nothing is unpickled.
"""

import hashlib
import json
import zipfile
from pathlib import Path

import keras

from pneumonet.errors import ModelFileError
from pneumonet.io import atomic_path
from pneumonet.runs import METRICS

METADATA_MEMBER = "pneumonet.json"


def save_model(model, path, metadata=None):
    """Write ``model`` to ``path`` (``.keras``) atomically, with ``metadata`` stored in the archive."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"models are saved as .keras files. Received: path={str(path)!r}")
    metadata = {**getattr(model, "pneumonet_config", {}), **(metadata or {})}
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:  # Keras ignores members it does not know
            archive.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2, default=str))
    return path


def read_metadata(path):
    """The metadata stored by ``save_model`` ({} for a plain Keras file), checked: a damaged or hand-edited entry
    is one ``ModelFileError`` naming the file, not a failure later in whatever reads it."""
    _check_archive(path)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                return {}
            metadata = json.loads(archive.read(METADATA_MEMBER))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:  # a bad checksum, not JSON, unreadable
        raise ModelFileError(f"{path}: its {METADATA_MEMBER} cannot be read ({exc})") from None
    problem = _metadata_problem(metadata)
    if problem:
        raise ModelFileError(f"{path}: its {METADATA_MEMBER} is not pneumonet's ({problem}); refusing to use it")
    return metadata


def _metadata_problem(metadata):
    """What is wrong with a metadata entry (None when nothing is): the fields every reader relies on."""
    if not isinstance(metadata, dict):
        return f"a {type(metadata).__name__}, not an object"
    threshold = metadata.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        return f"threshold={threshold!r}, not a number in [0, 1]"
    size = metadata.get("image_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
        return f"image_size={size!r}, not [height, width]"
    return None


def file_sha256(path):
    """sha256 of a file's bytes: ``metrics.json`` records it, so a model file that changed later is noticed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_against_record(path):
    """A one-line warning when ``metrics.json`` beside the model recorded another hash, else None."""
    record_path = Path(path).parent / METRICS
    try:
        recorded = json.loads(record_path.read_text()).get("model_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    if recorded and recorded != file_sha256(path):
        return (f"{path} does not match the model that produced {record_path} (sha256 differs): its results "
                "may not describe this file")
    return None


def update_metadata(path, **fields):
    """Add or replace metadata fields (for instance the threshold chosen on validation) in a saved model."""
    path = Path(path)
    metadata = {**read_metadata(path), **fields}
    with atomic_path(path) as tmp, zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w") as target:
        for item in source.infolist():
            if item.filename != METADATA_MEMBER:
                target.writestr(item, source.read(item.filename))
        target.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2, default=str))
    return metadata


def _check_archive(path):
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; name the model file in it (a run's model.keras)")
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a Keras .keras archive (a zip with config.json); refusing to load it")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    if "config.json" not in names:
        raise ModelFileError(f"{path} is a zip file but not a Keras model (no config.json); refusing to load it")


def load_model(path, compile=False):
    """Load a ``.keras`` model in safe mode; returns (model, metadata)."""
    metadata = read_metadata(path)  # checks the archive and the metadata before the (slower) Keras load
    import pneumonet.models.layers  # noqa: F401  (registers pneumonet's layers before deserializing)

    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises many types; report them all with the file name
        raise ModelFileError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    try:
        shape = tuple(model.inputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):  # a Sequential never built, for instance
        shape = None
    channels = metadata.get("channels", 1)  # pneumonet's models read gray images unless built for 3 channels
    if shape is None or len(shape) != 4 or shape[-1] != channels:
        raise ModelFileError(f"{path} reads inputs of shape {shape}, not the (N, height, width, {channels}) images "
                             "of a pneumonet model; was it written by pneumonet?")
    model.pneumonet_config = metadata
    return model, metadata


def input_size(model, metadata):
    """The (height, width) a loaded model reads: the image size recorded with it, else its input shape."""
    return tuple(metadata.get("image_size") or model.input.shape[1:3])
