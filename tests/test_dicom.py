"""DICOM at every entry point: decoding (rescale, windowing, MONOCHROME1), hostile files, the catalog, training
on a folder of .dcm files in the Kaggle layout, and ``pneumonet predict``."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from pneumonet.data import build_catalog, inspect_images, load_image
from pneumonet.data.images import image_info, is_dicom
from pneumonet.errors import ImageLoadError


def write_dicom(path, array, photometric="MONOCHROME2", bits_stored=None, **attributes):
    """A minimal, valid DICOM file (Secondary Capture, explicit VR little endian) holding ``array``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.Modality = "DX"
    dataset.set_pixel_data(array, photometric, bits_stored or array.dtype.itemsize * 8)
    for key, value in attributes.items():
        setattr(dataset, key, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


def dicom_twin(jpeg_path, dicom_path):
    """A MONOCHROME1, 12-bit DICOM whose display is exactly the JPEG's decoded pixels: (255 - x) * 16 stored."""
    pixels = load_image(jpeg_path).astype(np.uint16)
    stretch = pixels.max() > pixels.min()
    assert stretch and pixels.min() == 0 and pixels.max() == 255, "the twin needs a JPEG spanning 0..255"
    return write_dicom(dicom_path, ((255 - pixels) * 16).astype(np.uint16), "MONOCHROME1", bits_stored=12)


def full_range_jpeg(path, seed=0, size=(40, 56)):
    """A JPEG whose decoded pixels span 0..255 (so a 12-bit DICOM twin maps back onto them exactly)."""
    rng = np.random.default_rng(seed)
    array = rng.integers(40, 200, size, dtype=np.uint8)
    array[:8, :8], array[-8:, -8:] = 0, 255  # flat blocks survive JPEG compression exactly
    Image.fromarray(array).save(path, quality=95)
    return path


def convert_to_dicom(jpeg_root, dicom_root):
    """A copy of a Kaggle-layout folder with every JPEG as an 8-bit DICOM of its decoded pixels."""
    dicom_root.mkdir(parents=True)
    for source in sorted(jpeg_root.rglob("*")):
        target = dicom_root / source.relative_to(jpeg_root)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.suffix.lower() in (".jpeg", ".jpg", ".png"):
            write_dicom(target.with_suffix(".dcm"), load_image(source))
        else:
            shutil.copy(source, target)  # markers such as the synthetic data set's
    return dicom_root


def test_rescale_then_window_known_answer(tmp_path):
    stored = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (8, 1))  # 8 x 64 ramp
    # rescale to -1000..3095 (Hounsfield-like), then a window 0..1000 centred at 500
    path = write_dicom(tmp_path / "ramp.dcm", stored, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1000,
                       WindowCenter=500, WindowWidth=1000)
    loaded = load_image(path)
    value = stored[0].astype(float) - 1000
    assert (loaded[0][value <= 0] == 0).all()       # below the window: black
    assert (loaded[0][value >= 1000] == 255).all()  # above: white
    inside = (value > 50) & (value < 950)
    expected = value[inside] / 1000 * 255
    np.testing.assert_allclose(loaded[0][inside], expected, atol=2.0)


def test_monochrome1_is_inverted_and_matches_its_jpeg(tmp_path):
    jpeg = full_range_jpeg(tmp_path / "x.jpeg")
    twin = dicom_twin(jpeg, tmp_path / "x.dcm")
    np.testing.assert_array_equal(load_image(twin), load_image(jpeg))
    np.testing.assert_array_equal(load_image(twin, (24, 24)), load_image(jpeg, (24, 24)))
    assert load_image(twin)[0, 0] == 0  # black block: stored as the highest value, shown black


def test_eight_bit_without_window_is_kept_as_stored(tmp_path):
    array = np.full((20, 30), 100, dtype=np.uint8)
    array[5:10, 5:10] = 140
    loaded = load_image(write_dicom(tmp_path / "flat.dcm", array))
    np.testing.assert_array_equal(loaded, array)  # not stretched to 0..255, as an 8-bit PNG is not


def test_colour_dicom_becomes_grayscale():
    from pydicom import examples

    loaded = load_image(examples.get_path("rgb_color"), (32, 32))
    assert loaded.shape == (32, 32) and loaded.dtype == np.uint8 and loaded.std() > 0


