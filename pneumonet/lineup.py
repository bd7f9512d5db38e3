"""The default experiments: the CNN baseline and the transfer-learning line-up, per hardware profile.

- ``cpu`` (a 2-core machine, the whole main job in about 45 minutes): the pristine ImageNet backbones
  (DenseNet121, the CheXNet architecture, and Xception) and MobileNetV2, each trained on cached activations of
  the clean training images plus augmented views drawn once (geometric and photometric: exposure, gamma,
  contrast, blur, noise), with label smoothing and weight decay. The recipe was chosen on validation and the
  shift benchmark (``benchmarks/recipes.py``, ``results/recipes/``), never on test.
- ``gpu``: the reference studies' whole line-up (VGG16, ResNet50, InceptionV3, ResNet152V2, ResNet50
  Flatten-sigmoid, RadImageNet) beside the CPU models, at native resolution, with augmentation inside the model
  every epoch, deeper fine-tuning and more epochs.

``smoke=True`` shrinks everything for CI.
"""

from pneumonet.experiment import Experiment
from pneumonet.scaling import check_profile
from pneumonet.training import TrainConfig


def cnn_baseline(image_size=None, epochs=None, smoke=False, profile="cpu"):
    """Three conv blocks (32, 64, 128), Flatten, Dense(128), Dropout(0.5), sigmoid; trained from scratch with
    augmentation inside the model.

    The generalization ideas of the transfer line-up (photometric views, label smoothing, weight decay, wider
    zoom, a border mask, a larger input, a global-average head, a content crop) were measured on this model too and
    none beat this recipe on every figure of the shift benchmark (``results/recipes/cnn*.md``,
    ``results/recipes/{border,larger,gap_head,content_crop}/``), so it keeps it."""
    check_profile(profile)
    size = 32 if smoke else image_size or (128 if profile == "cpu" else 224)
    epochs = 1 if smoke else epochs or (8 if profile == "cpu" else 30)
    return Experiment("cnn_baseline", "cnn", head="flatten_dense_dropout", weights=None, image_size=size,
                      augment=True, train=TrainConfig(epochs_head=epochs, lr_head=1e-3, patience=4 if
                                                      profile == "cpu" else 8))


# the generalizing recipe: regularized heads, augmented views computed once (cpu) or augmentation every epoch (gpu);
# a content crop on top was measured on DenseNet121 and not kept (results/recipes/content_crop/densenet121_seeds.md)
ROBUST = dict(label_smoothing=0.1, weight_decay=1e-4)


def reference_lineup(profile="cpu", image_sizes=None, epochs_head=None, epochs_finetune=None, smoke=False,
                     radimagenet_file=None, weights="imagenet"):
    """The transfer-learning experiments of ``profile`` ("cpu" or "gpu"); ``image_sizes`` overrides per backbone.

    Every model trains in two phases: head on a frozen backbone (lr 1e-3), then the last layers (lr 1e-5).
    """
    check_profile(profile)
    cpu = profile == "cpu"
    sizes = {"densenet121": 224, "xception": 160 if cpu else 299, "mobilenet_v2": 224, "vgg16": 224,
             "resnet50": 224, "inception_v3": 299, "resnet152_v2": 224, **(image_sizes or {})}

    def size(name):
        return max(32, {"inception_v3": 75, "xception": 71}.get(name, 32)) if smoke else sizes[name]

    def cfg(unfreeze_last=0, **overrides):
        if smoke:
            return TrainConfig(epochs_head=1, epochs_finetune=1, unfreeze_last=unfreeze_last,
                               unfreeze_from=overrides.get("unfreeze_from"), **ROBUST)
        settings = dict(epochs_head=epochs_head or (6 if cpu else 20), epochs_finetune=epochs_finetune or
                        (3 if cpu else 10), unfreeze_last=unfreeze_last, lr_head=1e-3, lr_finetune=1e-5,
                        patience=4 if cpu else 6, **ROBUST)
        return TrainConfig(**{**settings, **overrides})

    def experiment(name, backbone, head, unfreeze_last=0, views=1, **overrides):
        # cpu: augmented views drawn once (each costs one more pass through the frozen layers); gpu: augment
        # inside the model every epoch instead
        return Experiment(name, backbone, head, weights, size(backbone), augment=not cpu and not smoke,
                          views=views if cpu and not smoke else 0, train=cfg(unfreeze_last, **overrides))

    # pristine ImageNet weights first; fine-tuning depth = the last block of each backbone. Two views were more
    # robust than one for MobileNetV2 (results/recipes); the larger backbones get one within the CPU budget
    lineup = [
        experiment("densenet121", "densenet121", "gap_dense_dropout", 12 if cpu else 52),
        experiment("xception", "xception", "gap_dense_dropout", 6 if cpu else 16),
        experiment("mobilenet_v2", "mobilenet_v2", "gap_dense_dropout", 9 if cpu else 18, views=2,
                   epochs_head=epochs_head or (4 if cpu else 20)),
    ]
    if not cpu:  # the reference studies' models, as they trained them
        lineup += [
            experiment("vgg16", "vgg16", "gap_dense_softmax", 4),
            experiment("resnet50", "resnet50", "gap_dense_softmax", 12),
            experiment("inception_v3", "inception_v3", "gap_dense_softmax", unfreeze_from="mixed8",
                       lr_finetune=5e-5),
            experiment("resnet152_v2", "resnet152_v2", "gap_dense_dropout", 13),
            experiment("resnet50_flatten_imagenet", "resnet50", "flatten_sigmoid", 12),
        ]
        if radimagenet_file:
            lineup.append(Experiment("resnet50_flatten_radimagenet", "resnet50", "flatten_sigmoid",
                                     radimagenet_file, size("resnet50"), augment=not smoke, train=cfg(12)))
    return lineup


def three_class_experiment(profile="cpu", smoke=False, weights="imagenet"):
    """Normal / bacterial / viral (Kermany et al. 2018's second task) with DenseNet121: on the CPU a head on the
    frozen backbone (one cached pass, then seconds per epoch); on a GPU fine-tuned like the binary line-up."""
    check_profile(profile)
    cpu = profile == "cpu"
    if smoke:
        train = TrainConfig(epochs_head=1, epochs_finetune=0, unfreeze_last=0, **ROBUST)
    else:
        train = TrainConfig(epochs_head=8 if cpu else 20, epochs_finetune=0 if cpu else 10,
                            unfreeze_last=0 if cpu else 52, patience=4 if cpu else 6, **ROBUST)
    return Experiment("densenet121_3class", "densenet121", "gap_dense_dropout", weights, 32 if smoke else 224,
                      augment=not cpu and not smoke, target="subtype", train=train)
