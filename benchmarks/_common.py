"""Helpers shared by the benchmarks: timing, a machine description for the printed report, and the uint8 feed."""

import os
import platform
import time

import numpy as np

from pneumonet.pipelines import ArrayDataset


def machine():
    import keras

    return (f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
            f"Keras {keras.__version__} ({keras.backend.backend()})")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


class Uint8ArrayDataset(ArrayDataset):
    """Raw uint8 batches for a model that casts, augments and preprocesses on the device (4x fewer bytes to move
    than float32)."""

    def __getitem__(self, index):
        pixels, rows = self.pixels(index)
        return pixels[..., None], self.labels[rows].astype(np.float32)
