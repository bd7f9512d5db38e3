"""Training: two-phase transfer learning with cached activations, from-scratch training, callbacks."""

from pneumonet.training.two_phase import (TrainConfig, TrainResult, compile_for, loss_floor, targets_for,
                                          train_from_scratch, train_two_phase)

__all__ = ["TrainConfig", "TrainResult", "compile_for", "loss_floor", "targets_for", "train_from_scratch",
           "train_two_phase"]
