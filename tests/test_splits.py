import numpy as np
import pandas as pd
import pytest

from pneumonet.data import assign_subsets, build_catalog, class_weights, inspect_images, patient_groups
from pneumonet.data.splits import split_train_val
from tests.conftest import REAL_DATA


def _leak(catalog):
    train = set(catalog.loc[catalog.subset == "train", "patient_id"])
    val = set(catalog.loc[catalog.subset == "val", "patient_id"])
    return train & val


def test_no_patient_on_both_sides_synthetic(synthetic_catalog):
    assert not _leak(synthetic_catalog)
    assert (synthetic_catalog.subset == "val").sum() > 0


def test_split_is_deterministic_and_seed_dependent(synthetic_root):
    catalog = build_catalog(synthetic_root)
    a, b = assign_subsets(catalog, 0.25, seed=3), assign_subsets(catalog, 0.25, seed=3)
    c = assign_subsets(catalog, 0.25, seed=4)
    assert a["subset"].equals(b["subset"])
    assert not a["subset"].equals(c["subset"])


def test_identical_images_join_one_group():
    frame = pd.DataFrame({"split": ["train"] * 4, "patient_id": ["a", "b", "c", "d"],
                          "md5": ["x", "x", "y", None]})
    groups = patient_groups(frame)
    assert groups[0] == groups[1] and len(set(groups)) == 3


def test_bad_fraction_is_refused(synthetic_catalog):
    with pytest.raises(ValueError, match="val_fraction"):
        split_train_val(synthetic_catalog, val_fraction=0.9)


def test_class_weights_balance():
    weights = class_weights([0, 1, 1, 1])
    assert weights == pytest.approx({0: 2.0, 1: 2 / 3})


@pytest.mark.real_data
def test_real_split_is_leak_free_and_stratified():
    catalog = assign_subsets(inspect_images(build_catalog(REAL_DATA), progress=False), 0.2, seed=42)
    assert not _leak(catalog)
    # identical bytes never straddle train and val either
    both = catalog[catalog.subset.isin(["train", "val"])].dropna(subset=["md5"])
    assert (both.groupby("md5")["subset"].nunique() == 1).all()
    val = catalog[catalog.subset == "val"]
    assert 0.17 < len(val) / (catalog.split == "train").sum() < 0.23
    assert abs(val.label.mean() - catalog.loc[catalog.split == "train", "label"].mean()) < 0.02
    assert np.all(catalog.loc[catalog.split == "test", "subset"] == "test")
