"""Cached activations: run the frozen part of a model once, train only what follows.

A model is cut at a "boundary" tensor: ``prefix`` (inputs -> boundary) is frozen, ``suffix`` (boundary ->
outputs) shares its layers with the full model, so training the suffix trains the model itself: no grafting,
and the result is an ordinary end-to-end model. Exact when nothing random happens before the boundary (no
augmentation) and frozen BatchNormalization runs in inference mode, as pneumonet's fine-tuning keeps it.
"""

import keras

from pneumonet.models.finetune import backbone_layers


def backbone_output_layer(model):
    """The last backbone layer (its output feeds the head)."""
    return backbone_layers(model)[-1]


def first_trainable_backbone_index(model):
    layers = backbone_layers(model)
    for index, layer in enumerate(layers):
        if layer.trainable and layer.weights:
            return index
    return len(layers)


def clean_cut(model, before_index):
    """The latest backbone layer before ``before_index`` whose output alone determines the model's output."""
    layers = backbone_layers(model)
    for index in range(min(before_index, len(layers)) - 1, -1, -1):
        try:
            keras.Model(layers[index].output, model.output)
        except ValueError:
            continue  # a branch (residual, inception mixing) still needs an earlier tensor
        return layers[index]
    return None


def split_model(model, boundary_layer):
    """(prefix, suffix) models around ``boundary_layer``'s output; the suffix shares the model's layers."""
    tensor = boundary_layer.output
    return keras.Model(model.inputs[0], tensor), keras.Model(tensor, model.output)

