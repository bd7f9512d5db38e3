import shutil

import pandas as pd
import pytest

from pneumonet.data import build_catalog, drop_unreadable, inspect_images, parse_filename, summarize
from pneumonet.errors import DataLayoutError, DataUnavailableError
from tests.conftest import REAL_DATA


@pytest.mark.parametrize("name, cls, expected", [
    ("person12_bacteria_45.jpeg", "PNEUMONIA", ("person12", "bacteria")),
    ("person447_virus_921_1.jpeg", "PNEUMONIA", ("person447", "virus")),
    ("IM-0115-0001.jpeg", "NORMAL", ("IM-0115", "normal")),
    ("IM-0437-0001-0002.jpeg", "NORMAL", ("IM-0437", "normal")),
    ("NORMAL2-IM-1427-0001.jpeg", "NORMAL", ("NORMAL2-IM-1427", "normal")),
    ("odd name.jpeg", "NORMAL", ("file:odd name", "normal")),
])
def test_parse_filename(name, cls, expected):
    assert parse_filename(name, cls) == expected


def test_catalog_columns_and_labels(synthetic_root):
    catalog = build_catalog(synthetic_root)
    assert list(catalog.columns[:8]) == ["path", "split", "label", "class_name", "subtype", "patient_id", "filename",
                                        "subtype_label"]
    assert set(catalog["split"]) == {"train", "val", "test"}
    assert (catalog["label"] == (catalog["class_name"] == "PNEUMONIA")).all()
    assert set(catalog["subtype"]) <= {"normal", "bacteria", "virus"}
    # patients with several images exist (the point of patient-level splits)
    assert catalog.groupby(["split", "patient_id"]).size().max() > 1


def test_nested_kaggle_folder_is_found(synthetic_root, tmp_path):
    nested = tmp_path / "download" / "chest_xray"
    shutil.copytree(synthetic_root, nested)
    assert len(build_catalog(tmp_path / "download")) == len(build_catalog(synthetic_root))


def test_the_checkouts_data_folder_is_found_from_any_working_folder(tmp_path, synthetic_root, monkeypatch):
    # a notebook runs in notebooks/, where data/chest_xray (relative) is not the repository's data folder
    import pneumonet.data.download as download

    checkout = tmp_path / "checkout"
    shutil.copytree(synthetic_root, checkout / "data" / "chest_xray")
    monkeypatch.setattr(download, "CHECKOUT", checkout)
    monkeypatch.delenv(download.DATA_ENV, raising=False)
    elsewhere = tmp_path / "checkout" / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert download.resolve_data_dir(checkout=True) == (checkout / "data" / "chest_xray").resolve()
    with pytest.raises(DataUnavailableError):  # only notebooks look there: commands run from the repository root
        download.resolve_data_dir()
    # a data/chest_xray in the working folder still comes first
    shutil.copytree(synthetic_root, elsewhere / "data" / "chest_xray")
    assert download.resolve_data_dir(checkout=True) == (elsewhere / "data" / "chest_xray").resolve()


def test_bad_layouts_name_the_folder(tmp_path, synthetic_root):
    with pytest.raises(DataLayoutError, match="not found"):
        build_catalog(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLayoutError, match="no 'train' folder"):
        build_catalog(tmp_path / "empty")
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    shutil.rmtree(root / "test" / "NORMAL")
    with pytest.raises(DataLayoutError, match=r"missing class folder: .*test/NORMAL"):
        build_catalog(root)
    (root / "test" / "NORMAL").mkdir()
    with pytest.raises(DataLayoutError, match=r"empty class folder: .*test/NORMAL"):
        build_catalog(root)


def test_stray_and_unreadable_files_are_counted_not_fatal(tmp_path, synthetic_root):
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    (root / "train" / "NORMAL" / ".DS_Store").write_bytes(b"junk")
    (root / "train" / "NORMAL" / "notes.txt").write_text("hello")
    (root / "train" / "NORMAL" / "IM-9999-0001.jpeg").write_bytes(b"")
    catalog = build_catalog(root)
    assert catalog.attrs["skipped"] == 2
    inspected = inspect_images(catalog, progress=False)
    kept = drop_unreadable(inspected)
    assert len(kept) == len(catalog) - 1
    (bad, reason), = kept.attrs["unreadable"].items()
    assert bad.endswith("IM-9999-0001.jpeg") and "empty" in reason


@pytest.mark.real_data
def test_real_catalog_counts():
    catalog = inspect_images(build_catalog(REAL_DATA), progress=False)
    counts = summarize(catalog)["counts"]
    assert counts.loc["train"].tolist() == [1107, 3475, 4582]
    assert counts.loc["val"].tolist() == [8, 8, 16]
    assert counts.loc["test"].tolist() == [234, 400, 634]
    assert catalog["error"].isna().all()
    assert not catalog["patient_id"].str.startswith("file:").any()  # every real name parses
    assert set(catalog.loc[catalog.split == "val", "width"]) != {224}  # originals keep their size


def test_summary_tables(synthetic_catalog):
    summary = summarize(synthetic_catalog)
    assert isinstance(summary["counts"], pd.DataFrame)
    assert summary["counts"]["total"].sum() == len(synthetic_catalog)
    assert {"patients", "images_per_patient_mean"} <= set(summary["patients"].columns)
