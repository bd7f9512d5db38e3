"""pneumonet: pneumonia detection on pediatric chest X-rays with transfer learning (Keras 3).

Sub-packages, one idea each:

- ``pneumonet.data``: catalog of a Kaggle-layout folder, patient-level splits, safe image loading, synthetic data.
- ``pneumonet.pipelines``: the classic ``ImageDataGenerator`` pipeline and the fast cached-array pipeline.
- ``pneumonet.models``: backbone registry, heads, ``build_model``, freeze/unfreeze utilities.
- ``pneumonet.training``: two-phase training, cached-feature phase 1, resumable checkpoints.
- ``pneumonet.evaluation``: clinical metrics, thresholds, bootstrap intervals, paired tests, calibration, run folders.
- ``pneumonet.explain``: Grad-CAM (own and tf-keras-vis), overlays, sanity checks.
- ``pneumonet.plots``: figures; every function takes ``ax=None`` and returns what it drew.
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

VERBOSE_ENV = "PNEUMONET_VERBOSE"


def quiet_tensorflow():
    """Import TensorFlow (when it is Keras' backend) with its C++ start-up lines silenced.

    TensorFlow writes oneDNN and CUDA-probing lines ("failed call to cuInit", which reads like an error on a
    CPU machine) straight to the process's stderr while importing, before any log level applies. They say
    nothing a pneumonet user needs; ``PNEUMONET_VERBOSE=1`` brings them back. Real import errors still surface:
    the next ``import keras`` raises them.
    """
    backend = _os.environ.get("KERAS_BACKEND", "tensorflow")
    if _os.environ.get(VERBOSE_ENV) or backend != "tensorflow" or "tensorflow" in _sys.modules:
        return
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # after start-up: C++ info, warnings and errors off
    with silenced_stderr():
        try:
            import tensorflow
            tensorflow.config.list_physical_devices()  # the CUDA probe ("failed call to cuInit") happens here
            tensorflow.get_logger().setLevel("ERROR")  # e.g. "tf.function retracing" notes when models change
        except ImportError:
            pass


class silenced_stderr:
    """Send the process's stderr (file descriptor 2, where C++ libraries write) to the void inside the block."""

    def __enter__(self):
        _sys.stderr.flush()
        self.saved, self.devnull = _os.dup(2), _os.open(_os.devnull, _os.O_WRONLY)
        _os.dup2(self.devnull, 2)

    def __exit__(self, *exc):
        _sys.stderr.flush()
        _os.dup2(self.saved, 2)
        _os.close(self.saved)
        _os.close(self.devnull)
