"""``pneumonet export``: each format reloads outside Keras and predicts what the ``.keras`` model predicts, with
the stored threshold carried along."""

import json

import numpy as np
import pytest

from pneumonet.export import EXPORT_METADATA, export_model, metadata_path

@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A small CNN whose predictions spread over (0, 1), saved with the median prediction as its threshold."""
    import keras

    from pneumonet.models import build_model, save_model

    keras.utils.set_random_seed(0)
    model = build_model("cnn", image_size=32)
    images = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 1)).astype("float32")
    images *= np.linspace(0.1, 1.0, 16, dtype="float32")[:, None, None, None]  # dark to bright
    # a random model answers ~0.5 for everything: centre and stretch its logits over these images
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, _ = dense.get_weights()
    logits = keras.Model(model.inputs, dense.input).predict(images, verbose=0) @ kernel
    scale = 2.0 / logits.std()
    dense.set_weights([kernel * scale, -logits.mean(axis=0) * scale])
    expected = model.predict(images, verbose=0)[:, 0]
    assert expected.std() > 0.05, f"predictions must differ between images to compare them: {expected}"
    threshold = float(np.median(expected))
    path = save_model(model, tmp_path_factory.mktemp("run") / "tiny" / "model.keras",
                      {"threshold": threshold, "run": "tiny", "class_names": ["NORMAL", "PNEUMONIA"]})
    return path, images, expected, threshold


@pytest.mark.tensorflow
def test_saved_model_round_trip(saved_run):
    import tensorflow as tf

    path, images, expected, threshold = saved_run
    output, info = export_model(path, format="tf_saved_model")
    assert output == path.parent / "export" / "saved_model"
    reloaded = tf.saved_model.load(str(output))
    np.testing.assert_allclose(reloaded.serve(images).numpy()[:, 0], expected, atol=1e-5)
    decision = reloaded.serve_decision(images)
    np.testing.assert_allclose(decision["p_pneumonia"].numpy()[:, 0], expected, atol=1e-5)
    np.testing.assert_array_equal(decision["pneumonia"].numpy()[:, 0], expected >= threshold)
    assert reloaded.threshold[0].numpy() == pytest.approx(threshold)
    written = json.loads((output / EXPORT_METADATA).read_text())
    assert written == info and written["threshold"] == pytest.approx(threshold)
    assert written["input_shape"] == [None, 32, 32, 1] and written["run"] == "tiny"


@pytest.mark.tensorflow
def test_onnx_round_trip(saved_run):
    pytest.importorskip("tf2onnx", reason="ONNX export on TensorFlow needs tf2onnx (pip install -e '.[export]')")
    ort = pytest.importorskip("onnxruntime", reason="reloading the ONNX file needs onnxruntime")
    path, images, expected, threshold = saved_run
    output, info = export_model(path, format="onnx")
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: images})
    np.testing.assert_allclose(got[:, 0], expected, atol=1e-5)
    properties = session.get_modelmeta().custom_metadata_map
    assert float(properties["threshold"]) == pytest.approx(threshold)
    assert json.loads(properties["class_names"]) == ["NORMAL", "PNEUMONIA"]
    assert json.loads(metadata_path(output, "onnx").read_text())["threshold"] == pytest.approx(threshold)


def test_refusals_name_the_problem(saved_run, tmp_path):
    path = saved_run[0]
    with pytest.raises(ValueError, match="format must be one of"):
        export_model(path, tmp_path / "x", format="tflite")
    with pytest.raises(ValueError, match="one .onnx file"):
        export_model(path, tmp_path / "x.txt", format="onnx")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_model(path, tmp_path / "taken", format="tf_saved_model")


@pytest.mark.tensorflow
def test_cli_export(saved_run, tmp_path, capsys):
    from pneumonet import cli

    path, _, _, threshold = saved_run
    output = tmp_path / "served"
    assert cli.main(["export", "--model", str(path), "--output", str(output)]) == 0
    assert f"threshold {threshold:.4f}" in capsys.readouterr().out
    assert (output / "saved_model.pb").is_file()
    assert cli.main(["export", "--model", str(path), "--output", str(output)]) == 2  # exists: one line
    assert "already exists" in capsys.readouterr().err
