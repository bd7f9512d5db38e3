"""Two-phase transfer learning: (1) backbone frozen, head trained; (2) last layers unfrozen, lower learning rate.

With the fast pipeline and no augmentation, the frozen part of the network runs once: activations are cached
at the earliest boundary either phase needs, and each phase trains only what follows it (see ``features``).
Otherwise each phase runs the full model: uint8 arrays straight to Keras (augmentation, if any, inside the
model), a CPU-augmenting ``PyDataset``, or a classic generator. The epoch loop (``loop``) checkpoints every
epoch, so ``resume=True`` continues an interrupted run exactly.
"""

import dataclasses
import functools
import time
from pathlib import Path

import keras
import numpy as np

from pneumonet.data.splits import class_weights as balanced_weights
from pneumonet.models.finetune import backbone_layers, describe_trainable, freeze_backbone, unfreeze
from pneumonet.pipelines.fast import ArrayDataset
from pneumonet.scaling import pad_to_replicas, replica_count, trim_to_replicas
from pneumonet.training.features import cache_boundary, split_model
from pneumonet.training.loop import Phase, RunState, permuted, run_phase
from pneumonet.runs import CHECKPOINTS


# Training a head alone on cached activations is a tiny model on small tensors: the fixed cost of each call
# into the backend, not arithmetic, sets the pace on a CPU. Batches and their order are unchanged.
HEAD_STEPS_PER_EXECUTION = 16
HEAD_VALIDATION_BATCH = 1024


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of two-phase training (the reference studies: 1e-4, then 1e-5 to 5e-5)."""

    epochs_head: int = 10
    epochs_finetune: int = 5
    lr_head: float = 1e-3
    lr_finetune: float = 1e-5
    unfreeze_last: int = 4           # backbone layers unfrozen in phase 2 (0 skips phase 2)
    unfreeze_from: str = None        # or a layer name/prefix, e.g. "block5"
    batch_size: int = 32
    patience: int = 4                # early stopping on val AUC; the learning rate drops after patience // 2
    class_weight: str = "balanced"   # or None
    seed: int = 42
    cache_activations: bool = True  # the fast path when nothing random precedes the boundary
    label_smoothing: float = 0.0     # targets pulled towards 0.5: less confident, better-calibrated heads
    weight_decay: float = 0.0        # decoupled weight decay (AdamW) when positive

    def __post_init__(self):
        for field in ("epochs_head", "epochs_finetune", "batch_size", "unfreeze_last", "patience"):
            if getattr(self, field) is None or int(getattr(self, field)) < 0:
                raise ValueError(f"{field} must be a non-negative integer. Received: {field}={getattr(self, field)}")
        if self.batch_size == 0:
            raise ValueError("batch_size must be positive. Received: batch_size=0")
        if self.epochs_head == 0:  # phase 1 always trains: zero epochs would file an untrained model as a result
            raise ValueError("epochs_head must be at least 1. Received: epochs_head=0")
        for field in ("lr_head", "lr_finetune"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{field} must be positive. Received: {field}={getattr(self, field)}")
        if not 0 <= self.label_smoothing < 1 or self.weight_decay < 0:
            raise ValueError("label_smoothing must be in [0, 1) and weight_decay non-negative. Received: "
                             f"label_smoothing={self.label_smoothing}, weight_decay={self.weight_decay}")


@dataclasses.dataclass
class TrainResult:
    """What training returns: the model (best weights), its history, the kept epoch and the predictions asked for."""
    model: object
    history: object           # pandas DataFrame, one row per epoch, column "phase"
    best_epoch: int
    best_val_auc: float
    seconds: float
    predictions: dict         # subset -> probabilities (N,) or (N, k), from the final (best) model


def targets_for(model, labels):
    """Labels as the model's loss wants them: (N,) floats for one sigmoid unit, one-hot for softmax."""
    labels = np.asarray(labels)
    units = model.output.shape[-1]
    if units == 1:
        return labels.astype("float32")
    return keras.utils.to_categorical(labels, units).astype("float32")


def loss_floor(label_smoothing, n_classes=2):
    """The lowest cross-entropy ``compile_for``'s loss can reach with ``label_smoothing``: the entropy of the
    smoothed targets (Keras moves each one-hot target towards 1 / ``n_classes``), 0 without smoothing. With 0.1
    and two classes the targets are 0.05 / 0.95 and the floor is 0.199: a loss curve cannot go below it."""
    high = 1 - label_smoothing + label_smoothing / n_classes
    low = label_smoothing / n_classes
    return float(-(high * np.log(high) + (n_classes - 1) * low * np.log(low))) if label_smoothing else 0.0


