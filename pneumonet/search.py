"""Hyper-parameter search of pneumonet's Keras models with KerasTuner; objective: validation AUC.

KerasTuner proposes the values and keeps the books (trials, best, resumption after an interruption); each trial
trains exactly as ``pneumonet train`` does with the fast pipeline (``build_model`` + two-phase training on
cached activations, augmented views drawn once), for the budget's few epochs, and is scored by the ROC AUC of
its predictions on the patient-level validation split. The test split is never loaded. The best configuration
is written to ``best_config.json`` in the search folder; ``pneumonet train --backbone B --config
best_config.json`` trains it (longer) and evaluates it like any model.

The searched values: head width and dropout, the two learning rates, how many backbone layers phase 2
unfreezes, augmentation (augmented views drawn once; on a GPU also augmentation every epoch), label smoothing
and weight decay. Trial 1 always tries the defaults, pneumonet's current recipe.
"""

import dataclasses
import json
import time
from pathlib import Path

from pneumonet.io import read_json, write_csv, write_json

# trials x (head epochs, fine-tuning epochs). cpu: a DenseNet121 trial at 224 px costs one pass of the frozen
# layers over the training images (plus one per augmented view) and seconds per epoch on cached activations
BUDGETS = {"cpu": {"trials": 4, "epochs_head": 2, "epochs_finetune": 1},
           "gpu": {"trials": 20, "epochs_head": 10, "epochs_finetune": 4}}
# augmentation strength -> (augmented views drawn once, augmentation inside the model every epoch)
AUGMENTATION = {"none": (0, False), "views1": (1, False), "views2": (2, False), "every_epoch": (0, True)}
OBJECTIVE = "val_auc"


def define_space(hp, budget, from_scratch=False):
    """Register the search space on KerasTuner's ``hp`` and return this trial's values; defaults first."""
    values = {
        "units": hp.Choice("units", [128, 64, 256]),
        "dropout": hp.Choice("dropout", [0.5, 0.0, 0.25]),
        "lr_head": hp.Float("lr_head", 1e-4, 3e-3, sampling="log", default=1e-3),
        "augmentation": hp.Choice("augmentation", ["none", "views1"] if budget == "cpu" else list(AUGMENTATION)),
        "label_smoothing": hp.Choice("label_smoothing", [0.1, 0.0]),
        "weight_decay": hp.Choice("weight_decay", [1e-4, 0.0]),
    }
    if not from_scratch:  # a model trained from scratch has one phase: nothing to unfreeze
        values["lr_finetune"] = hp.Float("lr_finetune", 1e-6, 1e-4, sampling="log", default=1e-5)
        values["unfreeze_last"] = hp.Choice("unfreeze_last", [4, 0, 12])
    return values


def experiment_for(values, backbone, weights, image_size, epochs_head, epochs_finetune, seed, name="search"):
    """The ``Experiment`` a set of searched values stands for (a head spec carries the width and dropout)."""
    from pneumonet.experiment import Experiment
    from pneumonet.models.heads import get_head
    from pneumonet.training import TrainConfig

    views, augment = AUGMENTATION[values["augmentation"]]
    train = TrainConfig(epochs_head=epochs_head, epochs_finetune=epochs_finetune, lr_head=values["lr_head"],
                        lr_finetune=values.get("lr_finetune", 1e-5), unfreeze_last=values.get("unfreeze_last", 0),
                        label_smoothing=values["label_smoothing"], weight_decay=values["weight_decay"], seed=seed)
    head = get_head("gap_dense_dropout", units=values["units"], dropout=values["dropout"])
    return Experiment(name, backbone, head=head, weights=weights, image_size=image_size, views=views,
                      augment=augment, train=train)


def validation_auc(experiment, arrays, weights_dir=None, verbose=0):
    """Train ``experiment`` on ``arrays["train"]`` as ``run_experiment`` does (fast pipeline) and return the ROC
    AUC of the trained model on ``arrays["val"]`` (``(images, labels, frame)`` each)."""
    from sklearn.metrics import roc_auc_score

    from pneumonet.evaluation import positive_probability

    model = experiment.build(weights_dir)
    train = experiment.training_set(*arrays["train"][:2])
    result = experiment.trainer(model, train, arrays["val"][:2], experiment.train,
                                predict={"val": arrays["val"][0]}, verbose=verbose)
    return float(roc_auc_score(arrays["val"][1], positive_probability(result.predictions["val"])))


def _tuner_class():
    import keras_tuner

    class PneumonetTuner(keras_tuner.RandomSearch):
        """Random search whose trials are pneumonet training runs (KerasTuner's "tune anything" pattern)."""

        def __init__(self, make_experiment, arrays, weights_dir, budget, from_scratch, verbose, **kwargs):
            super().__init__(objective=keras_tuner.Objective(OBJECTIVE, "max"), **kwargs)
            self.make_experiment, self.arrays, self.weights_dir = make_experiment, arrays, weights_dir
            self.budget, self.from_scratch, self.verbose = budget, from_scratch, verbose

        def run_trial(self, trial, *args, **kwargs):
            values = define_space(trial.hyperparameters, self.budget, self.from_scratch)
            start = time.time()
            auc = validation_auc(self.make_experiment(values), self.arrays, self.weights_dir, self.verbose)
            print(f"trial {trial.trial_id}: val AUC {auc:.4f} in {time.time() - start:.0f} s with {values}",
                  flush=True)
            return {OBJECTIVE: auc}

    return PneumonetTuner


