"""The epoch loop behind both phases: early stopping and learning-rate reduction on validation AUC, a CSV
history and checkpoints after every epoch, and exact resumption after an interruption.

Each epoch is one ``fit(epochs=1)`` call on data permuted by ``default_rng([seed, epoch])``, with every random
seed generator in the model (dropout, augmentation) reset from (seed, epoch). So epoch k sees the same batches
and the same dropout masks whether the run went straight through or was killed and resumed; with the weights,
optimizer state and loop state restored from the last checkpoint, a resumed run reaches the same epochs and
the same best model.
"""

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from pneumonet.errors import CheckpointError, TrainingDiverged
from pneumonet.io import atomic_path, read_json, write_csv, write_json
from pneumonet.models.layers import seed_generator_of
from pneumonet.progress import duration, time_left
from pneumonet.runs import HISTORY


def _save_arrays(path, arrays):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, *arrays)


def _load_arrays(path):
    with np.load(path, allow_pickle=False) as data:  # never unpickle a checkpoint
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def reseed(model, seed, epoch):
    """Reset every SeedGenerator in ``model`` from (seed, epoch): dropout and augmentation replay exactly."""
    for index, layer in enumerate(model._flatten_layers()):
        generator = seed_generator_of(layer)
        if generator is not None:
            generator.state.assign(np.array([seed + index, epoch], dtype=generator.state.dtype))


class RunState:
    """What survives an interruption: history rows, best value/epoch/weights, per-phase loop counters."""

    def __init__(self, full_model, checkpoint_dir=None, monitor="val_auc"):
        self.full_model, self.monitor = full_model, monitor
        self.dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.rows, self.best_value, self.best_epoch, self.best_weights = [], -np.inf, None, None
        self.phases = {}  # phase -> {"done", "wait", "best", "plateau_wait", "lr", "stopped"}
        self.generation, self.slot = 0, None  # of the last checkpoint written or restored
        self.best_slot, self.saved_best_slot = None, None  # best weights' file: the newest, the one state.json names

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, optimizer):
        """Checkpoint after an epoch. Weights and optimizer go to the slot the last checkpoint did not use (the
        best weights, written by ``record``, too), and ``state.json``, written last, names the slots and the
        generation: a kill at any moment leaves one complete, matching checkpoint (the previous one until the new
        state file is in place)."""
        if self.dir is None:
            return
        self.generation += 1
        slot = self.generation % 2
        stamp = [np.asarray(self.generation, dtype=np.int64)]
        _save_arrays(self.dir / f"last_weights.{slot}.npz", stamp + self.full_model.get_weights())
        _save_arrays(self.dir / f"optimizer.{slot}.npz", stamp + [np.asarray(v) for v in optimizer.variables])
        write_csv(self.dir.parent / HISTORY, self.history())
        write_json(self.dir / "state.json", {"phases": self.phases, "best_value": self.best_value,
                                             "best_epoch": self.best_epoch, "rows": len(self.rows),
                                             "generation": self.generation, "slot": slot,
                                             "best_slot": self.best_slot})
        self.saved_best_slot = self.best_slot

    def _slot_arrays(self, kind, slot=None, stamp=None):
        """The arrays of the checkpoint file ``state.json`` names, after checking its stamp: the generation, or
        for the best weights the best epoch."""
        path = self.dir / f"{kind}.{self.slot if slot is None else slot}.npz"
        what, stamp = ("generation", self.generation) if stamp is None else ("best epoch", stamp)
        found, *arrays = _load_arrays(path)
        if int(found) != stamp:
            raise CheckpointError(f"{path} holds {what} {int(found)}, state.json says {stamp}: the checkpoint is "
                                  "inconsistent; start again with --overwrite")
        return arrays

    def restore(self):
        """Load the last checkpoint into the model; returns False when there is none."""
        if self.dir is None or not (self.dir / "state.json").exists():
            return False
        state = read_json(self.dir / "state.json")
        self.phases = {int(k): v for k, v in state["phases"].items()}
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.generation, self.slot = state["generation"], state["slot"]
        self.best_slot = self.saved_best_slot = state.get("best_slot")
        self.rows = pd.read_csv(self.dir.parent / HISTORY).to_dict("records")[:state["rows"]]
        self.full_model.set_weights(self._slot_arrays("last_weights"))
        if self.best_slot is not None:
            self.best_weights = self._slot_arrays("best_weights", self.best_slot, self.best_epoch)
        elif (self.dir / "best_weights.npz").exists():  # a checkpoint written before the best weights had slots
            self.best_weights = _load_arrays(self.dir / "best_weights.npz")
        return True

    def restore_optimizer(self, optimizer, variables):
        """Load the checkpoint's optimizer state into ``optimizer`` (built for ``variables``) after a restore."""
        if self.dir is None or not self.generation:
            return
        optimizer.build(variables)
        saved = self._slot_arrays("optimizer")
        if len(saved) == len(optimizer.variables):
            for variable, value in zip(optimizer.variables, saved):
                variable.assign(value)

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def record(self, phase, logs, learning_rate):
        """Append an epoch's row and keep the best weights so far (also on disk when checkpointing, in the slot
        the last ``state.json`` does not name, so a kill before the next ``save`` keeps the previous best). Returns
        the monitored value (None when the logs lack it)."""
        row = {"epoch": len(self.rows) + 1, "phase": phase, "learning_rate": float(learning_rate),
               **{k: float(v) for k, v in logs.items()}}
        self.rows.append(row)
        value = logs.get(self.monitor)
        improved = value is not None and value > self.best_value
        if improved:
            self.best_value, self.best_epoch = float(value), row["epoch"]
            self.best_weights = self.full_model.get_weights()
            if self.dir is not None:
                self.best_slot = 1 if self.saved_best_slot == 0 else 0
                _save_arrays(self.dir / f"best_weights.{self.best_slot}.npz",
                             [np.asarray(self.best_epoch, dtype=np.int64)] + self.best_weights)
        return value

    def history(self):
        """One row per epoch so far, as a DataFrame."""
        return pd.DataFrame(self.rows)

    def restore_best(self):
        """Put the weights of the best epoch so far back into the model."""
        if self.best_weights is not None:
            self.full_model.set_weights(self.best_weights)