def compile_for(model, learning_rate, steps_per_execution=1, label_smoothing=0.0, weight_decay=0.0):
    """Compile ``model`` for pneumonet's training: Adam (AdamW with ``weight_decay``), cross-entropy with optional
    ``label_smoothing``, AUC and accuracy; ``steps_per_execution`` batches per backend call."""
    units = model.output.shape[-1]
    loss = (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing) if units == 1
            else keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing))
    optimizer = (keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay) if weight_decay
                 else keras.optimizers.Adam(learning_rate))
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.AUC(name="auc"), "accuracy"], steps_per_execution=steps_per_execution)
    return model


def _set_phase(model, phase, config, from_scratch=False):
    if from_scratch:  # one phase, every layer trainable
        for layer in model.layers:
            layer.trainable = True
        return
    freeze_backbone(model)
    if phase == 2:
        unfreeze(model, last=config.unfreeze_last if config.unfreeze_from is None else None,
                 from_layer=config.unfreeze_from)


def _phase_epochs(config, phase):
    if phase == 1:
        return config.epochs_head
    has_unfreeze = config.unfreeze_last > 0 or config.unfreeze_from is not None
    return config.epochs_finetune if has_unfreeze else 0


def _learning_rate(config, phase):
    return config.lr_head if phase == 1 else config.lr_finetune


def train_two_phase(model, train, val, config=None, run_dir=None, augment=None, predict=None, verbose=1,
                    resume=False, from_scratch=False):
    """Train ``model`` in two phases and return a ``TrainResult``.

    Args:
        train, val: ``(images uint8 (N, H, W), labels)`` from the fast pipeline, or Keras-ready datasets
            (e.g. classic generators) yielding model-ready targets.
        config: ``TrainConfig``.
        run_dir: where ``history.csv`` and ``checkpoints/`` (best and last weights, optimizer, state) go.
        augment: an ``Augment`` applied on the CPU by the fast pipeline. For augmentation on the device, build
            the model with ``build_model(..., augment=Augment())`` instead and leave this None. Either disables
            cached activations.
        predict: ``{name: images}`` to predict with the final model (``TrainResult.predictions``).
        resume: continue from ``run_dir/checkpoints`` when an earlier run was interrupted.
        from_scratch: set by ``train_from_scratch``: one phase with every layer trainable.
    """
    config = config or TrainConfig()
    if config.batch_size % replica_count():
        raise ValueError(f"batch_size must be a multiple of the {replica_count()} data-parallel devices (each takes "
                         f"an equal share of every batch). Received: batch_size={config.batch_size}")
    keras.utils.set_random_seed(config.seed)
    start = time.time()
    checkpoints = Path(run_dir) / CHECKPOINTS if run_dir is not None else None
    state = RunState(model, checkpoints)
    if checkpoints is not None:
        checkpoints.mkdir(parents=True, exist_ok=True)
        if resume and state.restore() and verbose:
            print(f"resuming after epoch {len(state.rows)} from {checkpoints}")
        elif not resume:
            (checkpoints / "state.json").unlink(missing_ok=True)  # a fresh run never picks up stale state
    arrays = isinstance(train, tuple)
    weights = None
    if config.class_weight == "balanced":
        labels = train[1] if arrays else getattr(train, "labels", getattr(train, "classes", None))
        weights = balanced_weights(labels) if labels is not None else None

    plan = _cache_plan(model, config) if arrays and augment is None and config.cache_activations else None
    if plan:
        predictions = _train_cached(model, train, val, config, state, weights, predict or {}, plan, verbose)
    else:
        predictions = _train_full(model, train, val, config, state, weights, augment, predict or {}, verbose,
                                  from_scratch)
    return TrainResult(model, state.history(), state.best_epoch, state.best_value, time.time() - start,
                       predictions)


def _cache_plan(model, config):
    """{phase: boundary layer} for the phases that train, or None when nothing can be cached."""
    plan = {}
    for phase in (1, 2):
        if _phase_epochs(config, phase):
            _set_phase(model, phase, config)
            plan[phase] = cache_boundary(model)
    return plan if plan and all(plan.values()) else None


