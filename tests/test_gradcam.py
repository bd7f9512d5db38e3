import keras
import numpy as np
import pytest

from pneumonet.explain import (deletion_curves, find_gradcam_layer, gradcam, overlay, pick_by_outcome,
                               randomization_test)
from pneumonet.plots import plot_gradcam_grid, plot_models_side_by_side
from pneumonet.models import BACKBONES, HEADS, build_model, load_model, save_model


def _images(n, size, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, channels)).astype("float32")


def _check(cams, n):
    assert cams.shape[0] == n and cams.ndim == 3
    assert np.all(np.isfinite(cams)) and cams.min() >= 0 and cams.max() <= 1


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone(name):
    size = max(32, BACKBONES[name].min_size)
    model = build_model(name, image_size=size)
    assert find_gradcam_layer(model) == BACKBONES[name].gradcam_layer
    _check(gradcam(model, _images(2, size)), 2)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_head_and_both_classes(head):
    model = build_model("mobilenet_v2", head=head, image_size=32)
    for class_index in (None, 0, 1):
        _check(gradcam(model, _images(2, 32), class_index=class_index), 2)


def test_normal_is_explained_by_the_negated_logit(trained_cnn, synthetic_arrays):
    model, _ = trained_cnn
    images = synthetic_arrays["test"][0][:6]
    raw_pos = gradcam(model, images, class_index=1, normalize=False)
    raw_neg = gradcam(model, images, class_index=0, normalize=False)
    # ReLU keeps opposite evidence: where one map is hot, the other is (mostly) cold
    assert not np.allclose(raw_pos, raw_neg)


def test_nested_backbone_as_in_the_keras_guide():
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    _check(gradcam(model, _images(3, 32, 3)), 3)
    _check(gradcam(model, _images(3, 32, 3), layer="block_16_project"), 3)


def test_loaded_model_gives_the_same_heatmaps(trained_cnn, synthetic_arrays, tmp_path):
    model, _ = trained_cnn
    images = synthetic_arrays["test"][0][:4]
    loaded, _ = load_model(save_model(model, tmp_path / "m.keras"))
    np.testing.assert_allclose(gradcam(model, images), gradcam(loaded, images), atol=1e-4)


