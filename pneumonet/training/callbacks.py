"""Callbacks shared by both phases: global best weights, per-epoch history on disk, full-model checkpoints."""

import keras
import numpy as np
import pandas as pd

from pneumonet.io import write_csv


class PhaseTracker(keras.callbacks.Callback):
    """One history across phases, written atomically after every epoch; keeps the best weights of the whole run.

    The model it checkpoints is the *full* model, also while a suffix model is the one being fitted.
    """

    def __init__(self, full_model, monitor="val_auc", history_path=None, best_path=None, save_fn=None):
        super().__init__()
        self.full_model, self.monitor = full_model, monitor
        self.history_path, self.best_path, self.save_fn = history_path, best_path, save_fn
        self.rows, self.phase, self.offset = [], 1, 0
        self.best_value, self.best_weights, self.best_epoch = -np.inf, None, None

    def start_phase(self, phase):
        self.phase, self.offset = phase, len(self.rows)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        row = {"epoch": len(self.rows) + 1, "phase": self.phase,
               "learning_rate": float(keras.ops.convert_to_numpy(lr)),
               **{k: float(v) for k, v in logs.items() if k != "learning_rate"}}
        self.rows.append(row)
        value = logs.get(self.monitor)
        if value is not None and value > self.best_value:
            self.best_value, self.best_epoch = float(value), row["epoch"]
            self.best_weights = self.full_model.get_weights()
            if self.best_path is not None and self.save_fn is not None:
                self.save_fn(self.full_model, self.best_path, {"best_epoch": row["epoch"], self.monitor: value})
        if self.history_path is not None:
            write_csv(self.history_path, self.history())

    def history(self):
        return pd.DataFrame(self.rows)

    def restore_best(self):
        if self.best_weights is not None:
            self.full_model.set_weights(self.best_weights)


def phase_callbacks(monitor="val_auc", patience=4):
    """Early stopping and learning-rate reduction on validation AUC."""
    return [keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.3,
                                              patience=max(1, patience // 2), min_lr=1e-7)]
