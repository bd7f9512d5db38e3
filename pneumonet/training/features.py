"""Cached activations: run the frozen part of a model once, train only what follows.

A model is cut at a "boundary" tensor: ``prefix`` (inputs -> boundary) is frozen, ``suffix`` (boundary ->
outputs) shares its layers with the full model, so training the suffix trains the model itself: no grafting,
and the result is an ordinary end-to-end model. The boundary is the latest tensor before the first layer that
trains or draws random numbers (dropout, augmentation), so the cache is exact: frozen BatchNormalization runs
in inference mode, as pneumonet's fine-tuning keeps it. In phase 1 with a GAP head that is the pooled vector,
not the backbone's feature map: far less to store and to feed each epoch.
"""

import keras

from pneumonet.models.finetune import is_plumbing
from pneumonet.models.layers import seed_generator_of


def _trains_or_draws(layer):
    return (layer.trainable and bool(layer.trainable_weights)) or seed_generator_of(layer) is not None


def first_live_index(model):
    """Index in ``model.layers`` of the first layer that trains or is random (``len(model.layers)`` if none)."""
    for index, layer in enumerate(model.layers):
        if _trains_or_draws(layer):
            return index
    return len(model.layers)


def clean_cut(model, before_index):
    """The latest layer before ``model.layers[before_index]`` whose output alone determines the model's output,
    or None when no layer but the input does."""
    for layer in reversed(model.layers[1:before_index]):  # layers[0] is the input: nothing to cache there
        try:
            keras.Model(layer.output, model.output)
        except ValueError:
            continue  # a branch (residual, inception mixing) still needs an earlier tensor
        return layer
    return None


def cache_boundary(model):
    """Where to cache activations under the model's current ``trainable`` flags (None: nothing to cache).

    A cut inside the input plumbing (casting, gray to RGB, preprocessing) saves nothing and would store float
    images where the caller holds uint8: no cache then.
    """
    boundary = clean_cut(model, first_live_index(model))
    return None if boundary is None or is_plumbing(boundary) else boundary


def split_model(model, boundary_layer):
    """(prefix, suffix) models around ``boundary_layer``'s output; the suffix shares the model's layers."""
    tensor = boundary_layer.output
    return keras.Model(model.inputs[0], tensor), keras.Model(tensor, model.output)