def test_header_and_sniffing(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", np.zeros((30, 50), dtype=np.uint16), "MONOCHROME1", bits_stored=12)
    assert image_info(path) == {"width": 50, "height": 30, "mode": "MONOCHROME1", "format": "DICOM",
                                "error": None}
    no_suffix = tmp_path / "IM0001"
    shutil.copy(path, no_suffix)
    assert is_dicom(no_suffix) and not is_dicom(full_range_jpeg(tmp_path / "b.jpeg"))
    assert load_image(no_suffix, (8, 8)).shape == (8, 8)


def _hostile_dicoms(folder):
    """{path: expectation}: 'refuse' (ImageLoadError naming the file) or 'either' (a codec plugin may be there)."""
    from pydicom import examples

    good = write_dicom(folder / "good.dcm", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), bits_stored=12)
    data = good.read_bytes()
    cases = {}

    def put(name, payload, expect="refuse"):
        (folder / name).write_bytes(payload)
        cases[folder / name] = expect

    put("empty.dcm", b"")
    put("random.dcm", np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    put("text.dcm", b"not a dicom file\n" * 50)
    put("truncated_pixels.dcm", data[:-2000])
    put("truncated_header.dcm", data[:200])
    put("jpeg_named.dcm", _jpeg_bytes())
    no_pixels = write_dicom(folder / "tmp.dcm", np.zeros((4, 4), dtype=np.uint8))
    put("no_pixels.dcm", _without_pixels(no_pixels))
    put("multi_frame.dcm", write_dicom(folder / "tmp2.dcm", np.zeros((3, 16, 16), dtype=np.uint8)).read_bytes())
    put("one_pixel.dcm", write_dicom(folder / "tmp3.dcm", np.zeros((1, 1), dtype=np.uint8)).read_bytes())
    put("huge.dcm", _declared_size(write_dicom(folder / "tmp4.dcm", np.zeros((4, 4), dtype=np.uint8)),
                                   30000, 30000))
    put("jpeg2000_codec.dcm", examples.get_path("jpeg2k").read_bytes(), "either")
    return cases


def _jpeg_bytes():
    import io

    buffer = io.BytesIO()
    Image.new("L", (20, 20), 128).save(buffer, "JPEG")
    return buffer.getvalue()


def _without_pixels(path):
    import pydicom

    dataset = pydicom.dcmread(path)
    del dataset.PixelData
    dataset.save_as(path)
    return path.read_bytes()


def _declared_size(path, rows, columns):
    import pydicom

    dataset = pydicom.dcmread(path)
    dataset.Rows, dataset.Columns = rows, columns
    dataset.save_as(path)
    return path.read_bytes()


def test_hostile_dicom_files_are_refused_naming_the_file(tmp_path):
    cases = _hostile_dicoms(tmp_path)
    refused = 0
    for path, expect in cases.items():
        try:
            array = load_image(path, (16, 16))
        except ImageLoadError as exc:
            message = str(exc)
            assert str(path) in message and "\n" not in message, message
            refused += 1
            if "huge" in path.name:
                assert "exceeds" in message
            if "multi_frame" in path.name:
                assert "multi-frame" in message
            continue
        assert expect == "either", f"{path.name} should have been refused"
        assert array.shape == (16, 16)
    assert refused >= len(cases) - 1
    # image_info never raises: header problems are reported as the error
    infos = {path.name: image_info(path) for path in cases}
    assert infos["empty.dcm"]["error"] == "empty file (0 bytes)"
    assert "no pixel data" in infos["no_pixels.dcm"]["error"]


def test_catalog_and_arrays_of_a_dicom_folder_match_the_jpegs(synthetic_root, tmp_path):
    from pneumonet.pipelines import load_arrays

    dicom_root = convert_to_dicom(synthetic_root, tmp_path / "dicom")
    jpegs, dicoms = build_catalog(synthetic_root), build_catalog(dicom_root)
    assert len(dicoms) == len(jpegs) and dicoms.attrs["skipped"] == jpegs.attrs["skipped"]
    assert (dicoms["filename"].str.endswith(".dcm")).all()
    assert dicoms["patient_id"].tolist() == jpegs["patient_id"].tolist()  # names parse the same
    inspected = inspect_images(dicoms, progress=False)
    assert inspected["error"].isna().all() and (inspected["format"] == "DICOM").all()
    a, labels_a, _ = load_arrays(jpegs.head(12), (32, 32), progress=False)
    b, labels_b, _ = load_arrays(dicoms.head(12), (32, 32), progress=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(labels_a, labels_b)


@pytest.mark.slow
def test_a_dicom_folder_trains_and_evaluates(synthetic_root, tmp_path, capsys):
    from pneumonet import cli
    from pneumonet.io import read_json

    dicom_root = convert_to_dicom(synthetic_root, tmp_path / "dicom")
    code = cli.main(["train", "--data", str(dicom_root), "--backbone", "cnn", "--weights", "none",
                     "--image-size", "32", "--epochs", "2", "--finetune-epochs", "0", "--n-boot", "20",
                     "--results", str(tmp_path / "runs"), "--verbose", "0"])
    assert code == 0, capsys.readouterr().err
    record = read_json(tmp_path / "runs" / "cnn" / "metrics.json")
    n_test = len(list((dicom_root / "test").rglob("*.dcm")))
    assert record["test"]["_meta"]["n"] == n_test and record["unreadable_skipped"] == 0
    assert 0.0 <= record["test"]["roc_auc"]["value"] <= 1.0
    assert cli.main(["evaluate", "--results", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "runs" / "cnn" / "MODEL_CARD.md").is_file()


def test_predict_accepts_dicom(tmp_path, capsys):
    from pneumonet import cli
    from pneumonet.models import build_model, save_model

    model = build_model("cnn", image_size=32)
    model_path = save_model(model, tmp_path / "run" / "model.keras", {"threshold": 0.3})
    jpeg = full_range_jpeg(tmp_path / "x.jpeg")
    twin = dicom_twin(jpeg, tmp_path / "x.dcm")
    (tmp_path / "broken.dcm").write_bytes(b"DICM" * 10)
    code = cli.main(["predict", str(jpeg), str(twin), str(tmp_path / "broken.dcm"), "--model", str(model_path)])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert code == 1  # one file failed
    assert [r["image"] for r in rows] == [str(jpeg), str(twin)]
    assert rows[0]["p_pneumonia"] == rows[1]["p_pneumonia"]  # the twin shows the same pixels
    assert f"{tmp_path / 'broken.dcm'}: ERROR" in err and len(err.strip().splitlines()) == 1
