"""One experiment end to end: data -> model -> two-phase training -> evaluation -> ``results/<run>/``.

The notebooks and the ``pneumonet train`` command both call ``run_experiment``; the notebooks explain it.
"""

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import keras
import pandas as pd

from pneumonet.data import assign_subsets, build_catalog, drop_unreadable, inspect_images, subset
from pneumonet.data.catalog import SUBTYPES
from pneumonet.evaluation import evaluate_predictions, evaluate_subtypes, prediction_frame
from pneumonet.evaluation.multiclass import SUBTYPE_COLUMNS
from pneumonet.errors import CheckpointError, DataLayoutError, WeightsUnavailableError
from pneumonet.io import read_json, save_figure, write_json
from pneumonet.model_card import write_model_card
from pneumonet.models import build_model, file_sha256, save_model
from pneumonet.models.registry import get_backbone
from pneumonet.pipelines import Augment, load_arrays
from pneumonet.pipelines.views import add_views
from pneumonet.progress import duration, time_left
from pneumonet.training import TrainConfig, loss_floor, train_from_scratch, train_two_phase
from pneumonet.runs import (CHECKPOINTS, FIGURES, MODEL, SIGNATURE, check_run_name, claim_run, finish_run,
                            new_run_dir, write_run)


TARGETS = ("binary", "subtype")


@dataclasses.dataclass
class Experiment:
    """What to train. ``weights=None`` with a pretrained-capable backbone still trains in two phases."""

    name: str
    backbone: str
    head: str = "gap_dense_dropout"
    weights: str = "imagenet"
    image_size: int = 224
    pipeline: str = "fast"          # "fast" (cached arrays) or "classic" (ImageDataGenerator)
    augment: bool = False           # geometric + brightness augmentation (``augmentation``) every epoch
    augment_on: str = "model"       # "model": AffineAugment layer (fast everywhere); "pipeline": CPU warp
    views: int = 0                  # augmented copies of the training images, drawn once (cached training)
    target: str = "binary"          # "binary": NORMAL / PNEUMONIA; "subtype": normal / bacterial / viral
    border: float = 0.0             # fraction of each side blacked out inside the model (markers); 0: off
    content_crop: bool = False      # crop every image to its content inside the model (black background)
    augmentation: Augment = dataclasses.field(default_factory=Augment)  # the recipe of ``augment`` and ``views``
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        check_run_name(self.name)
        if self.augment_on not in ("model", "pipeline"):
            raise ValueError(f"augment_on must be 'model' or 'pipeline'. Received: augment_on={self.augment_on!r}")
        if self.pipeline not in ("fast", "classic"):
            raise ValueError(f"pipeline must be 'fast' or 'classic'. Received: pipeline={self.pipeline!r}")
        minimum = get_backbone(self.backbone).min_size  # also refuses an unknown backbone, naming it
        if not isinstance(self.image_size, int) or self.image_size < minimum:
            raise ValueError(f"image_size must be an integer of at least {minimum} for {self.backbone}. "
                             f"Received: image_size={self.image_size!r}")
        if not isinstance(self.views, int) or self.views < 0:
            raise ValueError(f"views must be a non-negative integer. Received: views={self.views!r}")
        if self.views and self.pipeline != "fast":
            raise ValueError("augmented views need the fast pipeline. Received: "
                             f"views={self.views}, pipeline={self.pipeline!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}. Received: target={self.target!r}")
        if self.target == "subtype" and self.pipeline != "fast":
            raise ValueError("the three-class target needs the fast pipeline. Received: "
                             f"target='subtype', pipeline={self.pipeline!r}")
        if not (isinstance(self.border, (int, float)) and 0 <= self.border < 0.25):
            raise ValueError(f"border must be a fraction in [0, 0.25) of each side. Received: border={self.border!r}")
        if not isinstance(self.content_crop, bool):
            raise ValueError(f"content_crop must be True or False. Received: content_crop={self.content_crop!r}")
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        if isinstance(self.augmentation, dict):
            self.augmentation = Augment(**self.augmentation)

    @property
    def label_column(self):
        """The catalog column the model learns: ``label`` (0/1) or ``subtype_label`` (0/1/2)."""
        return "subtype_label" if self.target == "subtype" else "label"

    @property
    def from_scratch(self):
        """One phase, every layer trainable: a backbone with no ImageNet weights in Keras, given none."""
        return self.weights is None and not get_backbone(self.backbone).keras_app

    @property
    def augments_in_model(self):
        """``augment`` by an ``AffineAugment`` layer inside the model (else the CPU pipeline augments)."""
        return self.augment and self.augment_on == "model" and self.pipeline == "fast"

    @property
    def trainer(self):
        """``train_from_scratch`` or ``train_two_phase``, whichever this experiment trains with."""
        return train_from_scratch if self.from_scratch else train_two_phase

    def build(self, weights_dir=None):
        """The untrained model, from the experiment's seed (same seed, same initial head weights); with
        ``augments_in_model``, ``augmentation`` runs inside it as its first layer."""
        keras.utils.set_random_seed(self.train.seed)
        return build_model(self.backbone, head=self.head, weights=self.weights, image_size=self.image_size,
                           weights_dir=weights_dir, augment=self.augmentation if self.augments_in_model else None,
                           border=self.border, content_crop=self.content_crop,
                           n_classes=len(SUBTYPES) if self.target == "subtype" else None)

    def training_set(self, images, labels):
        """The training images followed by ``views`` augmented views of them, drawn with ``augmentation``."""
        return add_views(images, labels, k=self.views, seed=self.train.seed, augment=self.augmentation)


