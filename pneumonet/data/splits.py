"""Patient-level validation split and class weights.

The official validation split has 16 images: far too few to choose a model or a threshold. pneumonet carves a
stratified validation split out of ``train`` by whole patients, so no patient has images on both sides.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.class_weight import compute_class_weight


def patient_groups(frame):
    """One integer group per patient; patients sharing a byte-identical image are merged into one group.

    Patient numbers restart in each official split, so the key is (split, patient_id).
    """
    keys = frame["split"].astype(str) + "/" + frame["patient_id"].astype(str)
    parent = {key: key for key in keys.unique()}

    def find(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    if "md5" in frame:
        # identical bytes under two names would otherwise land on both sides of the split
        for _, members in frame.dropna(subset=["md5"]).groupby("md5")["patient_id"].groups.items():
            member_keys = keys.loc[members].unique()
            for other in member_keys[1:]:
                parent[find(other)] = find(member_keys[0])
    roots = keys.map(find)
    return pd.factorize(roots)[0]


def check_folds(n_splits, groups, where):
    """Refuse a number of patient folds below 2 or above the patients in ``groups`` (one per image) in one line
    that counts the patients of ``where`` (e.g. "the training split"), instead of scikit-learn's words once the
    slow work is done: callers check first."""
    patients = len(np.unique(np.asarray(groups)))
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer of at least 2. Received: n_splits={n_splits!r}")
    if n_splits > patients:
        raise ValueError(f"n_splits={n_splits}: more folds than the {patients} patients of {where}; use at most "
                         f"{patients}")
    return n_splits


def split_train_val(frame, val_fraction=0.2, seed=42, stratify="label"):
    """Split ``frame`` (usually the ``train`` rows) into (train, val) by whole patients, stratified.

    Deterministic for a given ``seed``. ``val_fraction`` must be in (0, 0.5].
    """
    if not 0 < val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in (0, 0.5]. Received: val_fraction={val_fraction}")
    if stratify not in frame:
        raise ValueError(f"stratify must name a column of the catalog. Received: stratify={stratify!r}")
    n_splits = max(2, int(round(1 / val_fraction)))
    groups = patient_groups(frame)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(frame)), frame[stratify], groups))
    return frame.iloc[np.sort(train_idx)].reset_index(drop=True), frame.iloc[np.sort(val_idx)].reset_index(drop=True)


def assign_subsets(catalog, val_fraction=0.2, seed=42):
    """Add a ``subset`` column: train, val (patient-level, from train), test, official_val (the 16 images).

    Nothing is chosen on ``test``; ``official_val`` is kept for reference only.
    """
    catalog = catalog.copy()
    catalog["subset"] = catalog["split"].map({"train": "train", "val": "official_val", "test": "test"})
    train_rows = catalog[catalog["split"] == "train"]
    _, val = split_train_val(train_rows, val_fraction=val_fraction, seed=seed)
    catalog.loc[catalog["path"].isin(set(val["path"])), "subset"] = "val"
    return catalog


def subset(catalog, name):
    """Rows of one subset (``train``, ``val``, ``test``, ``official_val``), in catalog order."""
    rows = catalog[catalog["subset"] == name].reset_index(drop=True)
    rows.attrs.update(catalog.attrs)
    return rows


def class_weights(labels):
    """Balanced class weights ``{class: n / (k * n_class)}`` for Keras' ``class_weight``."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights)}