@dataclasses.dataclass
class Phase:
    """One training phase as the epoch loop sees it.

    ``model`` is what ``fit`` trains (the full model, or the part after cached activations); ``feed(epoch)``
    returns ``(x, y)`` or a dataset for that global epoch number; ``compile(model, learning_rate)`` compiles it.
    ``validation_batch_size`` only changes how validation is batched, never its result.
    """

    number: int
    model: object
    feed: Callable
    validation: object
    epochs: int
    learning_rate: float
    compile: Callable
    validation_batch_size: int = None


def run_phase(state, phase, config, class_weight=None, verbose=0):
    """Train ``phase.model`` for up to ``phase.epochs`` epochs, resuming where ``state`` says it stopped.

    Early stopping after ``config.patience`` epochs without a better validation AUC; the learning rate is
    multiplied by 0.3 after ``max(1, patience // 2)`` such epochs (down to 1e-7). At the end the best weights so
    far are restored. ``verbose`` prints one line per epoch (``epoch_line``).
    """
    loop = state.phases.setdefault(phase.number, {"done": 0, "wait": 0, "best": -np.inf, "plateau_wait": 0,
                                                  "lr": phase.learning_rate, "stopped": False})
    if loop["done"] >= phase.epochs or loop["stopped"]:  # finished before an interruption
        if not any(number > phase.number and later["done"] for number, later in state.phases.items()):
            state.restore_best()  # the checkpoint holds its last epoch's weights, not its best (as a straight run)
        return loop  # else the restored weights already carry what the later phase trained
    fitted = phase.model
    phase.compile(fitted, loop["lr"])
    if loop["done"]:
        state.restore_optimizer(fitted.optimizer, fitted.trainable_variables)
        fitted.optimizer.learning_rate.assign(loop["lr"])
    seconds = []
    while loop["done"] < phase.epochs and not loop["stopped"]:
        epoch = len(state.rows)  # global epoch index: the same on a straight run and a resumed one
        reseed(state.full_model, config.seed, epoch)
        data = phase.feed(epoch)
        x, y = data if isinstance(data, tuple) else (data, None)
        start = time.time()
        result = fitted.fit(x, y, batch_size=config.batch_size if y is not None else None, epochs=1,
                            validation_data=phase.validation, validation_batch_size=phase.validation_batch_size,
                            class_weight=class_weight, shuffle=False, verbose=0)
        seconds.append(time.time() - start)
        logs = {k: v[-1] for k, v in result.history.items()}
        if verbose:
            print(epoch_line(phase.number, loop["done"] + 1, phase.epochs, logs, loop["lr"], seconds), flush=True)
        if not np.isfinite(logs.get("loss", 0.0)):  # diverged: every later epoch and the evaluation would be NaN
            setting = "lr_head" if phase.number == 1 else "lr_finetune"
            raise TrainingDiverged(f"training diverged in phase {phase.number}, epoch {loop['done'] + 1} (loss "
                                   f"{logs['loss']}); lower the learning rate ({setting}={phase.learning_rate:g}; "
                                   f"{'--lr' if phase.number == 1 else '--lr-finetune'} on the command line)")
        value = state.record(phase.number, logs, loop["lr"])
        loop["done"] += 1
        if value is not None and value > loop["best"]:
            loop["best"], loop["wait"], loop["plateau_wait"] = float(value), 0, 0
        else:
            loop["wait"] += 1
            loop["plateau_wait"] += 1
            if loop["plateau_wait"] >= max(1, config.patience // 2) and loop["lr"] > 1e-7:
                loop["lr"] = max(loop["lr"] * 0.3, 1e-7)
                fitted.optimizer.learning_rate.assign(loop["lr"])
                loop["plateau_wait"] = 0
            loop["stopped"] = loop["wait"] >= config.patience
        state.save(fitted.optimizer)
    state.restore_best()
    return loop


def epoch_line(phase, epoch, epochs, logs, learning_rate, seconds):
    """One line per epoch, instead of Keras' progress bars: phase, losses, validation AUC, this epoch's seconds
    and the phase's time left at the mean pace so far (at most: early stopping may end it sooner).

    Args:
        seconds: the durations of this phase's epochs so far, the current one last.
    """
    left = time_left(sum(seconds), len(seconds), len(seconds) + epochs - epoch)
    return (f"phase {phase} epoch {epoch}/{epochs}: loss {logs.get('loss', float('nan')):.4f}, val_loss "
            f"{logs.get('val_loss', float('nan')):.4f}, val AUC {logs.get('val_auc', float('nan')):.4f}, "
            f"lr {learning_rate:.0e}, {seconds[-1]:.0f} s, phase ETA {duration(left)}")


def permuted(arrays, seed, epoch):
    """The arrays in the order ``default_rng([seed, epoch])`` gives."""
    order = np.random.default_rng([seed, epoch]).permutation(len(arrays[0]))
    return tuple(a[order] for a in arrays)

