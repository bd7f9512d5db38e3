"""Catalog of a chest X-ray folder in the Kaggle layout, as a pandas DataFrame.

``{root}/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``: one row per image with its split, label, subtype and
the patient read from the file name.
"""

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from tqdm import tqdm  # plain text: no widget warnings in notebooks

from pneumonet.data.download import find_data_root
from pneumonet.data.images import image_info
from pneumonet.errors import DataLayoutError

SPLITS = ("train", "val", "test")
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
SUBTYPES = ("normal", "bacteria", "virus")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".dcm"}  # .dcm: DICOM, decoded by pydicom (data/images.py)

_PNEUMONIA_NAME = re.compile(r"^(person\d+)_(bacteria|virus)(?:_\d+)+$", re.IGNORECASE)
_NORMAL_NAME = re.compile(r"^((?:NORMAL2-)?IM-\d+)(?:-\d+)+$", re.IGNORECASE)

COLUMNS = ["path", "split", "label", "class_name", "subtype", "patient_id", "filename", "subtype_label"]


def parse_filename(filename, class_name):
    """Return (patient_id, subtype) from a Kermany file name; unknown names are their own patient.

    ``person12_bacteria_45.jpeg`` -> ("person12", "bacteria"); ``IM-0115-0001.jpeg`` -> ("IM-0115", "normal").
    """
    stem = Path(filename).stem
    match = _PNEUMONIA_NAME.match(stem)
    if match:
        return match.group(1).lower(), match.group(2).lower()
    match = _NORMAL_NAME.match(stem)
    if match:
        return match.group(1).upper(), "normal"
    # an unrecognised name: treat the image as its own patient (never merges two patients by accident)
    return f"file:{stem}", ("normal" if class_name == "NORMAL" else "unknown")


def build_catalog(root, splits=SPLITS):
    """One row per image: path, split, label (0 NORMAL, 1 PNEUMONIA), class_name, subtype, patient_id, filename,
    subtype_label (0 normal, 1 bacteria, 2 virus: the 3-class target).

    Hidden and non-image files (``.DS_Store``, ``Thumbs.db``) are skipped; how many is in
    ``catalog.attrs["skipped"]`` with their paths in ``catalog.attrs["skipped_paths"]``. Folders beside NORMAL and
    PNEUMONIA (another class) are not read; they are listed in ``catalog.attrs["extra_folders"]``. An image whose
    file name is not valid UTF-8 (no CSV, JSON or log line could hold its path) is left out as unreadable, in
    ``catalog.attrs["unreadable"]`` (as ``drop_unreadable`` reports the images it drops). Paths in ``attrs`` are
    printable: undecodable bytes are written ``\\xff``.
    """
    root = find_data_root(root)
    rows, skipped, extra_folders, unreadable = [], [], [], {}
    for split in splits:
        split_dir = root / split
        if not split_dir.is_dir():
            if split == "train":
                raise DataLayoutError(f"missing split folder: {split_dir}")
            continue
        for label, class_name in enumerate(CLASS_NAMES):
            class_dir = split_dir / class_name
            if not class_dir.is_dir():
                raise DataLayoutError(f"missing class folder: {class_dir} (each split needs NORMAL and PNEUMONIA)")
            n_before = len(rows)
            for path in sorted(class_dir.iterdir()):
                if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                    skipped.append(_printable(path))
                    continue
                if _printable(path.name) != path.name:  # bytes that are not UTF-8, kept by Python as surrogates
                    unreadable[_printable(path)] = "file name is not valid UTF-8; rename the file to use it"
                    continue
                patient_id, subtype = parse_filename(path.name, class_name)
                subtype_label = SUBTYPES.index(subtype) if subtype in SUBTYPES else -1  # 3-class target
                rows.append((str(path), split, label, class_name, subtype, patient_id, path.name, subtype_label))
            if len(rows) == n_before:
                raise DataLayoutError(f"empty class folder: {class_dir} has no .jpeg/.jpg/.png/.dcm images")
        extra_folders += [_printable(p) for p in sorted(split_dir.iterdir())
                          if p.is_dir() and p.name not in CLASS_NAMES and not p.name.startswith(".")]
    catalog = pd.DataFrame(rows, columns=COLUMNS)
    catalog.attrs.update(root=str(root), skipped=len(skipped), skipped_paths=skipped, extra_folders=extra_folders,
                         unreadable=unreadable)
    return catalog


def _printable(path):
    """``path`` as a string any file or terminal takes: bytes of a file name that are not UTF-8 as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def inspect_images(catalog, n_jobs=8, hashes=True, progress=True):
    """Add width, height, mode, format, error (None when readable) and, optionally, an md5 of the bytes.

    Reads headers only (plus the raw bytes for the hash), in threads, with a progress bar.
    """
    def one(path):
        info = image_info(path)
        if info["error"] is None and (hashes or info["format"] == "JPEG"):
            data = Path(path).read_bytes()
            # a JPEG cut short still has a readable header; its end-of-image marker is what is missing
            if info["format"] == "JPEG" and data.rstrip(b"\x00\r\n")[-2:] != b"\xff\xd9":
                info["error"] = "truncated JPEG (no end-of-image marker)"
            if hashes:
                info["md5"] = hashlib.md5(data).hexdigest() if info["error"] is None else None
        elif hashes:
            info["md5"] = None
        return info

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        infos = list(tqdm(pool.map(one, catalog["path"]), total=len(catalog), desc="inspect images",
                          disable=not progress, leave=False, mininterval=10))
    out = pd.concat([catalog.reset_index(drop=True), pd.DataFrame(infos)], axis=1)
    out.attrs.update(catalog.attrs)
    return out


def drop_unreadable(inspected):
    """Rows whose header could be read; the rest are reported in ``attrs['unreadable']`` (path -> reason), after
    those ``build_catalog`` left out."""
    bad = inspected[inspected["error"].notna()]
    ok = inspected[inspected["error"].isna()].reset_index(drop=True)
    ok.attrs.update(inspected.attrs)
    ok.attrs["unreadable"] = {**inspected.attrs.get("unreadable", {}), **dict(zip(bad["path"], bad["error"]))}
    return ok


def summarize(catalog):
    """Tables a reader wants first: counts per split/class/subtype, patients, images per patient, sizes, modes."""
    counts = (catalog.pivot_table(index="split", columns="class_name", values="path", aggfunc="count", fill_value=0)
              .reindex(columns=list(CLASS_NAMES), fill_value=0))
    counts["total"] = counts.sum(axis=1)
    subtypes = catalog.pivot_table(index="split", columns="subtype", values="path", aggfunc="count", fill_value=0)
    per_patient = catalog.groupby(["split", "class_name", "patient_id"]).size()
    patients = per_patient.groupby(["split", "class_name"]).agg(
        patients="count", images_per_patient_mean="mean", images_per_patient_max="max").round(2)
    summary = {"counts": counts, "subtypes": subtypes, "patients": patients,
               "skipped_files": catalog.attrs.get("skipped", 0)}
    if "width" in catalog:
        summary["sizes"] = catalog.groupby("split")[["width", "height"]].describe().round(0)
        summary["modes"] = catalog.groupby(["split", "mode"]).size().unstack(fill_value=0)
        summary["unreadable"] = int(catalog["error"].notna().sum()) + len(catalog.attrs.get("unreadable", {}))
    if "md5" in catalog:
        dup = catalog.dropna(subset=["md5"]).groupby("md5").filter(lambda g: len(g) > 1)
        summary["duplicate_groups"] = int(dup["md5"].nunique())
    return summary