def prepare_catalog(data_dir, val_fraction=0.2, seed=42, progress=True):
    """Catalog with ``subset`` (train/val/test/official_val), unreadable files dropped and reported."""
    catalog = drop_unreadable(inspect_images(build_catalog(data_dir), progress=progress))
    return assign_subsets(catalog, val_fraction=val_fraction, seed=seed)


def run_experiment(experiment, catalog, results_dir, weights_dir=None, cache_dir=None, n_boot=1000,
                   overwrite=False, verbose=1, threshold_method="youden", resume=False, scaling=None):
    """Train and evaluate ``experiment`` on ``catalog``; returns the metrics record written to metrics.json.

    ``resume=True`` continues an interrupted run of the same name from its last finished epoch. The run folder
    is claimed for the whole call: a second process writing the same run is refused. ``scaling``: the
    ``pneumonet.scaling.Scaling`` the call runs under (``with scaled(...) as scaling:``), recorded in the metrics.
    """
    with claim_run(Path(results_dir) / experiment.name):
        return _run_claimed(experiment, catalog, results_dir, weights_dir, cache_dir, n_boot, overwrite, verbose,
                            threshold_method, resume, scaling)


def _run_claimed(experiment, catalog, results_dir, weights_dir, cache_dir, n_boot, overwrite, verbose,
                 threshold_method, resume, scaling):
    start = time.time()
    new_run_dir(results_dir, experiment.name, overwrite=overwrite, create=False,  # refuse to clobber, first
                allow_interrupted=True)  # check_resume decides about an interrupted run
    check_subsets(catalog)
    signature = run_signature(experiment, catalog)
    check_resume(Path(results_dir) / experiment.name / CHECKPOINTS, signature, resume, overwrite)
    model = experiment.build(weights_dir)
    run_dir = new_run_dir(results_dir, experiment.name, overwrite=overwrite,  # only once the model exists
                          allow_interrupted=True)
    write_json(run_dir / CHECKPOINTS / SIGNATURE, signature)
    size = (experiment.image_size, experiment.image_size)
    frames = {name: subset(catalog, name) for name in ("train", "val", "test")}
    if experiment.target == "subtype":  # images whose subtype the file name does not tell cannot be used
        frames = {name: frame[frame["subtype_label"] >= 0] for name, frame in frames.items()}
    augment = experiment.augmentation if experiment.augment and not experiment.augments_in_model else None
    if experiment.pipeline == "fast":
        arrays = {name: load_arrays(frame, size, cache_dir=cache_dir, progress=verbose > 1,
                                    label_column=experiment.label_column)
                  for name, frame in frames.items()}
        frames = {name: kept for name, (_, _, kept) in arrays.items()}
        train = experiment.training_set(*arrays["train"][:2])
        result = experiment.trainer(model, train, arrays["val"][:2], experiment.train, run_dir=run_dir,
                         augment=augment, predict={"val": arrays["val"][0], "test": arrays["test"][0]},
                         verbose=verbose, resume=resume)
    else:
        result = _train_classic(model, frames, experiment, run_dir, augment, verbose, resume)
    val_pred = prediction_frame(frames["val"], result.predictions["val"])
    test_pred = prediction_frame(frames["test"], result.predictions["test"])
    evaluation = evaluate_predictions(val_pred, test_pred, threshold_method=threshold_method, n_boot=n_boot)
    if experiment.target == "subtype":  # P(pneumonia) = 1 - P(normal) above; the three classes here
        evaluation["subtypes"] = evaluate_subtypes(val_pred, test_pred, n_boot=n_boot)
    model_path = save_model(model, run_dir / MODEL,
                            {"threshold": evaluation["threshold"], "run": experiment.name, "target": experiment.target,
                             "class_names": list(SUBTYPES) if experiment.target == "subtype"
                             else ["NORMAL", "PNEUMONIA"]})
    predictions = pd.concat([test_pred.assign(subset="test"), val_pred.assign(subset="val")], ignore_index=True)
    record = write_run(run_dir, experiment.name, predictions, evaluation,
                       config=_config(experiment, model), data_frame=catalog, seed=experiment.train.seed,
                       extra={"best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc,
                              "train_seconds": round(result.seconds, 1),
                              "total_seconds": round(time.time() - start, 1),
                              "unreadable_skipped": len(set().union(*(f.attrs.get("unreadable", {})
                                                                        for f in frames.values()))),
                              "model_file": model_path.name, "model_sha256": file_sha256(model_path),
                              "scaling": scaling.record() if scaling is not None else None})
    write_figures(run_dir, result.history, test_pred, experiment.name, experiment.train.label_smoothing)
    write_model_card(run_dir)  # written again with the shift figures once the benchmark has run (notebook 05)
    finish_run(run_dir)  # the checkpoints served only to resume
    return record


