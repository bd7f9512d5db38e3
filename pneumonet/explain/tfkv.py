"""Grad-CAM++ and Score-CAM (and tf-keras-vis' own Grad-CAM) through the same entry point. TensorFlow only."""

import keras
import numpy as np
from keras import ops

from pneumonet.explain.gradcam import content_crop, find_gradcam_layer, normalize_maps, uncrop, upsample

METHODS = ("gradcam", "gradcam++", "scorecam")


def _score(class_index):
    from tf_keras_vis.utils.scores import CategoricalScore

    if np.ndim(class_index):  # one class per image
        return CategoricalScore([int(c) for c in np.asarray(class_index)])
    return CategoricalScore(1 if class_index is None else int(class_index))


def _network(model):
    """``model`` with class logits as its output, for tf-keras-vis.

    Call it while the last layer's activation is linear. A one-unit sigmoid head becomes two logits (-z/2, z/2):
    their softmax is (1 - p, p), the probabilities Score-CAM weighs its masks by (a softmax over one unit is
    always 1, which would weigh every mask alike), and their difference is z, so Grad-CAM explains PNEUMONIA by
    the logit and NORMAL by its negation, as ``gradcam`` does.
    """
    logits = model.output
    if logits.shape[-1] == 1:
        logits = keras.layers.Concatenate()([logits * -0.5, logits * 0.5])
    return keras.Model(model.inputs, logits)


def tfkv_cam(model, images, method="gradcam++", layer=None, class_index=None, max_n=32, expand=True):
    """Heatmaps (N, H, W) in [0, 1] at input resolution from tf-keras-vis (``expand=False``: at the feature-map
    resolution, where the methods compute them).

    Scores are logits (the last activation is made linear while tf-keras-vis runs, then restored); ``class_index``
    None explains PNEUMONIA (class 1). A model that crops its input to the content is explained from what its
    backbone sees (Score-CAM's masks fall on the cropped image), and its maps are laid back onto the image through
    each crop box, at input resolution (``gradcam.uncrop``).
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")
    cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "scorecam": Scorecam}[method]
    layer = layer or find_gradcam_layer(model)
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    cropped = content_crop(model, images)
    seen = images if cropped is None else ops.convert_to_numpy(cropped[0](cropped[1]))
    kwargs = {"max_N": max_n, "expand_cam": expand} if method == "scorecam" else {"expand_cam": expand}
    last = model.layers[-1]
    original = last.activation
    try:
        last.activation = keras.activations.linear
        if cropped is not None:  # the images arrive cropped, so Score-CAM masks what the backbone sees
            cropped[0].pass_through = True
        # clone=False: tf-keras-vis' clone_model path does not know pneumonet's layers
        visualizer = cls(_network(model), clone=False)
        cams = visualizer(_score(class_index), seen, penultimate_layer=layer, **kwargs)
    finally:
        last.activation = original
        if cropped is not None:
            cropped[0].pass_through = False
    cams = np.asarray(cams, dtype="float32")
    if cropped is not None:
        return normalize_maps(uncrop(cams, cropped[2], images.shape[1:3]))
    if expand and cams.shape[1:3] != images.shape[1:3]:
        cams = upsample(cams, images.shape[1:3])
    return cams
