"""Hostile and broken images at every entry point: handled correctly or refused with a message naming the file."""

import signal

import numpy as np
import pytest
from PIL import Image

from pneumonet.data import load_image
from pneumonet.data.images import image_info
from pneumonet.errors import ImageLoadError
from pneumonet.pipelines.cache import decode_images
from tests.hostile import _exif_rotated, hostile_files


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def _no_hang():
    def fail(*_):
        raise TimeoutError("an image entry point hung")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_at_least_200_cases(hostile):
    assert len(hostile) >= 200


def test_load_image_handles_or_refuses_each(hostile):
    outcomes = {"ok": 0, "refused": 0}
    for path, expect in hostile.items():
        try:
            array = load_image(path, (32, 32))
        except ImageLoadError as exc:
            assert str(path) in str(exc), exc
            assert expect in ("refuse", "either"), f"{path.name} should load: {exc}"
            outcomes["refused"] += 1
            continue
        assert expect in ("ok", "either"), f"{path.name} should have been refused"
        assert array.shape == (32, 32) and array.dtype == np.uint8
        outcomes["ok"] += 1
    assert outcomes["ok"] >= 60 and outcomes["refused"] >= 70


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    array = np.linspace(0, 65535, 400).reshape(20, 20).astype(np.uint16)
    Image.fromarray(array).save(tmp_path / "x.png")  # uint16 -> mode I;16
    loaded = load_image(tmp_path / "x.png")
    assert loaded.min() == 0 and loaded.max() == 255 and len(np.unique(loaded)) > 200


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "r.jpeg"
    path.write_bytes(_exif_rotated(np.random.default_rng(0)))
    assert load_image(path).shape == (40, 20)  # stored 40 wide x 20 high, displayed rotated


def test_header_inspection_never_raises(hostile):
    for path in hostile:
        info = image_info(path)
        assert (info["error"] is None) == (info["width"] is not None)


def test_fast_pipeline_skips_and_names_bad_files(hostile):
    paths = list(hostile)
    images, errors = decode_images(paths, (32, 32), progress=False)
    assert images.shape == (len(paths), 32, 32)
    refused = {p for p, e in hostile.items() if e == "refuse"}
    assert {str(p) for p in refused} <= set(errors)
    assert not {str(p) for p, e in hostile.items() if e == "ok"} & set(errors)


def test_predict_command_names_bad_files(hostile, trained_cnn, tmp_path, capsys):
    from pneumonet.cli import main
    from pneumonet.models import save_model

    model, _ = trained_cnn
    model_path = save_model(model, tmp_path / "m.keras", {"threshold": 0.5})
    good = [p for p, e in hostile.items() if e == "ok"][:3]
    bad = [p for p, e in hostile.items() if e == "refuse"][:3]
    code = main(["predict", *map(str, good + bad), "--model", str(model_path), "--gradcam", str(tmp_path / "g.png")])
    out, err = capsys.readouterr()
    assert code == 1  # some inputs failed
    assert out.count("p_pneumonia") == 3 and (tmp_path / "g.png").exists()
    for path in bad:
        assert str(path) in err


def test_data_figures_skip_and_name_an_unreadable_image(synthetic_root, tmp_path):
    import shutil

    import pandas as pd

    from pneumonet.data import build_catalog, inspect_images
    from pneumonet.plots import plot_image_sizes, plot_intensity_histograms, plot_sample_grid

    data = tmp_path / "chest_xray"
    shutil.copytree(synthetic_root, data)
    victim = sorted((data / "val" / "NORMAL").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 3])  # truncated: the header still reads
    catalog = inspect_images(build_catalog(data), progress=False)
    first = pd.concat([catalog[catalog.path == str(victim)], catalog[catalog.path != str(victim)]])
    with pytest.warns(UserWarning, match=victim.name):
        axes = plot_sample_grid(first.assign(_order=range(len(first))), n_per_class=3, image_size=(32, 32), seed=0)
        plot_intensity_histograms(first[first.class_name == "NORMAL"], n_per_class=1000, image_size=(32, 32))
    assert sum(len(ax.images) for ax in axes.ax_.ravel()) == 6  # three readable images per class all the same
    plot_image_sizes(catalog)
