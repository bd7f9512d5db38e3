"""Helpers shared by the benchmarks: timing and a machine description for the printed report."""

import os
import platform
import time


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
