"""Grad-CAM++ and Score-CAM (and tf-keras-vis' own Grad-CAM) through the same entry point. TensorFlow only."""

import numpy as np

from pneumonet.explain.gradcam import crop_boxes, find_gradcam_layer, normalize_maps, uncrop, upsample

METHODS = ("gradcam", "gradcam++", "scorecam")


def _score(model, class_index):
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    if np.ndim(class_index):  # one class per image
        classes = [int(c) for c in np.asarray(class_index)]
        return BinaryScore([c != 0 for c in classes]) if model.output.shape[-1] == 1 else CategoricalScore(classes)
    if model.output.shape[-1] == 1:
        return BinaryScore(class_index != 0)  # logit for PNEUMONIA, its negation for NORMAL
    return CategoricalScore(1 if class_index is None else class_index)


def tfkv_cam(model, images, method="gradcam++", layer=None, class_index=None, max_n=32, expand=True):
    """Heatmaps (N, H, W) in [0, 1] at input resolution from tf-keras-vis (``expand=False``: at the
    feature-map resolution, for Grad-CAM and Grad-CAM++). A model that crops its input to the content gets its maps
    laid back onto the image through each crop box, at input resolution (``gradcam.uncrop``).

    The last activation is replaced by a linear one (tf-keras-vis' ``ReplaceToLinear``), so scores are logits.
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")
    cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "scorecam": Scorecam}[method]
    layer = layer or find_gradcam_layer(model)
    last = model.layers[-1]
    original = last.activation
    try:
        # clone=False: tf-keras-vis' clone_model path does not know pneumonet's layers; restore it afterwards
        visualizer = cls(model, model_modifier=ReplaceToLinear(), clone=False)
        kwargs = {"max_N": max_n} if method == "scorecam" else {"expand_cam": expand}
        images = np.asarray(images, dtype="float32")
        if images.ndim == 3:
            images = images[..., None]
        cams = visualizer(_score(model, class_index), images, penultimate_layer=layer, **kwargs)
    finally:
        last.activation = original
    cams = np.asarray(cams, dtype="float32")
    boxes = crop_boxes(model, images)
    if boxes is not None:
        return normalize_maps(uncrop(upsample(cams, images.shape[1:3]), boxes))
    if expand and cams.shape[1:3] != images.shape[1:3]:
        cams = upsample(cams, images.shape[1:3])
    return cams
