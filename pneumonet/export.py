"""Export a trained ``.keras`` model for serving without pneumonet: TensorFlow SavedModel or ONNX.

Both go through Keras' own export (``keras.export.ExportArchive``, which ``model.export`` wraps, and
``model.export(format="onnx")``). The preprocessing is part of the model itself (grayscale to RGB and the
backbone's scaling), so an export takes what ``pneumonet predict`` feeds the model: float32 images of shape
(N, H, W, 1) with pixel values 0-255, already decoded and resized. The decision threshold chosen on validation
travels with it: in the SavedModel as a variable collection ``threshold`` and a ``serve_decision`` endpoint, in
the ONNX file as metadata properties, and in both cases in ``pneumonet_export.json`` beside the artifact.
"""

import json
import tempfile
from pathlib import Path

import keras

from pneumonet.errors import PneumonetError
from pneumonet.io import write_json

FORMATS = ("tf_saved_model", "onnx")
EXPORT_METADATA = "pneumonet_export.json"


def metadata_path(output, format):
    """Where ``pneumonet_export.json`` goes: inside a SavedModel folder, beside an ONNX file."""
    output = Path(output)
    return output / EXPORT_METADATA if format == "tf_saved_model" else output.with_name(
        f"{output.stem}.{EXPORT_METADATA}")


def export_metadata(model, metadata, format):
    """What a server needs besides the graph: input, output, threshold, classes, provenance."""
    return {"format": format, "input_name": model.inputs[0].name,
            "input_shape": [None, *[int(d) for d in model.input.shape[1:]]], "input_dtype": "float32",
            "input_range": [0, 255], "output": "P(PNEUMONIA), shape (N, 1)",
            "threshold": float(metadata.get("threshold", 0.5)),
            "threshold_source": "validation (stored in model.keras)" if "threshold" in metadata else "default 0.5",
            "class_names": metadata.get("class_names", ["NORMAL", "PNEUMONIA"]),
            "run": metadata.get("run"), "backbone": metadata.get("backbone"),
            "keras_version": keras.__version__, "backend": keras.backend.backend()}


def export_saved_model(model, output, threshold):
    """A SavedModel with endpoints ``serve`` (P(PNEUMONIA)) and ``serve_decision`` (probability and decision
    at ``threshold``), plus the threshold itself as the variable collection ``threshold``."""
    spec = keras.InputSpec(shape=(None, *model.input.shape[1:]), dtype="float32")
    threshold_variable = keras.Variable(float(threshold), dtype="float32", trainable=False, name="threshold")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda images: model(images, training=False), input_signature=[spec])

    def serve_decision(images):
        probability = model(images, training=False)
        return {"p_pneumonia": probability, "pneumonia": keras.ops.greater_equal(probability, threshold_variable)}

    archive.add_endpoint("serve_decision", serve_decision, input_signature=[spec])
    archive.add_variable_collection("threshold", [threshold_variable])
    archive.write_out(str(output), verbose=False)


def export_onnx(model, output, info):
    """``model.export(format="onnx")`` (tf2onnx on TensorFlow, jax2onnx on JAX), then ``info`` as metadata."""
    import onnx

    spec = keras.InputSpec(shape=(None, *model.input.shape[1:]), dtype="float32", name=model.inputs[0].name)
    model.export(str(output), format="onnx", verbose=False, input_signature=[spec])
    proto = onnx.load(str(output))
    onnx.helper.set_model_props(proto, {key: json.dumps(value) if not isinstance(value, str) else value
                                        for key, value in info.items()})
    onnx.save(proto, str(output))


def export_model(model_path, output=None, format="tf_saved_model", overwrite=False):
    """Export ``model_path`` (a ``.keras`` written by pneumonet) to ``output`` in ``format``.

    Args:
        model_path: the ``model.keras`` of a run.
        output: the SavedModel folder or the ``.onnx`` file; default ``export/saved_model`` or
            ``export/model.onnx`` beside the model.
        format: ``"tf_saved_model"`` or ``"onnx"``.
        overwrite: replace an existing export.

    Returns:
        (path of the export, the metadata dict also written to ``pneumonet_export.json``).
    """
    from pneumonet.models import load_model

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}. Received: format={format!r}")
    default = "saved_model" if format == "tf_saved_model" else "model.onnx"
    output = Path(output) if output is not None else Path(model_path).parent / "export" / default
    if format == "onnx" and output.suffix != ".onnx":
        raise ValueError(f"an ONNX export is one .onnx file. Received: output={str(output)!r}")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    try:  # an unwritable place (or a file where a folder should be): one line now, not TensorFlow's trace later
        output.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=output.parent).close()
    except OSError as exc:
        raise PermissionError(f"cannot write the export to {output.parent} ({exc.strerror or exc})") from None
    model, metadata = load_model(model_path)
    info = export_metadata(model, metadata, format)
    if format == "tf_saved_model":
        require_modules(["tensorflow"], "tensorflow")  # a SavedModel is TensorFlow's format, on every backend
        export_saved_model(model, output, info["threshold"])
    else:
        require_modules(["onnx", "tf2onnx" if keras.backend.backend() == "tensorflow" else "jax2onnx"], "export")
        export_onnx(model, output, info)
    write_json(metadata_path(output, format), info)
    return output, info


class MissingExtraError(PneumonetError, ImportError):
    """An optional extra (``pneumonet[demo]``, ``pneumonet[export]``) is needed and not installed."""


def require_modules(modules, extra):
    """Fail with one line naming the missing packages and the extra that brings them, before long work starts."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"needs {', '.join(missing)} (not installed): pip install -e \".[{extra}]\"")
