"""Scaling up: the hardware profile, mixed precision and data parallelism, chosen in one place.

Keras reads its dtype policy when a layer is created and its distribution when variables are created and data
is fed, and both are global. So they are set before the model is built and kept until training and prediction
are done, in one block::

    with scaled(profile=None, precision=None, devices=None) as setup:   # None: chosen from the devices
        model = build_model("densenet121", ...)
        result = train_two_phase(model, train, val, config)
    record["scaling"] = setup.record()   # {"profile", "precision", "devices", "backend"}

- profile: "cpu" or "gpu" (default: "gpu" when Keras sees a GPU or TPU). It sets the defaults below, and the
  line-up's image sizes, epochs and augmentation (``pneumonet.lineup``).
- precision: "float32" or "mixed_bfloat16" (default: mixed on the gpu profile). Under "mixed_bfloat16" layers
  compute in bfloat16 and keep float32 weights; the head's last activation is float32 (``models.heads``), so
  probabilities, losses and metrics stay float32.
- devices: ``None`` (the profile's default: every device of Keras' default type on the gpu profile, one on the
  cpu profile), ``"all"``, a count, or device names (``keras.distribution.list_devices()``). More than one
  means data parallelism: every device holds a replica of the weights and takes a slice of each batch.
  ``TrainConfig.batch_size`` is the *global* batch (split across the devices): keep it divisible by the device
  count, and scale it with the devices to keep each device busy.

Backends: on JAX, ``keras.distribution.DataParallel`` on a one-axis ``DeviceMesh`` (``set_distribution``); on
TensorFlow, Keras' own distribution support is a prototype, so the supported equivalent is a
``tf.distribute.MirroredStrategy`` scope, in which the model is built, compiled and trained.

Every batch must split evenly across the devices, the last one of an epoch included (JAX raises
``IndivisibleError``; under TensorFlow a replica left without images fails); ``replica_count``,
``trim_to_replicas`` and ``pad_to_replicas`` give the training code what it needs to feed such batches.

Several hosts (JAX; e.g. two machines with 8 GPUs each): start the same program on every host and call
``keras.distribution.initialize(job_addresses="10.0.0.1:1234", num_processes=2, process_id=i)`` first (or set
``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES``, ``KERAS_DISTRIBUTION_PROCESS_ID``
and call it without arguments), before anything touches a device. ``list_devices()`` then lists the devices of
every host, and ``scaled(devices="all")`` spans them all. Each process feeds its own share of every global
batch: ``DataParallel`` shards a batched ``tf.data.Dataset`` across processes itself (``auto_shard_dataset``);
for in-memory arrays, give each process its own slice of the training data.
"""

import contextlib
import dataclasses

import keras
import numpy as np

PROFILES = ("cpu", "gpu")
PRECISIONS = ("float32", "mixed_bfloat16")
ACCELERATORS = ("gpu", "cuda", "tpu")
BATCH_AXIS = "batch"


@dataclasses.dataclass(frozen=True)
class Scaling:
    """How a run is scaled: the profile, the dtype policy, the devices and the Keras backend."""
    profile: str        # "cpu" or "gpu"
    precision: str      # a name in PRECISIONS
    devices: tuple      # Keras device names; more than one: data parallel
    backend: str

    def record(self):
        """What a results file should say about how the run was scaled."""
        return {"profile": self.profile, "precision": self.precision, "devices": list(self.devices),
                "backend": self.backend}


def accelerators():
    """The GPUs or TPUs Keras sees (e.g. ``["gpu:0", "gpu:1"]``); empty on a CPU-only machine."""
    return [d for d in keras.distribution.list_devices() if d.split(":")[0].lower() in ACCELERATORS]


def check_profile(profile):
    """``profile`` if it is one of ``PROFILES``; else a ValueError naming it."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}. Received: profile={profile!r}")
    return profile


def choose_profile(profile=None):
    """``profile`` checked, or "gpu" when Keras sees a GPU or TPU, else "cpu"."""
    if profile is None:
        return "gpu" if accelerators() else "cpu"
    return check_profile(profile)


def choose_precision(profile, precision=None):
    """``precision`` checked, or the profile's: "mixed_bfloat16" on "gpu", "float32" on "cpu"."""
    precision = precision or ("mixed_bfloat16" if profile == "gpu" else "float32")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}. Received: precision={precision!r}")
    return precision


