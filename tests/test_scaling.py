"""Scaling up: profile defaults, mixed precision against float32, data parallelism on two CPU devices."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from pneumonet.models import build_model
from pneumonet.scaling import (choose_devices, choose_precision, choose_profile, pad_to_replicas, scaled,
                               trim_to_replicas)
from pneumonet.training import TrainConfig, train_two_phase

REPO = Path(__file__).resolve().parent.parent
# bfloat16 keeps 8 significant bits (relative error up to 2**-8 per operation): a probability computed in it
# may move by a few thousandths; 0.01 leaves room for a small network's accumulated rounding.
BF16_TOLERANCE = 0.01
# one device against two: the same arithmetic, only the order of the gradient sums differs (float32 rounding)
DEVICES_TOLERANCE = 1e-4


def test_profile_sets_the_precision_and_devices_and_bad_values_are_named():
    assert choose_profile() == "cpu"  # this machine and CI have no accelerator
    assert choose_precision("gpu") == "mixed_bfloat16" and choose_precision("cpu") == "float32"
    assert choose_precision("gpu", "float32") == "float32"
    assert choose_devices("cpu") == (keras.distribution.list_devices()[0],)
    assert choose_devices("gpu") == tuple(keras.distribution.list_devices())
    with pytest.raises(ValueError, match="profile='tpu'"):
        choose_profile("tpu")
    with pytest.raises(ValueError, match="precision='float16'"):
        choose_precision("cpu", "float16")
    with pytest.raises(ValueError, match="devices=99"):
        choose_devices("cpu", 99)
    with pytest.raises(ValueError, match="devices=\\['gpu:7'\\]"):
        choose_devices("cpu", ["gpu:7"])


def test_scaled_sets_the_policy_for_new_layers_and_restores_it():
    with scaled(profile="gpu") as setup:  # the gpu profile's defaults, forced on this CPU
        inside = keras.layers.Dense(2)
    outside = keras.layers.Dense(2)
    assert inside.compute_dtype == "bfloat16" and inside.variable_dtype == "float32"
    assert outside.compute_dtype == "float32" and keras.config.dtype_policy().name == "float32"
    assert keras.distribution.distribution() is None
    assert setup.record() == {"profile": "gpu", "precision": "mixed_bfloat16",
                              "devices": list(keras.distribution.list_devices()),
                              "backend": keras.backend.backend()}


def _twins(backbone, head, size):
    """The same weights built twice: float32, and under mixed_bfloat16."""
    keras.utils.set_random_seed(0)
    reference = build_model(backbone, head=head, image_size=size)
    with scaled(profile="cpu", precision="mixed_bfloat16"):
        mixed = build_model(backbone, head=head, image_size=size)
    mixed.set_weights(reference.get_weights())
    return reference, mixed


def test_mixed_bfloat16_predictions_match_float32_and_stay_float32():
    reference, mixed = _twins("cnn", "flatten_dense_dropout", 32)
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 1), dtype=np.uint8)
    expected, got = reference.predict(images, verbose=0), mixed.predict(images, verbose=0)
    assert mixed.get_layer("block1_conv").compute_dtype == "bfloat16"
    assert mixed.get_layer("head_logits").compute_dtype == "bfloat16"
    assert mixed.get_layer("head_probability").compute_dtype == "float32"
    assert got.dtype == np.float32
    difference = np.abs(got - expected).max()
    assert 0 < difference <= BF16_TOLERANCE  # not zero: the convolutions did run in bfloat16


@pytest.mark.slow
def test_two_phase_training_with_cached_activations_runs_in_mixed_precision(synthetic_arrays):
    train, val, test = (synthetic_arrays[k] for k in ("train", "val", "test"))
    with scaled(profile="cpu", precision="mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        model = build_model("mobilenet_v2", image_size=48)
        config = TrainConfig(epochs_head=2, epochs_finetune=1, unfreeze_last=9, patience=5)
        result = train_two_phase(model, train[:2], val[:2], config, predict={"test": test[0]}, verbose=0)
    assert result.predictions["test"].dtype == np.float32
    assert np.isfinite(result.history[["loss", "val_loss"]].to_numpy()).all()
    assert result.history["phase"].tolist() == [1, 1, 2]


def test_trim_and_pad_make_every_batch_divisible():
    x, y = np.arange(7), np.arange(7) * 10
    assert [a.tolist() for a in trim_to_replicas((x, y), 2)] == [[0, 1, 2, 3, 4, 5], [0, 10, 20, 30, 40, 50]]
    padded, weights = pad_to_replicas(np.ones((5, 2, 2), "uint8"), 4)
    assert padded.shape == (8, 2, 2) and padded[5:].sum() == 0 and weights.tolist() == [1] * 5 + [0] * 3
    same, weights = pad_to_replicas(np.ones((4, 3)), 2)
    assert same.shape == (4, 3) and weights.tolist() == [1] * 4


# Trains the same tiny CNN on one device, then data-parallel on two, in one process; prints both runs.
TWO_DEVICES = """
import json, sys
import tests.conftest  # noqa: F401  (blocks TensorFlow when PNEUMONET_BLOCK_TF=1)
import keras
if keras.backend.backend() == "tensorflow":  # two logical CPUs, before TensorFlow starts its runtime
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from pneumonet.models import build_model
from pneumonet.scaling import scaled
from pneumonet.training import TrainConfig, train_from_scratch

