import time

import keras
import numpy as np
import pytest

from pneumonet.errors import ModelFileError, WeightsUnavailableError
from pneumonet.models import (BACKBONES, HEADS, backbone_layers, build_model, freeze_backbone, list_backbones,
                              load_model, save_model, trainable_summary, unfreeze)
from pneumonet.models import weights as weights_module
from tests.conftest import WEIGHTS_DIR


def _size(name):
    return BACKBONES[name].min_size if BACKBONES[name].min_size > 32 else 32


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_flat_with_gradcam_layer(name):
    model = build_model(name, image_size=_size(name))
    layer = model.get_layer(BACKBONES[name].gradcam_layer)  # reachable from the outer model: a flat graph
    assert len(layer.output.shape) == 4
    assert not any(isinstance(l, keras.Model) for l in model.layers)
    assert model.output.shape[-1] == 1
    x = np.random.default_rng(0).uniform(0, 255, (2, _size(name), _size(name), 1)).astype("float32")
    p = model.predict(x, verbose=0)
    assert p.shape == (2, 1) and np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("head", sorted(HEADS))
def test_heads(head):
    model = build_model("cnn", head=head, image_size=32)
    assert model.output.shape[-1] == HEADS[head].n_classes
    assert model.get_layer("head_logits") is not None


def test_list_backbones():
    table = list_backbones()
    assert {"vgg16", "resnet50", "resnet152_v2", "inception_v3", "densenet121", "mobilenet_v2", "efficientnet_b0",
            "xception", "resnet18", "cnn"} <= set(table.backbone)


def test_arguments_are_checked_and_echoed():
    with pytest.raises(ValueError, match="Received: backbone='vgg17'"):
        build_model("vgg17")
    with pytest.raises(ValueError, match="Received: head='nope'"):
        build_model("cnn", head="nope")
    with pytest.raises(ValueError, match="at least 75"):
        build_model("inception_v3", image_size=40)
    with pytest.raises(WeightsUnavailableError, match="Received: weights='/no/such.h5'"):
        build_model("vgg16", weights="/no/such.h5", image_size=32)
    with pytest.raises(WeightsUnavailableError, match="no ImageNet weights"):
        build_model("resnet18", weights="imagenet", image_size=32)


def test_imagenet_offline_fails_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("PNEUMONET_WEIGHTS", raising=False)
    monkeypatch.setattr(weights_module, "_KERAS_WEIGHTS_HOST", ("192.0.2.1", 443))  # TEST-NET: never answers
    start = time.time()
    with pytest.raises(WeightsUnavailableError, match="resnet50_notop.weights.h5"):
        build_model("resnet50", weights="imagenet", image_size=32)
    assert time.time() - start < 10


@pytest.mark.skipif(not (WEIGHTS_DIR / "mobilenet_v2_notop.weights.h5").exists(), reason="no offline weights")
def test_weights_folder_is_used_and_matches_keras_loader(monkeypatch):
    monkeypatch.setenv("PNEUMONET_WEIGHTS", str(WEIGHTS_DIR))
    model = build_model("mobilenet_v2", weights="imagenet", image_size=96)
    assert model.pneumonet_config["weights_source"].endswith("mobilenet_v2_notop.weights.h5")
    reference = keras.applications.MobileNetV2(include_top=False, weights=str(WEIGHTS_DIR /
                                               "mobilenet_v2_notop.weights.h5"), input_shape=(96, 96, 3))
    for name in ("Conv1", "block_16_project", "Conv_1"):
        for a, b in zip(model.get_layer(name).get_weights(), reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_unfreeze_last_n_counts_and_batchnorm_stays_frozen():
    model = build_model("resnet18", image_size=32)
    freeze_backbone(model)
    assert not any(l.trainable for l in backbone_layers(model))
    assert model.get_layer("head_logits").trainable
    unfreeze(model, last=13)
    last = backbone_layers(model)[-13:]
    assert all(l.trainable for l in last if not isinstance(l, keras.layers.BatchNormalization))
    assert not any(l.trainable for l in backbone_layers(model)[:-13])
    bns = [l for l in last if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and not any(l.trainable for l in bns)
    unfreeze(model, from_layer="conv5_block2")
    names = [l.name for l in backbone_layers(model) if l.trainable]
    assert names[0].startswith("conv5_block2") and all(n.startswith("conv5_block2") for n in names)
    table = trainable_summary(model)
    assert table.attrs["trainable_params"] > 0 and table.attrs["frozen_params"] > 0


def test_frozen_batchnorm_runs_in_inference_mode():
    model = build_model("resnet18", image_size=32)
    unfreeze(model, last=20)
    bn = next(l for l in backbone_layers(model)[-20:] if isinstance(l, keras.layers.BatchNormalization))
    before = [w.copy() for w in bn.get_weights()]
    model.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 1)).astype("float32")
    model.fit(x, np.ones(8), epochs=1, verbose=0)
    for a, b in zip(before, bn.get_weights()):  # moving statistics untouched by training
        np.testing.assert_array_equal(a, b)


def test_save_and_reload_predict_the_same(tmp_path):
    model = build_model("cnn", head="gap_dense_softmax", image_size=32)
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    path = save_model(model, tmp_path / "m.keras", {"threshold": 0.42})
    loaded, meta = load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6)
    assert meta["threshold"] == 0.42 and meta["backbone"] == "cnn"