def choose_devices(profile, devices=None):
    """The devices to train on, as Keras names them.

    Args:
        profile: "cpu" (default: one device) or "gpu" (default: every device of Keras' default type).
        devices: None (the profile's default), "all", a positive count (the first ones), or a list of names.

    Returns:
        A tuple of device names such as ``("gpu:0", "gpu:1")``.
    """
    available = keras.distribution.list_devices()
    if devices is None:
        devices = "all" if profile == "gpu" else 1
    if devices == "all":
        return tuple(available)
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices must be a count from 1 to {len(available)}, the devices Keras sees "
                             f"({', '.join(available)}). Received: devices={devices}")
        return tuple(available[:devices])
    if isinstance(devices, (list, tuple)) and devices and all(d in available for d in devices):
        return tuple(devices)
    raise ValueError(f"devices must be None, 'all', a count or names among {available}. Received: devices={devices!r}")


def data_parallel(devices):
    """The backend's data-parallel distribution over ``devices`` (two or more names).

    Returns ``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy`` on TensorFlow.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        mesh = keras.distribution.DeviceMesh(shape=(len(devices),), axis_names=[BATCH_AXIS], devices=list(devices))
        return keras.distribution.DataParallel(device_mesh=mesh)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy([f"/{name}" for name in devices])
    raise ValueError(f"data parallelism needs the JAX or TensorFlow backend. Received: backend={backend!r}")


@contextlib.contextmanager
def scaled(profile=None, precision=None, devices=None):
    """Inside the block, new layers use the chosen dtype policy and training runs on the chosen devices.

    Build the model inside the block (the policy and the distribution apply to layers and variables created
    after they are set), and train and predict inside it too. The previous policy and distribution come back
    on exit. Yields a ``Scaling`` (``.record()`` for the results).
    """
    profile = choose_profile(profile)
    setup = Scaling(profile, choose_precision(profile, precision), choose_devices(profile, devices),
                    keras.backend.backend())
    previous_policy, previous_distribution = keras.config.dtype_policy(), keras.distribution.distribution()
    keras.config.set_dtype_policy(setup.precision)
    try:
        with contextlib.ExitStack() as stack:
            if len(setup.devices) > 1:
                distribution = data_parallel(setup.devices)
                if setup.backend == "jax":
                    keras.distribution.set_distribution(distribution)
                else:  # a model built in a tf.distribute scope keeps its strategy for fit and predict
                    stack.enter_context(distribution.scope())
            yield setup
    finally:
        keras.config.set_dtype_policy(previous_policy)
        keras.distribution.set_distribution(previous_distribution)


def replica_count():
    """How many slices each batch is cut into: the replicas of JAX's current distribution, or of the TensorFlow
    strategy whose scope we are in (1 without either)."""
    distribution = keras.distribution.distribution()
    if distribution is not None:
        return distribution.num_model_replicas
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def trim_to_replicas(arrays, replicas=None):
    """``arrays`` (same length) cut to a multiple of ``replicas`` rows (default: ``replica_count()``).

    With a global batch divisible by the replicas, every batch then is, the last one included. Training drops
    at most ``replicas - 1`` images per epoch; permute before trimming so that others are dropped each epoch.
    """
    replicas = replicas or replica_count()
    keep = len(arrays[0]) // replicas * replicas
    return tuple(a[:keep] for a in arrays)


def pad_to_replicas(x, replicas=None):
    """``(padded, weights)``: ``x`` with zero rows appended up to a multiple of ``replicas`` (default:
    ``replica_count()``), and a weight per row, 1 for ``x``'s rows and 0 for the padding.

    For prediction keep ``predict(padded)[:len(x)]``. For validation pass ``(padded, y_padded, weights)``:
    AUC and accuracy ignore zero-weighted rows; Keras averages the loss over every row, padding included.
    """
    replicas = replicas or replica_count()
    missing = -len(x) % replicas
    padded = np.concatenate([x, np.zeros((missing, *x.shape[1:]), x.dtype)]) if missing else x
    return padded, np.concatenate([np.ones(len(x), "float32"), np.zeros(missing, "float32")])
