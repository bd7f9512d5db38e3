"""``build_model``: one flat functional graph from raw pixels to probability.

input (H, W, 1 or 3, pixels 0..255) -> [AffineAugment] -> [BorderMask] -> ToRGB -> BackbonePreprocess -> backbone
layers -> head layers. The backbone is built on the model's own tensors, so every inner layer (the Grad-CAM
layer included) stays reachable from ``model.inputs``: no nested sub-model, no "Graph disconnected".
"""

import dataclasses
import warnings

import keras
import numpy as np

from pneumonet.errors import WeightsUnavailableError
from pneumonet.models.heads import apply_layers, get_head, head_layers
from pneumonet.models.layers import AffineAugment, BackbonePreprocess, BorderMask, ContentCrop, ToRGB
from pneumonet.models.registry import get_backbone
from pneumonet.models.weights import resolve_weights


def _check_size(spec, image_size):
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    image_size = tuple(int(s) for s in image_size)
    if len(image_size) != 2 or min(image_size) < spec.min_size:
        raise ValueError(f"image_size must be (height, width) of at least {spec.min_size} px for {spec.name}. "
                         f"Received: image_size={image_size}")
    return image_size


def copy_weights(source, target):
    """Copy weights layer by layer in build order (both built by the same code), checking every shape."""
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    if len(src) != len(dst):
        raise ValueError(f"cannot copy weights: {len(src)} weighted layers in {source.name}, {len(dst)} in "
                         f"{target.name}")
    for a, b in zip(src, dst):
        values = a.get_weights()
        if [v.shape for v in values] != [tuple(w.shape) for w in b.weights]:
            raise ValueError(f"weight shapes differ between {a.name} and {b.name}")
        b.set_weights([np.asarray(v, dtype=w.dtype) for v, w in zip(values, b.weights)])


def build_model(backbone, head="gap_dense_dropout", weights=None, image_size=None, channels=1,
                weights_dir=None, augment=None, units=None, dropout=None, n_classes=None, border=0.0,
                content_crop=False, name=None):
    """Build a pneumonet model.

    Args:
        backbone: a registry name (``list_backbones()``), e.g. ``"vgg16"``, ``"InceptionV3"``, ``"cnn"``.
        head: a name in ``pneumonet.models.heads.HEADS`` or a ``HeadSpec``; ``units``, ``dropout`` and
            ``n_classes`` override its fields.
        weights: None (random), ``"imagenet"`` (weights folder first, then Keras' download) or a file path
            (``.weights.h5``, or a legacy ``.h5`` such as RadImageNet's ``RadImageNet-ResNet50_notop.h5``).
        image_size: int or (height, width); the backbone's native size by default.
        channels: 1 for grayscale input (expanded to RGB inside the model) or 3.
        weights_dir: folder with ``<backbone>_notop.weights.h5`` files (default ``$PNEUMONET_WEIGHTS``).
        augment: None; an ``Augment`` for the whole recipe (affine warp + brightness) inside the model, as one
            batched gather (fast on a GPU); identity at inference.
        border: 0 (off) or the fraction of each side blacked out by a ``BorderMask`` after augmentation (the
            image border, where text markers sit, cannot become a shortcut).
        content_crop: crop every image to its content by a ``ContentCrop`` after augmentation (the black
            background beside the body cannot become a shortcut).
    """
    spec = get_backbone(backbone)
    head_spec = get_head(head, units=units, dropout=dropout, n_classes=n_classes)
    image_size = _check_size(spec, image_size or spec.image_size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    source = resolve_weights(spec, weights, weights_dir)  # fails fast, before anything is built

    inputs = keras.Input((*image_size, channels), name="image")
    x = inputs
    if augment is not None:  # before ToRGB: warping one channel costs a third of three
        x = AffineAugment(**dataclasses.asdict(augment), name="augment_affine")(x)
    if content_crop:  # after augmentation: black that a zoom or shift brought in is cropped away too
        x = ContentCrop(name="content_crop")(x)
    if border:  # after augmentation, so the band is always the border of what the backbone sees
        x = BorderMask(border, name="border_mask")(x)
    x = ToRGB(name="to_rgb")(x)
    x = BackbonePreprocess(spec.preprocess, name="preprocess")(x)
    body = spec.constructor(input_tensor=x, weights=None)
    if source is not None:
        # load into a stand-alone twin (Keras' own loaders, any format), then copy into the flat graph
        twin = _load_twin(spec, source, image_size)
        copy_weights(twin, body)
        del twin
    outputs = apply_layers(head_layers(head_spec), body.output)
    model = keras.Model(inputs, outputs, name=name or f"{spec.name}_{_head_name(head)}")
    model.pneumonet_config = {"backbone": spec.name, "head": _head_name(head), "image_size": list(image_size),
                              "channels": channels, "n_classes": head_spec.n_classes,
                              "weights": None if weights is None else str(weights),
                              "weights_source": None if source is None else str(source),
                              "gradcam_layer": spec.gradcam_layer, "border": float(border),
                              "content_crop": bool(content_crop)}
    return model


def _load_twin(spec, source, image_size):
    """The backbone alone with the weights of ``source``; a file made for another architecture is one
    ``WeightsUnavailableError`` naming it, not hundreds of Keras warnings and a traceback."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns once per layer it cannot fill before it raises
            return spec.constructor(input_tensor=None, weights=source, input_shape=(*image_size, 3))
    except (ValueError, OSError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsUnavailableError(f"cannot load {source} into {spec.name}: {first} (a file made for another "
                                      "architecture or input size?)") from None


def _head_name(head):
    return head if isinstance(head, str) else "custom"
