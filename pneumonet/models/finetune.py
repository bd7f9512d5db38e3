"""Freeze and unfreeze: the backbone as a whole, the last N layers, or everything from a named layer.

BatchNormalization layers always stay frozen: in Keras 3 a non-trainable BatchNormalization also runs in
inference mode, so fine-tuning on small batches does not wreck the ImageNet statistics.
Recompile after any change (Keras reads ``trainable`` at compile time).
"""

import keras
import pandas as pd

from pneumonet.models.heads import HEAD_PREFIX
from pneumonet.models.layers import AffineAugment, BackbonePreprocess, ToRGB

_PLUMBING = (keras.layers.InputLayer, ToRGB, BackbonePreprocess, AffineAugment)


def is_plumbing(layer):
    """Input plumbing: the input, casting, gray to RGB, the backbone's preprocessing, augmentation."""
    return isinstance(layer, _PLUMBING)


def backbone_layers(model):
    """The backbone's layers in build order (everything but input plumbing and ``head_*`` layers)."""
    return [layer for layer in model.layers if not is_plumbing(layer) and not layer.name.startswith(HEAD_PREFIX)]


def head_layer_list(model):
    """The head's layers (names starting with the head prefix), in model order."""
    return [layer for layer in model.layers if layer.name.startswith(HEAD_PREFIX)]


def freeze_backbone(model):
    """Freeze every backbone layer; the head stays trainable. Returns the model."""
    for layer in backbone_layers(model):
        layer.trainable = False
    for layer in head_layer_list(model):
        layer.trainable = True
    return model


def unfreeze(model, last=None, from_layer=None):
    """Unfreeze the last ``last`` backbone layers, or all from ``from_layer`` (a name or a prefix such as
    ``"block5"`` or ``"conv5_"``) to the end. BatchNormalization layers stay frozen. Returns the model.
    """
    if (last is None) == (from_layer is None):
        raise ValueError(f"give exactly one of last= or from_layer=. Received: last={last}, from_layer={from_layer}")
    layers = backbone_layers(model)
    freeze_backbone(model)
    if last is not None:
        if not 0 <= int(last) <= len(layers):
            raise ValueError(f"last must be in [0, {len(layers)}] for {model.name}. Received: last={last}")
        chosen = layers[len(layers) - int(last):] if last else []
    else:
        starts = [i for i, layer in enumerate(layers) if layer.name == from_layer or layer.name.startswith(from_layer)]
        if not starts:
            raise ValueError(f"no backbone layer named or starting with {from_layer!r} in {model.name}. "
                             f"Received: from_layer={from_layer!r}")
        chosen = layers[starts[0]:]
    for layer in chosen:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return model


def trainable_summary(model):
    """Per-layer table (layer, type, trainable, params) with ``attrs`` holding the totals."""
    rows = [{"layer": layer.name, "type": type(layer).__name__, "trainable": layer.trainable,
             "params": int(sum(int(w.numpy().size) if hasattr(w, "numpy") else int(w.size) for w in layer.weights))}
            for layer in model.layers]
    table = pd.DataFrame(rows)
    trainable = int(sum(keras.ops.size(w) for w in model.trainable_weights))
    total = int(sum(keras.ops.size(w) for w in model.weights))
    table.attrs.update(trainable_params=trainable, frozen_params=total - trainable,
                       trainable_layers=int(sum(1 for layer in model.layers if layer.trainable and layer.weights)))
    return table


def describe_trainable(model):
    """One readable line: how many layers and parameters train."""
    table = trainable_summary(model)
    a = table.attrs
    return (f"{model.name}: {a['trainable_layers']} trainable layers with weights, "
            f"{a['trainable_params']:,} trainable / {a['frozen_params']:,} frozen parameters")
