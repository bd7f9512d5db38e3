"""Grad-CAM (Selvaraju et al., 2017) for flat and nested Keras 3 models, on every backend.

The model is cut into two sub-models around the explained layer: ``features`` (inputs -> feature map A) and
``score`` (A -> pre-activation score). Gradients of the score with respect to A are taken with the running
backend's own autodiff, so there is no "Graph disconnected" and no TensorFlow requirement.
For a one-unit sigmoid head, PNEUMONIA (class 1) is explained by the logit, NORMAL (class 0) by its negation;
softmax heads explain the logit of ``class_index``. By default each image's predicted class is explained.
"""

import keras
import numpy as np
from keras import ops
from PIL import Image
from scipy.ndimage import map_coordinates

from pneumonet.evaluation.metrics import positive_probability
from pneumonet.models.layers import ContentCrop
from pneumonet.models.registry import BACKBONES


def _is_feature_map(layer):
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer)


def content_crop(model, images, batch_size=32):
    """For a model that crops its input to the content (``ContentCrop``): (layer, inputs, boxes), the layer, the
    images as it receives them (N, H, W, C) and each image's box (N, 4) as (top, bottom, left, right) in the
    image's pixels. None for a model that sees the whole frame."""
    layer = next((layer for layer in model.layers if isinstance(layer, ContentCrop)), None)
    if layer is None:
        return None
    reach = keras.Model(_single(model.inputs), layer.input)
    images = np.asarray(images, dtype="float32")
    inputs = np.concatenate([ops.convert_to_numpy(reach(images[start:start + batch_size], training=False))
                             for start in range(0, len(images), batch_size)])
    boxes = np.stack([ops.convert_to_numpy(side) for side in layer.box(inputs)], axis=1)
    return layer, inputs, boxes


def uncrop(maps, boxes, size=None):
    """Heatmaps (N, h, w) of a cropping model, which lie in each image's crop box stretched to the full frame,
    laid back onto the image's pixels, of ``size`` (H, W) (default: the maps' own): (N, H, W), zero outside the box
    (pixels the model never saw)."""
    maps = upsample(maps, size) if size is not None else maps
    n, height, width = maps.shape
    rows, cols = np.mgrid[0:height, 0:width].astype("float32")
    out = np.empty_like(maps, dtype="float32")
    for k, (top, bottom, left, right) in enumerate(boxes):
        # ContentCrop's inverse: image row y sits at row (y - top) * (H - 1) / (bottom - top) of the cropped frame
        i = (rows - top) * (height - 1) / max(bottom - top, 1e-6)
        j = (cols - left) * (width - 1) / max(right - left, 1e-6)
        out[k] = map_coordinates(maps[k], [i, j], order=1, mode="constant", cval=0.0)
    return out


def find_gradcam_layer(model):
    """The layer to explain: the model's metadata, the registry by name, else the last 4-D feature map."""
    name = getattr(model, "pneumonet_config", {}).get("gradcam_layer")
    candidates = [name] if name else []
    candidates += [spec.gradcam_layer for spec in BACKBONES.values()]
    for container in [model] + [layer for layer in model.layers if isinstance(layer, keras.Model)]:
        for candidate in candidates:
            if candidate and any(layer.name == candidate for layer in container.layers):
                return candidate
    for layer in reversed(_all_layers(model)):
        if _is_feature_map(layer) and not isinstance(layer, keras.Model):
            return layer.name
    raise ValueError(f"no 4-D convolutional feature map found in {model.name}; pass layer=...")