rng = np.random.default_rng(0)
images = rng.integers(0, 256, (96, 32, 32), dtype=np.uint8)
labels = rng.integers(0, 2, 96)
images[labels == 1, 12:20, 12:20] //= 2  # a darker centre: something to learn
runs = {}
for n in (1, 2):
    with scaled(profile="cpu", devices=n) as setup:
        keras.utils.set_random_seed(0)
        model = build_model("cnn", head=sys.argv[1], image_size=32)
        result = train_from_scratch(model, (images[:64], labels[:64]), (images[64:], labels[64:]),
                                    TrainConfig(epochs_head=3, batch_size=16, patience=5), verbose=0,
                                    predict={"val": images[64:]})
        if keras.backend.backend() == "jax":  # where the weights live
            spread = len(model.weights[0].value.sharding.device_set)
        else:
            spread = model.distribute_strategy.num_replicas_in_sync
    runs[n] = {"history": result.history[["loss", "val_loss", "val_auc"]].to_numpy().tolist(),
               "predictions": result.predictions["val"].ravel().tolist(), "spread": spread,
               "record": setup.record()}
with scaled(profile="cpu", devices=2):  # sizes that do not split evenly: 65 to train, 31 to validate and predict
    model = build_model("cnn", head=sys.argv[1], image_size=32)
    result = train_from_scratch(model, (images[:65], labels[:65]), (images[65:], labels[65:]),
                                TrainConfig(epochs_head=1, batch_size=16), verbose=0, predict={"val": images[65:]})
    runs["uneven"] = {"predictions": len(result.predictions["val"]), "val_auc": float(result.history["val_auc"][0])}
print("RUNS " + json.dumps(runs))
"""


def _one_and_two_devices(tmp_path, backend, head):
    script = tmp_path / "two_devices.py"
    script.write_text(TWO_DEVICES)
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    if backend == "jax":
        env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", PNEUMONET_BLOCK_TF="1")
    done = subprocess.run([sys.executable, str(script), head], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RUNS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[0][len("RUNS "):])


def _assert_same_run(runs):
    one, two = runs["1"], runs["2"]
    assert one["record"]["devices"] == ["cpu:0"] and two["record"]["devices"] == ["cpu:0", "cpu:1"]
    assert (one["spread"], two["spread"]) == (1, 2)  # the second run really was spread over two devices
    np.testing.assert_allclose(two["history"], one["history"], atol=DEVICES_TOLERANCE)
    np.testing.assert_allclose(two["predictions"], one["predictions"], atol=DEVICES_TOLERANCE)
    assert len(set(np.round(one["predictions"], 4))) > 1  # a trained model, not a constant
    # uneven sizes train too: the training set is trimmed, validation and predictions padded and cut back
    assert runs["uneven"]["predictions"] == 31 and 0 <= runs["uneven"]["val_auc"] <= 1


@pytest.mark.slow
def test_data_parallel_on_two_jax_devices_gives_the_one_device_run(tmp_path):
    # dropout included: under JAX the two devices draw the same masks as one device does
    _assert_same_run(_one_and_two_devices(tmp_path, "jax", "flatten_dense_dropout"))


@pytest.mark.slow
@pytest.mark.tensorflow
def test_mirrored_strategy_on_two_tensorflow_cpus_gives_the_one_device_run(tmp_path):
    # no dropout: each MirroredStrategy replica draws its own dropout masks, so runs with dropout differ
    _assert_same_run(_one_and_two_devices(tmp_path, "tensorflow", "flatten_sigmoid"))


def test_train_and_run_take_the_scaling_options():
    from pneumonet.cli import build_parser

    parser = build_parser()
    train = parser.parse_args(["train", "--backbone", "cnn", "--profile", "gpu", "--precision", "float32",
                               "--devices", "all"])
    assert (train.profile, train.precision, train.devices) == ("gpu", "float32", "all")
    assert parser.parse_args(["train", "--backbone", "cnn", "--devices", "2"]).devices == 2
    assert parser.parse_args(["run", "--profile", "cpu"]).profile == "cpu"
    defaults = parser.parse_args(["train", "--backbone", "cnn"])
    assert (defaults.profile, defaults.precision, defaults.devices) == (None, None, None)  # chosen from the devices
    for bad in (["--devices", "0"], ["--devices", "two"], ["--precision", "float16"], ["--profile", "tpu"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "--backbone", "cnn", *bad])