def test_sequential_model_without_metadata_finds_its_last_conv():
    model = keras.Sequential([keras.Input((24, 24, 1)), keras.layers.Conv2D(4, 3, name="c1"),
                              keras.layers.Conv2D(4, 3, name="c2"), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    assert find_gradcam_layer(model) == "c2"
    _check(gradcam(model, _images(2, 24)), 2)


@pytest.mark.tensorflow
def test_agrees_with_tf_keras_vis(trained_cnn, synthetic_arrays):
    model, _ = trained_cnn
    images = synthetic_arrays["test"][0][:6]
    from pneumonet.explain.tfkv import tfkv_cam

    # compared where both are computed, at the feature-map resolution (upsampling methods differ)
    ours = gradcam(model, images, layer="block3_conv")
    theirs = tfkv_cam(model, images, method="gradcam", layer="block3_conv", expand=False)  # tf-keras-vis' Gradcam
    assert ours.shape == theirs.shape == (6, 12, 12)
    assert model.layers[-1].activation is keras.activations.sigmoid  # restored after tf-keras-vis
    compared = 0
    for a, b in zip(ours, theirs):
        if a.std() > 0 and b.std() > 0:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.99
            compared += 1
    assert compared >= 3


@pytest.mark.tensorflow
@pytest.mark.parametrize("method", ["gradcam++", "scorecam"])
def test_tf_keras_vis_methods(trained_cnn, synthetic_arrays, method):
    model, _ = trained_cnn
    from pneumonet.explain.tfkv import tfkv_cam

    cams = tfkv_cam(model, synthetic_arrays["test"][0][:3], method=method)
    assert cams.shape == (3, 48, 48) and np.all(np.isfinite(cams))


def test_sanity_checks_pass_on_a_trained_model(trained_cnn, synthetic_arrays):
    model, _ = trained_cnn
    images, labels, _ = synthetic_arrays["test"]
    positives = images[labels == 1][:8]
    randomization = randomization_test(model, positives, class_index=1)
    assert randomization["mean_spearman"] < 0.5 and randomization["passed"]
    deletion = deletion_curves(model, positives, class_index=1, steps=5)
    assert deletion["area_between"] > 0 and deletion["passed"]
    assert model.predict(positives[:1, ..., None].astype("float32"), verbose=0).shape == (1, 1)  # untouched


def test_overlays_and_grids(trained_cnn, synthetic_arrays):
    import matplotlib

    matplotlib.use("Agg")
    model, result = trained_cnn
    images, labels, _ = synthetic_arrays["test"]
    cams = gradcam(model, images[:4])
    blended = overlay(images[0], cams[0])
    assert blended.shape == (48, 48, 3) and 0 <= blended.min() and blended.max() <= 1
    grid = plot_gradcam_grid(images[:4], cams, ncols=2)
    assert grid.ax_.shape == (2, 2) and len(grid.figure_.axes) == 5  # four panels and one colour bar
    chosen, outcomes = pick_by_outcome(labels, result.predictions["test"][:, 0], 0.5)
    assert set(outcomes[chosen]) <= {"TP", "FP", "TN", "FN"}
    side = plot_models_side_by_side(images[:2], {"a": cams[:2], "b": cams[:2]})
    assert side.ax_.shape == (2, 3) and [ax.get_title() for ax in side.ax_[0, 1:]] == ["a", "b"]
    assert side.figure_.axes[-1].get_ylabel().startswith("Grad-CAM heat")
    # per-cell titles (what each model decided on each image), a mixed-methods colour bar and a figure title
    mixed = plot_models_side_by_side(images[:2], {"a": cams[:2], "b": cams[:2]},
                                     cell_titles={"a": ["a1", "a2"], "b": ["b1", "b2"]}, method=None,
                                     title="cnn on the test split")
    assert [ax.get_title() for ax in mixed.ax_[1, 1:]] == ["a2", "b2"]
    assert mixed.figure_.axes[-1].get_ylabel().startswith("Heat,")
    assert mixed.figure_._suptitle.get_text() == "cnn on the test split"


def test_per_image_classes_explain_the_decisions_at_a_stored_threshold(trained_cnn, synthetic_arrays):
    model, _ = trained_cnn
    images = synthetic_arrays["test"][0][:4]
    classes = np.array([1, 0, 1, 0])
    per_image = gradcam(model, images, class_index=classes, batch_size=3)  # batches split the class array too
    pneumonia, normal = gradcam(model, images, class_index=1), gradcam(model, images, class_index=0)
    expected = np.where(classes[:, None, None] == 1, pneumonia, normal)
    assert np.allclose(per_image, expected, atol=1e-5)


def _framed(seed=3):
    """One 40 x 40 image: a bright body in columns 8..31, black margins of 8 columns on each side."""
    framed = np.zeros((1, 40, 40, 1), "float32")
    framed[:, :, 8:32] = np.random.default_rng(seed).uniform(60, 200, (1, 40, 24, 1))
    return framed


def test_uncrop_lays_a_map_back_onto_the_crop_box():
    from pneumonet.explain.gradcam import uncrop

    from pneumonet.models.layers import ContentCrop

    box = np.array([[0.0, 39.0, 8.0, 31.0]])  # all rows, columns 8..31 (the body of _framed)
    everywhere = uncrop(np.ones((1, 40, 40), "float32"), box)[0]
    assert everywhere.shape == (40, 40)
    assert np.all(everywhere[:, 8:32] > 0.99)  # exactly the box's columns get heat
    assert np.all(everywhere[:, :8] == 0) and np.all(everywhere[:, 32:] == 0)  # the margins the model never saw
    # a map hot in its left quarter: crop-frame column 9 (last hot one) is image column 8 + 9 * 23 / 39 = 13.3,
    # column 10 (cold) is 13.9; image column 14 reads crop-frame 10.2, between two cold columns
    cropped = np.zeros((1, 40, 40), "float32")
    cropped[:, :, :10] = 1.0
    out = uncrop(cropped, box)[0]
    assert np.all(out[:, 8:14] == 1) and np.all(out[:, 14:] == 0)
    # the frame's last column is the box's last column, exactly
    edge = np.zeros((1, 40, 40), "float32")
    edge[:, :, -1] = 1.0
    np.testing.assert_allclose(uncrop(edge, box)[0, :, 31], 1.0, atol=1e-5)
    # the exact inverse of the crop: the cropped image laid back gives the image's own pixels inside the box
    rows, cols = np.mgrid[0:40, 0:24]
    framed = np.zeros((1, 40, 40, 1), "float32")
    framed[0, :, 8:32, 0] = 60 + 5 * cols + 2 * rows  # smooth, so two bilinear resamplings lose nothing
    inside = keras.ops.convert_to_numpy(ContentCrop()(framed))[..., 0]
    np.testing.assert_allclose(uncrop(inside, box)[0, :, 8:32], framed[0, :, 8:32, 0], atol=1e-2)
    # an identity box (the whole frame) leaves the map as it is
    np.testing.assert_allclose(uncrop(cropped, np.array([[0.0, 39.0, 0.0, 39.0]])), cropped, atol=1e-6)


@pytest.mark.parametrize("method", ["ours", pytest.param("gradcam++", marks=pytest.mark.tensorflow),
                                    pytest.param("scorecam", marks=pytest.mark.tensorflow)])
def test_a_cropping_model_is_explained_on_the_image_pixels(method):
    from pneumonet.explain.gradcam import content_crop, normalize_maps, uncrop, upsample
    from pneumonet.models.layers import ContentCrop

    framed = _framed()
    cropping = build_model("cnn", head="gap_dense_dropout", image_size=40, content_crop=True)
    plain = build_model("cnn", head="gap_dense_dropout", image_size=40)
    weights = cropping.get_weights()
    weights[-2:] = [w * 50 for w in weights[-2:]]  # a steep head: Score-CAM's weights differ from mask to mask
    cropping.set_weights(weights)
    plain.set_weights(weights)  # the crop has no weights: the same network without it
    boxes = content_crop(cropping, framed)[2]
    np.testing.assert_allclose(boxes, [[0, 39, 8, 31]], atol=1e-4)  # the body's rows and columns
    assert content_crop(plain, framed) is None
    inside = keras.ops.convert_to_numpy(ContentCrop()(framed))  # what the cropping model's backbone sees

    def explain(model, images):
        if method == "ours":
            return gradcam(model, images, class_index=1)
        from pneumonet.explain.tfkv import tfkv_cam
        return tfkv_cam(model, images, method=method, class_index=1)

    cams = explain(cropping, framed)
    assert cams.shape == (1, 40, 40)  # image resolution, the image's frame
    assert cams[0, :, :7].max() == 0 and cams[0, :, 33:].max() == 0  # no heat on the black margins
    expected = normalize_maps(uncrop(upsample(explain(plain, inside), (40, 40)), boxes))
    np.testing.assert_allclose(cams, expected, atol=1e-3)


def test_rank_agreement_compares_maps_of_any_resolution():
    from pneumonet.explain import rank_agreement
    from pneumonet.explain.gradcam import upsample

    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 1, (3, 6, 6)).astype("float32")
    fine = upsample(coarse, (24, 24))  # the same maps at the input resolution, as tf-keras-vis returns them
    np.testing.assert_allclose(rank_agreement(coarse, fine), 1.0, atol=1e-6)  # compared at 24 x 24, either order
    np.testing.assert_allclose(rank_agreement(fine, coarse), 1.0, atol=1e-6)
    np.testing.assert_allclose(rank_agreement(coarse, 1 - coarse), -1.0, atol=1e-6)  # hot where the other is cold
    unrelated = rank_agreement(coarse, rng.uniform(0, 1, (3, 6, 6)))
    assert np.all(np.abs(unrelated) < 0.5)
    flat = np.zeros((3, 6, 6), "float32")
    assert np.isnan(rank_agreement(coarse, flat)).all()  # no evidence anywhere: nothing to rank


@pytest.mark.tensorflow
def test_score_cam_of_a_sigmoid_head_weighs_masks_by_the_probability_of_the_class():
    # flipping the head's sign turns P(pneumonia) into P(normal): Score-CAM of PNEUMONIA for the flipped model
    # must be Score-CAM of NORMAL for the original (a softmax over the single unit would weigh every mask alike:
    # NORMAL maps all zero, PNEUMONIA maps the same for both heads)
    from pneumonet.explain.tfkv import tfkv_cam

    keras.utils.set_random_seed(0)
    model = build_model("cnn", head="gap_dense_dropout", image_size=32)
    flipped = build_model("cnn", head="gap_dense_dropout", image_size=32)
    weights = model.get_weights()
    weights[-2:] = [w * 50 for w in weights[-2:]]  # a steep head: P moves from mask to mask
    model.set_weights(weights)
    flipped.set_weights(weights[:-2] + [-weights[-2], -weights[-1]])
    images = _images(3, 32, seed=4)
    normal = tfkv_cam(model, images, method="scorecam", class_index=0, max_n=8)
    assert normal.max() > 0  # evidence for NORMAL exists
    np.testing.assert_allclose(tfkv_cam(flipped, images, method="scorecam", class_index=1, max_n=8), normal,
                               atol=1e-4)
    assert not np.allclose(tfkv_cam(model, images, method="scorecam", class_index=1, max_n=8), normal, atol=1e-2)