def test_border_mask_hides_the_band_and_nothing_else(tmp_path):
    from pneumonet.experiment import Experiment
    from pneumonet.models.layers import BorderMask

    out = keras.ops.convert_to_numpy(BorderMask(0.1)(np.full((1, 20, 30, 1), 7.0, "float32")))[0, ..., 0]
    assert (out[:2] == 0).all() and (out[-2:] == 0).all() and (out[:, :3] == 0).all() and (out[:, -3:] == 0).all()
    assert (out[2:-2, 3:-3] == 7).all()  # 10% of 20 rows = 2, of 30 columns = 3
    model = build_model("cnn", head="gap_dense_dropout", image_size=40, border=0.1)
    x = np.random.default_rng(2).uniform(0, 255, (2, 40, 40, 1)).astype("float32")
    marked, centred = x.copy(), x.copy()
    marked[:, :4, :4] = 255.0  # a white marker in the corner band
    centred[:, 18:22, 18:22] = 255.0
    p = model.predict(x, verbose=0)
    np.testing.assert_array_equal(p, model.predict(marked, verbose=0))  # the band cannot be a shortcut
    assert not np.allclose(p, model.predict(centred, verbose=0))
    loaded, meta = load_model(save_model(model, tmp_path / "b.keras", {"threshold": 0.5}))
    assert meta["border"] == 0.1
    np.testing.assert_allclose(loaded.predict(marked, verbose=0), p, atol=1e-6)
    with pytest.raises(ValueError, match="Received: border=0.3"):
        Experiment("x", "cnn", weights=None, border=0.3)


def test_content_crop_fills_the_frame_with_the_body(tmp_path):
    from pneumonet.experiment import Experiment
    from pneumonet.models.layers import ContentCrop

    rng = np.random.default_rng(3)
    body = rng.uniform(60, 200, (1, 40, 24, 1)).astype("float32")
    framed = np.zeros((1, 40, 40, 1), "float32")
    framed[:, :, 8:32] = body  # black margins of 8 columns on each side
    crop = ContentCrop()
    whole = keras.ops.convert_to_numpy(crop(body))  # no margin: nothing to crop, the image comes back unchanged
    np.testing.assert_allclose(whole, body, atol=1e-4)
    out = keras.ops.convert_to_numpy(crop(framed))[0, ..., 0]
    assert out[:, 0].min() > 50 and out[:, -1].min() > 50  # the margins are gone: body pixels at both edges
    np.testing.assert_allclose(out[:, 0], body[0, :, 0, 0], atol=1e-4)  # box edges map to image edges exactly
    np.testing.assert_allclose(out[:, -1], body[0, :, -1, 0], atol=1e-4)
    # a wider or narrower frame around the same body reads the same (up to resampling)
    wider = np.zeros((1, 40, 40, 1), "float32")
    wider[:, :, 4:36] = keras.ops.convert_to_numpy(keras.ops.image.resize(body, (40, 32)))
    assert np.abs(keras.ops.convert_to_numpy(crop(wider))[0, ..., 0] - out).mean() < 10
    # a mostly black image keeps at least half of each side; an all-black one comes back whole
    speck = np.zeros((1, 40, 40, 1), "float32"); speck[:, 14:26, 14:26] = 200.0  # 12 of 40 px a side
    bright = (keras.ops.convert_to_numpy(crop(speck))[0, ..., 0] > 100).mean()
    assert 0.25 < bright < 0.45  # about 12 of the 20 px kept a side: not the speck alone (1.0), not whole (0.09)
    # no content row or column (a dim image, all under the grey level): left whole, not cropped to a guess
    dim = rng.uniform(0, 20, (1, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(crop(dim)), dim, atol=1e-4)
    # each image of a batch gets its own box; a box near the edge is widened inwards, never past the edge
    corner = np.zeros((1, 40, 40, 1), "float32"); corner[:, :12, :12] = 200.0  # 12 px: box widened to 19.5 px
    both = keras.ops.convert_to_numpy(crop(np.concatenate([framed, corner])))
    np.testing.assert_allclose(both[0], out[..., None], atol=1e-4)
    corner_out = both[1, ..., 0]
    expected = np.interp(np.arange(40) * 19.5 / 39, np.arange(40), corner[0, :, 0, 0])  # rows 0..19.5 stretched
    np.testing.assert_allclose(corner_out[:, 0], expected, atol=1e-3)
    model = build_model("cnn", head="gap_dense_dropout", image_size=40, content_crop=True)
    p = model.predict(framed, verbose=0)
    loaded, meta = load_model(save_model(model, tmp_path / "c.keras", {"threshold": 0.5}))
    assert meta["content_crop"] is True
    np.testing.assert_allclose(loaded.predict(framed, verbose=0), p, atol=1e-6)
    with pytest.raises(ValueError, match="Received: content_crop='yes'"):
        Experiment("x", "cnn", weights=None, content_crop="yes")


def test_bad_model_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "none.keras")
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="not a Keras .keras archive"):
        load_model(fake)
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.keras", "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(tmp_path / "zip.keras")


def test_lambda_layers_are_not_executed_on_load(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileError, match="[Ss]afe|[Ll]ambda|deserializ"):
        load_model(path)