def run_search(catalog, search_dir, backbone, weights="imagenet", image_size=224, budget="cpu", trials=None,
               epochs=None, weights_dir=None, cache_dir=None, seed=42, overwrite=False, verbose=0):
    """Search ``backbone``'s hyper-parameters on ``catalog``'s train/val subsets; returns the best configuration.

    Writes into ``search_dir``: KerasTuner's trial folder (``tuner/``), ``trials.csv`` (one row per trial) and
    ``best_config.json``. An interrupted search continues where it stopped when run again with the same
    arguments; other arguments need ``overwrite=True``, which starts again from scratch.
    """
    from pneumonet.data import subset
    from pneumonet.experiment import Experiment
    from pneumonet.models.registry import get_backbone
    from pneumonet.models.weights import resolve_weights
    from pneumonet.pipelines import load_arrays

    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}. Received: budget={budget!r}")
    settings = {**BUDGETS[budget], **({"trials": trials} if trials else {}), **({"epochs_head": epochs} if epochs
                                                                                 else {})}
    resolve_weights(get_backbone(backbone), weights, weights_dir)  # fail before any trial, naming the file
    from_scratch = Experiment("check", backbone, weights=weights, image_size=image_size).from_scratch
    search_dir = Path(search_dir)
    signature = {"backbone": backbone, "weights": weights, "image_size": image_size, "budget": budget,
                 "epochs_head": settings["epochs_head"], "epochs_finetune": settings["epochs_finetune"],
                 "seed": seed, "n_train": int((catalog["subset"] == "train").sum()),
                 "n_val": int((catalog["subset"] == "val").sum())}
    _check_signature(search_dir / "search.json", signature, overwrite)
    write_json(search_dir / "search.json", signature)
    size = (image_size, image_size)
    arrays = {name: load_arrays(subset(catalog, name), size, cache_dir=cache_dir, progress=verbose > 1)
              for name in ("train", "val")}  # never test

    def make_experiment(values):
        return experiment_for(values, backbone, weights, image_size, settings["epochs_head"],
                              settings["epochs_finetune"], seed)

    start = time.time()
    tuner = _tuner_class()(make_experiment, arrays, weights_dir, budget, from_scratch, verbose,
                           max_trials=settings["trials"], seed=seed, directory=str(search_dir),
                           project_name="tuner", overwrite=overwrite, max_consecutive_failed_trials=1)
    tuner.search()
    table = trials_table(tuner)
    write_csv(search_dir / "trials.csv", table)
    best = tuner.oracle.get_best_trials(1)[0]
    values = dict(best.hyperparameters.values)
    experiment = make_experiment(values)
    config = {"experiment": _experiment_record(experiment), "hyperparameters": values,
              "search": {**signature, "trials": len(table), "val_auc": best.score, "trial_id": best.trial_id,
                         "objective": "ROC AUC on the patient-level validation split",
                         "seconds": round(time.time() - start, 1), "path": str(search_dir / "best_config.json")}}
    write_json(search_dir / "best_config.json", config)
    return config


def _check_signature(path, signature, overwrite):
    if path.exists() and not overwrite:
        before = read_json(path)
        if before != signature:
            changed = ", ".join(f"{k}: {before.get(k)!r} -> {v!r}" for k, v in signature.items()
                                if before.get(k) != v)
            raise FileExistsError(f"{path.parent} holds a search with other settings ({changed}); pass "
                                  "--overwrite to start again, or another --name")


def trials_table(tuner):
    """One row per finished trial: its id, score (val AUC) and hyper-parameter values, best first."""
    import pandas as pd

    rows = [{"trial": t.trial_id, OBJECTIVE: t.score, **t.hyperparameters.values}
            for t in tuner.oracle.trials.values() if t.score is not None]
    return pd.DataFrame(rows).sort_values(OBJECTIVE, ascending=False, ignore_index=True)


def _experiment_record(experiment):
    record = json.loads(json.dumps(dataclasses.asdict(experiment), default=str))
    record.pop("name")
    return record


# best_config.json -> the `pneumonet train` options it sets (argparse destinations); epochs are not among them:
# the search's few epochs per trial are not the final training's
_TRAIN_OPTIONS = {"lr": ("train", "lr_head"), "lr_finetune": ("train", "lr_finetune"),
                  "unfreeze_last": ("train", "unfreeze_last"), "label_smoothing": ("train", "label_smoothing"),
                  "weight_decay": ("train", "weight_decay"), "views": (None, "views"), "augment": (None, "augment"),
                  "image_size": (None, "image_size"), "weights": (None, "weights"),
                  "head_units": ("head", "units"), "head_dropout": ("head", "dropout")}


def read_config(path):
    """``best_config.json`` written by ``run_search``, checked; returns its ``experiment`` record."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found. Received: config={str(path)!r}")
    try:
        experiment = read_json(path)["experiment"]
        missing = [f"{section}.{key}" if section else key for section, key in _TRAIN_OPTIONS.values()
                   if (experiment[section] if section else experiment).get(key, ...) is ...]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a best_config.json written by pneumonet search ({exc!r})") from None
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a best_config.json written by pneumonet search")
    return experiment


def train_defaults(path):
    """The ``pneumonet train`` options ``best_config.json`` sets, by argparse destination, plus ``backbone``."""
    experiment = read_config(path)
    options = {dest: (experiment[section] if section else experiment)[key]
               for dest, (section, key) in _TRAIN_OPTIONS.items()}
    return {"backbone": experiment["backbone"], **options}
