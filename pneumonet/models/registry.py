"""Backbone registry: constructor, preprocessing, native input size and Grad-CAM layer of each model."""

import dataclasses

import keras

from pneumonet.models import small


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone, preprocess its input, find its weights and explain it."""
    name: str                 # pneumonet's name, also the stem of ``<name>_notop.weights.h5`` in a weights folder
    constructor: object       # callable(input_tensor=..., weights=None) -> keras.Model
    preprocess: str           # BackbonePreprocess mode (the backbone's own preprocess_input)
    image_size: int           # native input side in pixels
    gradcam_layer: str        # last convolutional feature map
    keras_app: bool = True    # a keras.applications model (ImageNet weights exist)
    min_size: int = 32        # smallest input side the architecture accepts
    keras_cache_prefix: str = ""  # how Keras names its downloaded ImageNet file, to find a cached copy


def _app(name):
    def build(input_tensor, weights=None, input_shape=None):
        constructor = getattr(keras.applications, name)
        return constructor(include_top=False, weights=weights, input_tensor=input_tensor, input_shape=input_shape)
    build.__name__ = name
    return build


def _custom(function):
    def build(input_tensor, weights=None, input_shape=None):
        if input_tensor is None:
            input_tensor = keras.Input(input_shape)
        model = function(input_tensor)
        if weights is not None:
            model.load_weights(weights)
        return model
    build.__name__ = function.__name__
    return build


_SPECS = [
    BackboneSpec("vgg16", _app("VGG16"), "caffe", 224, "block5_conv3", keras_cache_prefix="vgg16_"),
    BackboneSpec("resnet50", _app("ResNet50"), "caffe", 224, "conv5_block3_out", keras_cache_prefix="resnet50_"),
    BackboneSpec("resnet152_v2", _app("ResNet152V2"), "tf", 224, "post_relu", keras_cache_prefix="resnet152v2_"),
    BackboneSpec("inception_v3", _app("InceptionV3"), "tf", 299, "mixed10", min_size=75,
                 keras_cache_prefix="inception_v3_"),
    BackboneSpec("densenet121", _app("DenseNet121"), "torch", 224, "relu", keras_cache_prefix="densenet121_"),
    BackboneSpec("mobilenet_v2", _app("MobileNetV2"), "tf", 224, "out_relu", keras_cache_prefix="mobilenet_v2_"),
    BackboneSpec("efficientnet_b0", _app("EfficientNetB0"), "none", 224, "top_activation",
                 keras_cache_prefix="efficientnetb0_"),
    BackboneSpec("xception", _app("Xception"), "tf", 299, "block14_sepconv2_act", min_size=71,
                 keras_cache_prefix="xception_"),
    BackboneSpec("resnet18", _custom(small.resnet18), "unit", 224, "conv5_block2_out", keras_app=False),
    BackboneSpec("cnn", _custom(small.custom_cnn), "unit", 150, "block3_conv", keras_app=False),
]
BACKBONES = {spec.name: spec for spec in _SPECS}


def _canonical(name):
    return str(name).lower().replace("-", "").replace("_", "")


_ALIASES = {_canonical(spec.name): spec.name for spec in _SPECS}


def get_backbone(name):
    """The ``BackboneSpec`` for ``name``; accepts Keras spellings (``InceptionV3``, ``ResNet152V2``, ``resnet-18``)."""
    key = _ALIASES.get(_canonical(name))
    if key is None:
        raise ValueError(f"unknown backbone. Received: backbone={name!r}; available: {sorted(BACKBONES)}")
    return BACKBONES[key]


def list_backbones():
    """A table of the registry: name, preprocessing, native size, Grad-CAM layer, ImageNet weights or not."""
    import pandas as pd

    return pd.DataFrame([{"backbone": s.name, "preprocess": s.preprocess, "image_size": s.image_size,
                          "gradcam_layer": s.gradcam_layer, "imagenet_weights": s.keras_app} for s in _SPECS])
