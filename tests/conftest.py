"""Shared fixtures: a synthetic data set, the real data when present, tiny trained models.

``PNEUMONET_BLOCK_TF=1`` makes ``import tensorflow`` fail, to prove the core runs on JAX without TensorFlow.
"""

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

import pytest

if os.environ.get("PNEUMONET_BLOCK_TF"):
    class _BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow.") or name.startswith("tf_keras_vis"):
                raise ImportError(f"{name} is blocked (PNEUMONET_BLOCK_TF=1): this code path must not need it")
            return None

    sys.meta_path.insert(0, _BlockTensorFlow())

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("PNEUMONET_DATA", REPO.parent / "shared" / "data" / "chest_xray"))
WEIGHTS_DIR = Path(os.environ.get("PNEUMONET_WEIGHTS", REPO.parent / "shared" / "weights"))


def pytest_collection_modifyitems(config, items):
    import keras

    tf_backend = keras.backend.backend() == "tensorflow"
    for item in items:
        if "tensorflow" in item.keywords and (not tf_backend or os.environ.get("PNEUMONET_BLOCK_TF")):
            item.add_marker(pytest.mark.skip(reason="needs the TensorFlow backend"))
        if "real_data" in item.keywords and not REAL_DATA.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"real data not found at {REAL_DATA}"))


def load_benchmark(name):
    """A script of ``benchmarks/`` imported as a module (the folder is not a package), to test its functions."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    os.environ["PNEUMONET_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    from pneumonet.data import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "chest_xray", image_size=48, seed=0)


@pytest.fixture(scope="session")
def synthetic_catalog(synthetic_root):
    from pneumonet.experiment import prepare_catalog

    return prepare_catalog(synthetic_root, val_fraction=0.25, seed=0, progress=False)


@pytest.fixture(scope="session")
def synthetic_arrays(synthetic_catalog):
    from pneumonet.data import subset
    from pneumonet.pipelines import load_arrays

    return {name: load_arrays(subset(synthetic_catalog, name), (48, 48), progress=False)
            for name in ("train", "val", "test")}


@pytest.fixture(scope="session")
def trained_cnn(synthetic_arrays):
    """A small CNN trained a few epochs on synthetic data (a model whose heatmaps should mean something)."""
    import keras

    from pneumonet.models import build_model
    from pneumonet.training import TrainConfig, train_from_scratch

    keras.utils.set_random_seed(1)  # initial weights independent of which tests ran first
    model = build_model("cnn", head="flatten_dense_dropout", image_size=48)
    train, val = synthetic_arrays["train"], synthetic_arrays["val"]
    result = train_from_scratch(model, train[:2], val[:2], TrainConfig(epochs_head=8, patience=8, seed=1),
                                predict={"test": synthetic_arrays["test"][0]}, verbose=0)
    return model, result