def check_subsets(catalog):
    """Refuse, before anything is trained, a catalog whose validation or test subset cannot be scored: no readable
    image of one class (a data folder with only ``train/``, or a test folder whose images are all unreadable)."""
    for name in ("train", "val", "test"):
        counts = subset(catalog, name)["label"].value_counts()
        scorable = counts.get(0, 0) > 0 and counts.get(1, 0) > 0
        if counts.sum() == 0 or (name != "train" and not scorable):
            folder = {"train": "train", "val": "train (the validation split is carved out of it)", "test": "test"}
            raise DataLayoutError(f"the {name} subset has {counts.get(0, 0)} readable NORMAL and {counts.get(1, 0)} "
                                  f"PNEUMONIA images: it needs both classes; check the data folder's {folder[name]}")


def run_signature(experiment, catalog):
    """What a resumed run must share with the interrupted one: every setting, and the images of each subset."""
    subsets = {name: sorted(map(str, subset(catalog, name)["path"])) for name in ("train", "val", "test")}
    return {"experiment": json.loads(json.dumps(dataclasses.asdict(experiment), default=str)),
            "subsets": {name: hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
                        for name, paths in subsets.items()}}


def check_resume(checkpoints, signature, resume, overwrite):
    """Refuse to discard an interrupted run silently, and to resume one with other arguments or images."""
    interrupted = (checkpoints / "state.json").exists()
    if interrupted and not resume and not overwrite:
        raise FileExistsError(f"{checkpoints.parent} holds an interrupted run; pass --resume to continue it or "
                              "--overwrite to start again")
    saved = checkpoints / SIGNATURE
    if resume and interrupted and saved.exists():
        before = read_json(saved)
        differences = [f"{key}: {old!r} -> {new!r}" for key, old, new in _differences(before, signature)]
        if differences:
            raise CheckpointError(f"cannot resume {checkpoints.parent} with other arguments or data ("
                                  + "; ".join(differences) + "); use the original ones, or --overwrite to start again")


def _differences(before, now, prefix=""):
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            yield from _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}", a, b


