"""The default experiments: the CNN baseline and the reference studies' transfer-learning line-up.

Image sizes and epochs are chosen for a 2-core CPU (the whole main job in well under 45 minutes there); pass
``image_size`` overrides for a GPU. ``smoke=True`` shrinks everything for CI.
"""

import dataclasses

from pneumonet.experiment import Experiment
from pneumonet.training import TrainConfig


def cnn_baseline(image_size=128, epochs=8, smoke=False):
    """Three conv blocks (32, 64, 128), Flatten, Dense(128), Dropout(0.5), sigmoid; trained from scratch."""
    return Experiment("cnn_baseline", "cnn", head="flatten_dense_dropout", weights=None,
                      image_size=32 if smoke else image_size, augment=True,
                      train=TrainConfig(epochs_head=1 if smoke else epochs, lr_head=1e-3, patience=4))


def reference_lineup(image_sizes=None, epochs_head=12, epochs_finetune=3, smoke=False, radimagenet_file=None,
                     weights="imagenet"):
    """VGG16, ResNet50, InceptionV3 (GAP-Dense(1024)-softmax); ResNet152V2 (GAP-Dense(128)-Dropout-sigmoid,
    last 13 layers unfrozen); ResNet50 Flatten-sigmoid from ImageNet and from RadImageNet; MobileNetV2.

    Every model trains in two phases: head on a frozen backbone (lr 1e-3), then the last layers (lr 1e-5).
    """
    sizes = {"vgg16": 128, "resnet50": 128, "inception_v3": 160, "resnet152_v2": 128, "mobilenet_v2": 160,
             **(image_sizes or {})}

    def cfg(unfreeze_last=0, **overrides):
        if smoke:
            return TrainConfig(epochs_head=1, epochs_finetune=1, unfreeze_last=unfreeze_last,
                               unfreeze_from=overrides.get("unfreeze_from"))
        settings = dict(epochs_head=epochs_head, epochs_finetune=epochs_finetune, unfreeze_last=unfreeze_last,
                        lr_head=1e-3, lr_finetune=1e-5, patience=4)
        return TrainConfig(**{**settings, **overrides})

    def size(name):
        return 75 if smoke and name == "inception_v3" else (32 if smoke else sizes[name])

    lineup = [
        Experiment("vgg16", "vgg16", "gap_dense_softmax", weights, size("vgg16"), train=cfg(2)),
        Experiment("resnet50", "resnet50", "gap_dense_softmax", weights, size("resnet50"), train=cfg(12)),
        # the offline InceptionV3 file's layers after mixed5 were tuned for another task: re-tune the last two
        # blocks (mixed9, mixed10) longer, at the upper end of the studies' fine-tuning rates (chosen on val AUC)
        Experiment("inception_v3", "inception_v3", "gap_dense_softmax", weights, size("inception_v3"),
                   train=cfg(0, unfreeze_from="mixed8", lr_finetune=5e-5,
                             epochs_finetune=max(epochs_finetune, 5))),
        Experiment("resnet152_v2", "resnet152_v2", "gap_dense_dropout", weights, size("resnet152_v2"),
                   train=cfg(13)),
        Experiment("resnet50_flatten_imagenet", "resnet50", "flatten_sigmoid", weights, size("resnet50"),
                   train=cfg(12)),
        Experiment("mobilenet_v2", "mobilenet_v2", "gap_dense_dropout", weights, size("mobilenet_v2"),
                   train=cfg(9)),
    ]
    if radimagenet_file:
        lineup.append(Experiment("resnet50_flatten_radimagenet", "resnet50", "flatten_sigmoid", radimagenet_file,
                                 size("resnet50"), train=cfg(12)))
    return lineup


def with_weights(experiments, weights):
    """The same experiments with other weights (``None`` for the CI smoke run)."""
    return [dataclasses.replace(e, weights=weights) for e in experiments]
