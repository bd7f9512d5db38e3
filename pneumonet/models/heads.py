"""Classification heads as the reference studies used them.

Every head ends in ``Dense(name="head_logits")`` followed by ``Activation(name="head_probability")``, so the
pre-activation score that Grad-CAM explains is one layer away. All head layers are named ``head_*``: the
fine-tuning utilities and the cached-feature phase 1 find them by that prefix.
"""

import dataclasses

from keras import layers

HEAD_PREFIX = "head_"


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """A classification head: pooling ("gap" or "flatten"), an optional Dense(units) with dropout, and n_classes
    outputs (1: sigmoid, more: softmax)."""
    pooling: str            # "gap" or "flatten"
    units: int = 0          # hidden Dense(units, relu); 0 for none
    dropout: float = 0.0
    n_classes: int = 1      # 1: sigmoid; 2 or more: softmax


HEADS = {
    # GAP, Dense(128, relu), Dropout(0.5), Dense(1, sigmoid): the ResNet152V2 study
    "gap_dense_dropout": HeadSpec("gap", units=128, dropout=0.5, n_classes=1),
    # GAP, Dense(1024, relu), Dense(2, softmax): the VGG16/ResNet50/InceptionV3 study
    "gap_dense_softmax": HeadSpec("gap", units=1024, dropout=0.0, n_classes=2),
    # Flatten, Dense(1, sigmoid): the ImageNet against RadImageNet study
    "flatten_sigmoid": HeadSpec("flatten", n_classes=1),
    # Flatten, Dense(128, relu), Dropout(0.5), Dense(1, sigmoid): the custom CNN baseline
    "flatten_dense_dropout": HeadSpec("flatten", units=128, dropout=0.5, n_classes=1),
    # normal / bacterial / viral from the subtypes, same code
    "gap_dense_softmax3": HeadSpec("gap", units=128, dropout=0.5, n_classes=3),
}


def get_head(head, **overrides):
    """A ``HeadSpec`` from a name in ``HEADS`` or a spec; ``overrides`` replace fields (units=..., n_classes=...)."""
    if isinstance(head, HeadSpec):
        spec = head
    elif head in HEADS:
        spec = HEADS[head]
    else:
        raise ValueError(f"unknown head. Received: head={head!r}; available: {sorted(HEADS)}")
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if spec.pooling not in ("gap", "flatten"):
        raise ValueError(f"pooling must be 'gap' or 'flatten'. Received: pooling={spec.pooling!r}")
    if spec.n_classes < 1 or not 0 <= spec.dropout < 1:
        raise ValueError(f"invalid head. Received: n_classes={spec.n_classes}, dropout={spec.dropout}")
    return spec


def head_layers(spec):
    """The head as a list of new layers, to apply in order to the backbone's feature map."""
    pool = (layers.GlobalAveragePooling2D(name="head_gap") if spec.pooling == "gap"
            else layers.Flatten(name="head_flatten"))
    stack = [pool]
    if spec.units:
        stack.append(layers.Dense(spec.units, activation="relu", name="head_dense"))
    if spec.dropout:
        stack.append(layers.Dropout(spec.dropout, name="head_dropout"))
    stack.append(layers.Dense(spec.n_classes, name="head_logits"))
    stack.append(layers.Activation("sigmoid" if spec.n_classes == 1 else "softmax", name="head_probability",
                                   dtype="float32"))  # probabilities stay float32 under mixed precision
    return stack


def apply_layers(stack, x):
    """Apply ``layers`` in order to the tensor ``x`` and return the result."""
    for layer in stack:
        x = layer(x)
    return x