def _all_layers(model):
    out = []
    for layer in model.layers:
        out.extend(_all_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def _logit_tensor(model):
    """(tensor, dense) where the pre-activation score is ``tensor`` or ``dense(tensor)`` without its activation."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation):
        return last.input, None
    if isinstance(last, keras.layers.Dense) and last.activation in (keras.activations.sigmoid,
                                                                   keras.activations.softmax):
        return last.input, last
    return model.output, None


def split_for_gradcam(model, layer):
    """(features, score_fn): features(x) -> A; score_fn(A) -> logits (N, units). Handles one nested level."""
    owner = model if any(l.name == layer for l in model.layers) else next(
        (l for l in model.layers if isinstance(l, keras.Model) and any(m.name == layer for m in l.layers)), None)
    if owner is None:
        raise ValueError(f"layer {layer!r} not found in {model.name}. Received: layer={layer!r}")
    logit_tensor, dense = _logit_tensor(model)
    if owner is model:
        target = model.get_layer(layer).output
        features = keras.Model(_single(model.inputs), target)
        tail = keras.Model(target, logit_tensor)

        def features(x, training=False, _model=features):
            return _model(x, training=training)
    else:
        # nested backbone (keras.io transfer-learning guide):
        # outer prefix -> inner prefix -> A -> inner rest -> outer rest
        target = owner.get_layer(layer).output
        into_owner = keras.Model(_single(model.inputs), _node_input(model, owner))
        inner_prefix = keras.Model(_single(owner.inputs), target)
        inner_rest = (lambda a, training=False: a) if target is owner.output else keras.Model(target, owner.output)
        outer_rest = keras.Model(_node_output(model, owner), logit_tensor)

        def features(x, training=False):
            return inner_prefix(into_owner(x, training=training), training=training)

        def tail(a):
            return outer_rest(inner_rest(a, training=False), training=False)

    def score_fn(a):
        z = tail(a)
        if dense is not None:
            z = ops.matmul(z, dense.kernel) + (dense.bias if dense.use_bias else 0.0)
        return z

    return features, score_fn


def _single(inputs):
    # a one-input model called on a bare tensor: avoid Keras' input-structure warning
    return inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs


def _node_tensors(model, layer, kind):
    for node in layer._inbound_nodes:
        for tensor in getattr(node, kind):
            try:
                keras.Model(model.inputs, tensor)  # reachable from the outer inputs: this call is in model's graph
                return tensor
            except ValueError:
                continue
    raise ValueError(f"cannot locate {layer.name} in {model.name}")


def _node_output(model, layer):
    """The tensor a nested layer produced inside ``model``'s graph."""
    return _node_tensors(model, layer, "output_tensors")


def _node_input(model, layer):
    """The tensor a nested layer was called on inside ``model``'s graph."""
    return _node_tensors(model, layer, "input_tensors")


def _class_scores(logits, class_index):
    logits = ops.convert_to_tensor(logits)
    if logits.shape[-1] == 1:
        if class_index is None:  # the predicted class at 0.5: PNEUMONIA where the logit is positive, else NORMAL
            sign = ops.where(logits[:, 0] >= 0, 1.0, -1.0)
            return ops.stop_gradient(sign) * logits[:, 0]
        if np.ndim(class_index):  # one class per image, e.g. the decisions at a model's stored threshold
            return ops.convert_to_tensor(np.where(np.asarray(class_index) == 1, 1.0, -1.0), logits.dtype) * logits[:, 0]
        return (-1.0 if class_index == 0 else 1.0) * logits[:, 0]
    if class_index is None:
        index = ops.argmax(logits, axis=-1)
    elif np.ndim(class_index):
        index = ops.convert_to_tensor(np.asarray(class_index))
    else:
        index = ops.full((ops.shape(logits)[0],), class_index)
    return ops.take_along_axis(logits, ops.expand_dims(ops.cast(index, "int32"), -1), axis=-1)[:, 0]


def _gradients(score_of, a):
    """d sum(score_of(a)) / d a, with the running backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a = tf.convert_to_tensor(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            total = tf.reduce_sum(score_of(a))
        return tape.gradient(total, a).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: score_of(t).sum())(jax.numpy.asarray(a)))
    if backend == "torch":
        import torch

        t = torch.as_tensor(np.asarray(a)).requires_grad_(True)
        score_of(t).sum().backward()
        return t.grad.detach().cpu().numpy()
    raise NotImplementedError(f"Grad-CAM supports the tensorflow, jax and torch backends. Received: {backend}")


def gradcam(model, images, layer=None, class_index=None, batch_size=32, normalize=True):
    """Heatmaps (N, h, w) in [0, 1] at the feature-map resolution for a batch of ``images``; for a model that
    crops its input to the content (``ContentCrop``), (N, H, W) at the image resolution, laid back onto the image
    through each crop box (``uncrop``).

    ``class_index``: None explains each image's predicted class at 0.5; an int, that class for every image; an
    array (N,), one class per image (pass ``probs >= threshold`` to explain the decisions at a stored threshold).
    Grad-CAM++ and Score-CAM: ``pneumonet.explain.tfkv.tfkv_cam`` (tf-keras-vis, TensorFlow).
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    cropped = content_crop(model, images, batch_size)
    layer = layer or find_gradcam_layer(model)
    features, score_fn = split_for_gradcam(model, layer)
    cams = []
    for start in range(0, len(images), batch_size):
        a = ops.convert_to_numpy(features(images[start:start + batch_size], training=False))
        classes = class_index[start:start + batch_size] if np.ndim(class_index) else class_index
        grads = _gradients(lambda t: _class_scores(score_fn(t), classes), a)
        weights = grads.mean(axis=(1, 2), keepdims=True)       # global-average-pooled gradients
        cam = np.maximum((weights * a).sum(axis=-1), 0.0)       # ReLU: only evidence for the class
        cams.append(cam)
    cams = np.concatenate(cams)
    if cropped is not None:  # maps of the crop box, laid back onto the image's pixels
        cams = uncrop(cams, cropped[2], images.shape[1:3])
    return normalize_maps(cams) if normalize else cams


def decided_classes(outputs, threshold):
    """The class to explain for each image: the model's decision at its stored ``threshold``.

    One sigmoid unit or a two-way softmax: 1 (PNEUMONIA) where P(PNEUMONIA) >= threshold, else 0. Three classes:
    0 (normal) where P(pneumonia) = 1 - P(normal) is below the threshold, else the more probable pneumonia
    (1 bacterial, 2 viral).
    """
    outputs = np.asarray(outputs)
    pneumonia = positive_probability(outputs) >= threshold
    if outputs.ndim == 2 and outputs.shape[1] == 3:
        return np.where(pneumonia, 1 + outputs[:, 1:].argmax(axis=1), 0)
    return pneumonia.astype(int)


def upsample(cams, size):
    """Heatmaps (N, h, w) resized to ``size`` = (H, W), bilinear."""
    return np.stack([np.asarray(Image.fromarray(c.astype("float32")).resize(size[::-1], Image.BILINEAR))
                     for c in cams])


def normalize_maps(cams):
    """Each heatmap divided by its own maximum (all-zero maps stay zero): (N, h, w) in [0, 1]."""
    peak = cams.reshape(len(cams), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)