def train_lineup(lineup, catalog, results_dir, weights_dir=None, cache_dir=None, n_boot=1000, overwrite=False,
                 pipeline="fast", log=print, scaling=None):
    """Train and evaluate every experiment of ``lineup``; a backbone whose weights cannot be had is skipped with
    the reason (in ``results_dir/skipped.json``), never dropped silently. Returns ``(trained, skipped)``: run
    name -> metrics record, run name -> reason. ``scaling`` as for ``run_experiment``."""
    trained, skipped = {}, {}
    start = time.time()
    for index, experiment in enumerate(lineup):
        experiment = dataclasses.replace(experiment, pipeline=pipeline)
        left = time_left(time.time() - start, index, len(lineup))
        log(f"== model {index + 1}/{len(lineup)} {experiment.name}: {experiment.backbone}, {experiment.head}, "
            f"{experiment.image_size} px; line-up elapsed {duration(time.time() - start)}"
            + (f", ETA {duration(left)} at the pace so far" if left is not None else ""))
        try:
            trained[experiment.name] = run_experiment(experiment, catalog, results_dir, weights_dir=weights_dir,
                                                      cache_dir=cache_dir, n_boot=n_boot, overwrite=overwrite,
                                                      scaling=scaling)
        except WeightsUnavailableError as exc:
            skipped[experiment.name] = str(exc)
            log(f"SKIPPED {experiment.name}: {exc}")
    write_json(Path(results_dir) / "skipped.json", skipped)
    log(f"trained: {list(trained)} | skipped: {list(skipped)}")
    return trained, skipped


def _train_classic(model, frames, experiment, run_dir, augment, verbose, resume=False):
    from pneumonet.pipelines.classic import classic_flow

    size = (experiment.image_size, experiment.image_size)
    mode = "binary" if model.output.shape[-1] == 1 else "categorical"
    batch = experiment.train.batch_size
    train = classic_flow(frames["train"], size, batch, augment=augment, shuffle=True, class_mode=mode,
                         seed=experiment.train.seed)
    val = classic_flow(frames["val"], size, batch, class_mode=mode)
    result = experiment.trainer(model, train, val, experiment.train, run_dir=run_dir, verbose=verbose,
                                resume=resume)
    for name in ("val", "test"):
        result.predictions[name] = model.predict(classic_flow(frames[name], size, batch, class_mode=mode),
                                                 verbose=0)
    return result


def _config(experiment, model):
    config = dataclasses.asdict(experiment)
    config["model"] = getattr(model, "pneumonet_config", {})
    return config


def write_figures(run_dir, history, test_pred, name, label_smoothing=0.0):
    """A trained run's own figures in ``run_dir/figures`` (``evaluation.png`` is written with every run by
    ``runs.write_run``): ``training_curves.png`` (both phases, the kept epoch marked) and, for a three-class run,
    ``subtypes.png``, its 3 x 3 confusion matrix on test.

    Args:
        history: the ``TrainResult.history`` frame; test_pred: the ``prediction_frame`` of test; name: the run
            name for titles and legends; label_smoothing: the run's, so the loss panel shows the floor it sets.
    """
    import matplotlib.pyplot as plt

    from pneumonet.plots import plot_history

    figures = Path(run_dir) / FIGURES
    three = SUBTYPE_COLUMNS[0] in test_pred  # per-class probabilities: a three-class run
    # Keras' AUC of a softmax is the micro-average: the three one-against-the-rest problems pooled
    labels = {"auc": "ROC AUC (micro-average, 3 classes)"} if three else None
    # smoothed targets: the loss cannot reach 0 (the floor is 0 without smoothing, and then not drawn)
    floor = loss_floor(label_smoothing, 3 if three else 2)
    save_figure(plot_history(history, name=name, labels=labels, loss_floor=floor).figure_,
                figures / "training_curves.png")
    if three:  # a three-class model: its own confusion matrix
        from sklearn.metrics import ConfusionMatrixDisplay

        predicted = test_pred[list(SUBTYPE_COLUMNS)].to_numpy().argmax(axis=1)
        display = ConfusionMatrixDisplay.from_predictions(test_pred["subtype_label"], predicted, labels=[0, 1, 2],
                                                          display_labels=list(SUBTYPES), cmap="Blues",
                                                          colorbar=False)
        display.ax_.set(title=f"{name}: three classes on the test split", xlabel="predicted class",
                        ylabel="true class")
        save_figure(display.figure_, figures / "subtypes.png")
    plt.close("all")