def _train_cached(model, train, val, config, state, weights, predict, plan, verbose):
    # phase 2 trains more layers, so its boundary comes first: cache there, derive phase 1's from it
    earliest = plan[2] if 2 in plan else plan[1]
    prefix, from_earliest = split_model(model, earliest)
    sets = {"train": train[0], "val": val[0], **predict}
    # the expensive pass: every image through the frozen layers once, in training-sized batches (larger ones
    # were up to 1.5x slower per image on a 2-core CPU: the activations fall out of the caches)
    batch = config.batch_size
    start = time.time()
    acts = {name: _predict(prefix, images[..., None], batch) for name, images in sets.items()}
    if verbose:
        print(f"cached activations at {earliest.name} for {sum(len(v) for v in sets.values())} images in "
              f"{time.time() - start:.0f} s", flush=True)
    y_train, y_val = targets_for(model, train[1]), targets_for(model, val[1])
    backbone = {id(layer) for layer in backbone_layers(model)}
    for phase, boundary in plan.items():
        _set_phase(model, phase, config)
        if verbose:
            print(f"phase {phase}: {describe_trainable(model)}; training from {boundary.name}")
        between = keras.Model(earliest.output, boundary.output) if boundary is not earliest else None
        feats = {k: (_predict(between, v, batch) if between else v) for k, v in acts.items()}
        suffix = from_earliest if boundary is earliest else keras.Model(boundary.output, model.output)
        # steps of the head alone on cached activations are cheap: run many per call, validate in one batch
        head_only = not any(id(layer) in backbone for layer in suffix.layers)
        compile_fn = functools.partial(compile_for, steps_per_execution=HEAD_STEPS_PER_EXECUTION if head_only else 1,
                                       label_smoothing=config.label_smoothing, weight_decay=config.weight_decay)
        run_phase(state, Phase(phase, suffix, lambda epoch: trim_to_replicas(permuted((feats["train"], y_train),
                                                                                    config.seed, epoch)),
                               _validation(feats["val"], y_val), _phase_epochs(config, phase),
                               _learning_rate(config, phase), compile_fn, HEAD_VALIDATION_BATCH if head_only else None),
                  config, weights, verbose)
    return {name: _predict(from_earliest, acts[name], batch) for name in predict}


def _train_full(model, train, val, config, state, weights, augment, predict, verbose, from_scratch):
    if isinstance(train, tuple) and augment is None:
        # uint8 arrays straight to Keras: the fastest feed on every backend; the model casts, augments
        # (AffineAugment) and preprocesses on the device
        arrays = (train[0][..., None], targets_for(model, train[1]))

        def feed(epoch):
            return trim_to_replicas(permuted(arrays, config.seed, epoch))

        val = _validation(val[0][..., None], targets_for(model, val[1]))
    elif isinstance(train, tuple):
        dataset = ArrayDataset(*trim_to_replicas((train[0], targets_for(model, train[1]))),
                               batch_size=config.batch_size, shuffle=True, augment=augment, seed=config.seed,
                               workers=2)

        def feed(epoch):
            return dataset.set_epoch(epoch)

        val = _validation(val[0][..., None], targets_for(model, val[1]))
    else:
        def feed(epoch):
            return train  # a generator keeps its own shuffling state (not replayed exactly on resume)

    for phase in (1, 2):
        epochs = _phase_epochs(config, phase)
        if not epochs:
            continue
        _set_phase(model, phase, config, from_scratch)
        if verbose:
            print(f"phase {phase}: {describe_trainable(model)}")
        compile_fn = functools.partial(compile_for, label_smoothing=config.label_smoothing,
                                       weight_decay=config.weight_decay)
        run_phase(state, Phase(phase, model, feed, val, epochs, _learning_rate(config, phase), compile_fn),
                  config, weights, verbose)
    return {name: _predict(model, images[..., None], config.batch_size) for name, images in predict.items()}


# Under data parallelism (JAX or TensorFlow) every batch must split evenly across the replicas (pneumonet.scaling):
# training drops the few images beyond a multiple of them each epoch (others each epoch); validation and prediction
# pad, and the padding weighs nothing.
def _predict(model, x, batch):
    padded, _ = pad_to_replicas(x)
    return model.predict(padded, batch_size=batch, verbose=0)[:len(x)]


def _validation(x, y):
    """Validation data in batches that split evenly across the replicas; padding rows weigh nothing."""
    if replica_count() == 1:
        return x, y
    padded, weights = pad_to_replicas(x)
    return padded, pad_to_replicas(y)[0], weights


def train_from_scratch(model, train, val, config=None, run_dir=None, augment=None, predict=None, verbose=1,
                       resume=False):
    """One phase with every layer trainable (the custom CNN baseline, ResNet-18 without weights)."""
    config = dataclasses.replace(config or TrainConfig(), unfreeze_last=0, unfreeze_from=None, cache_activations=False)
    return train_two_phase(model, train, val, config, run_dir=run_dir, augment=augment, predict=predict,
                           verbose=verbose, resume=resume, from_scratch=True)
