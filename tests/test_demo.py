"""The demo and the model card: the computing functions on their own, then the whole app in a real headless
browser (Chromium driven by Selenium) as a person uses it: upload a JPEG, a DICOM and a broken file, read the page.

``PNEUMONET_DEMO_MODEL=path/to/model.keras`` runs the browser test on that model (default: a tiny model trained
here on synthetic data) and ``PNEUMONET_SCREENSHOT=path.png`` saves what the browser showed.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pneumonet.data import load_image
from pneumonet.io import read_json
from tests.test_dicom import write_dicom

REPO = Path(__file__).resolve().parent.parent
MAIN_RUN = REPO / "results" / "main" / "mobilenet_v2"


# ---- model card ------------------------------------------------------------------------------------------------

@pytest.fixture
def real_run(tmp_path):
    """A copy of a committed run's metrics.json and the committed shift benchmark (no model needed)."""
    if not (MAIN_RUN / "metrics.json").is_file() or not (MAIN_RUN.parent / "robustness_summary.csv").is_file():
        pytest.skip(f"no committed run with a shift benchmark at {MAIN_RUN}")
    run_dir = tmp_path / "results" / MAIN_RUN.name
    run_dir.mkdir(parents=True)
    shutil.copy(MAIN_RUN / "metrics.json", run_dir)
    shutil.copy(MAIN_RUN.parent / "robustness_summary.csv", run_dir.parent)
    return run_dir


def test_model_card_states_what_was_measured(real_run):
    from pneumonet.model_card import write_model_card

    text = write_model_card(real_run).read_text()
    record = read_json(real_run / "metrics.json")
    auc = record["test"]["roc_auc"]
    assert f"# Model card: {record['run']}" in text
    assert f"**{record['threshold']:.3f}**, chosen by `{record['threshold_method']}`" in text
    assert f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in text
    fn = record["test_at_0.5"]["fn"]
    assert f"{fn['value']:.0f} [{fn['low']:.0f}, {fn['high']:.0f}]" in text
    assert f"{record['test']['_meta']['n']} images from {record['test']['_meta']['n_groups']} patients" in text
    shifts = pd.read_csv(real_run.parent / "robustness_summary.csv")
    mine, others = shifts[shifts["run"] == record["run"]], shifts[shifts["run"] != record["run"]]
    for row in mine.itertuples():
        assert f"| {row.worst_shift} " in text and f"{row.worst_auc:.3f}" in text
    assert not any(f"{row.worst_auc:.3f} | {row.worst_shift}" in text for row in others.itertuples()
                   if row.worst_shift not in set(mine["worst_shift"]))
    for phrase in ("Teaching and research; not a medical device", "dev test split is optimistic",
                   "Site and population shift", "Shortcut risk", "Patient-level validation"):
        assert phrase in text


def test_model_card_keeps_three_decimals_of_round_values():
    from pneumonet.model_card import robustness_table

    rows = pd.DataFrame([{"split": "val", "n_images": 40, "clean_auc": 0.98, "robust_auc": 0.9, "worst_auc": 0.65,
                          "worst_shift": "noise 3", "clean_specificity": 0.9, "shifted_specificity": 0.5,
                          "clean_sensitivity": 1.0, "shifted_sensitivity": 0.95}])
    row = robustness_table(rows).splitlines()[-1]
    assert "| 0.650 " in row and "| 0.980 " in row and "0.900 -> 0.500" in row  # tabulate printed 0.65, 0.98


def test_model_card_without_shift_benchmark_and_refusals(real_run, tmp_path):
    from pneumonet.model_card import model_card, write_model_card

    (real_run.parent / "robustness_summary.csv").unlink()
    assert "Not run for this model" in write_model_card(real_run).read_text()
    with pytest.raises(ValueError, match="needs threshold"):
        model_card({"run": "x", "test": {}, "test_at_0.5": {}})
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        write_model_card(tmp_path)


# ---- the demo's computing functions ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spread_model(tmp_path_factory):
    """A small CNN whose predictions spread over (0, 1) on ``images``, with the threshold not at 0.5."""
    import keras

    from pneumonet.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("cnn", image_size=32)
    images = np.random.default_rng(1).uniform(0, 255, (12, 32, 32)).astype("uint8")
    images = (images * np.linspace(0.1, 1.0, 12)[:, None, None]).astype("uint8")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, _ = dense.get_weights()
    logits = keras.Model(model.inputs, dense.input).predict(images[..., None].astype("float32"), verbose=0) @ kernel
    dense.set_weights([kernel * 2.0 / logits.std(), -logits.mean(axis=0) * 2.0 / logits.std()])
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, image in enumerate(images):
        paths.append(folder / f"x{index}.png")
        Image.fromarray(image).save(paths[-1])
    return model, paths


def test_analyse_decides_at_the_stored_threshold(spread_model, tmp_path):
    from pneumonet.demo import analyse, results_markdown

    model, paths = spread_model
    probs = model.predict(np.stack([load_image(p) for p in paths])[..., None].astype("float32"), verbose=0)[:, 0]
    threshold = float(np.sort(probs)[2] + np.sort(probs)[3]) / 2  # low: some images differ from 0.5's decision
    assert ((probs >= threshold) != (probs >= 0.5)).any()
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"not an image")
    result = analyse(model, {"threshold": threshold, "image_size": [32, 32]}, [*map(str, paths), str(broken)])
    assert [r["image"] for r in result["rows"]] == [p.name for p in paths]
    np.testing.assert_allclose([r["p_pneumonia"] for r in result["rows"]], probs, atol=1e-6)
    assert [r["decision"] for r in result["rows"]] == ["PNEUMONIA" if p >= threshold else "NORMAL" for p in probs]
    assert [r["decision_at_0.5"] for r in result["rows"]] == ["PNEUMONIA" if p >= 0.5 else "NORMAL" for p in probs]
    assert result["errors"] == ["broken.jpeg: ERROR not a readable image (UnidentifiedImageError: cannot identify "
                                "image file 'broken.jpeg')"]
    assert result["cams"].shape[0] == len(paths) and 0 <= result["cams"].min() <= result["cams"].max() <= 1
    text = results_markdown(result)
    assert f"decision at the stored threshold {threshold:.3f}" in text and "- `broken.jpeg: ERROR" in text


def test_gradcam_figure_has_a_colour_bar(spread_model):
    from pneumonet.demo import analyse, gradcam_figure

    model, paths = spread_model
    picture = gradcam_figure(analyse(model, {"threshold": 0.5}, [str(p) for p in paths[:4]]))
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
    # the colour bar (jet) puts saturated blue and red pixels at the right of the figure
    right = picture[:, int(picture.shape[1] * 0.85):].reshape(-1, 3).astype(int)
    assert ((right[:, 2] > 200) & (right[:, 0] < 60)).any() and ((right[:, 0] > 200) & (right[:, 2] < 60)).any()


def test_discover_runs_offers_the_siblings(tmp_path):
    from pneumonet.demo import discover_runs
    from pneumonet.errors import ModelFileError

    for name in ("b_run", "a_run", "no_model"):
        (tmp_path / name).mkdir()
    for name in ("b_run", "a_run"):
        (tmp_path / name / "model.keras").write_bytes(b"")
    runs = discover_runs([tmp_path / "b_run" / "model.keras"])
    assert list(runs) == ["b_run", "a_run"]  # the one asked for first, then the others
    with pytest.raises(ModelFileError, match="not found"):
        discover_runs([tmp_path / "no_model" / "model.keras"])


def test_examples_come_from_the_dev_test_split(synthetic_root, tmp_path):
    from pneumonet.demo import example_images

    examples = example_images(synthetic_root, n=4)
    assert len(examples) == 4 and sorted(label for _, label in examples) == ["NORMAL"] * 2 + ["PNEUMONIA"] * 2
    assert all(Path(path).parent.parent.name == "test" for path, _ in examples)
    assert example_images(tmp_path / "nothing", n=4) == [] and example_images(synthetic_root, n=0) == []


# ---- the app in a real browser -----------------------------------------------------------------------------------

def _browser():
    """(chromium, chromedriver) paths, or a pytest skip saying what is missing."""
    pytest.importorskip("gradio", reason="the demo needs gradio: pip install -e '.[demo]'")
    pytest.importorskip("selenium", reason="the browser test needs selenium: pip install -e '.[demo]'")
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no Chromium and chromedriver on PATH: `make browser` installs them (Debian: apt-get install "
                    "chromium chromium-driver)")
    return chromium, driver


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url, process, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo exited with code {process.returncode}: {process.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"the demo did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def demo_model(synthetic_root, tmp_path_factory):
    """``PNEUMONET_DEMO_MODEL`` or a tiny run trained here with ``pneumonet train`` (metrics.json, no card)."""
    if os.environ.get("PNEUMONET_DEMO_MODEL"):
        return Path(os.environ["PNEUMONET_DEMO_MODEL"])
    from pneumonet import cli

    results = tmp_path_factory.mktemp("runs")
    assert cli.main(["train", "--data", str(synthetic_root), "--backbone", "cnn", "--weights", "none",
                     "--image-size", "32", "--epochs", "2", "--finetune-epochs", "0", "--n-boot", "20",
                     "--results", str(results), "--verbose", "0"]) == 0
    return results / "cnn" / "model.keras"


@pytest.mark.slow
def test_demo_in_a_real_browser(demo_model, synthetic_root, tmp_path):
    chromium, chromedriver = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from pneumonet.models import load_model

    data = Path(os.environ.get("PNEUMONET_DATA_FOR_DEMO", synthetic_root)).resolve()  # the browser needs absolute paths
    jpeg = sorted((data / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    # the DICOM twin of the JPEG: MONOCHROME1 (stored inverted), so it must show, and score, exactly the same
    dicom = write_dicom(tmp_path / f"{jpeg.stem}.dcm", 255 - load_image(jpeg), "MONOCHROME1")
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"this is not an image\n" * 10)

    model, metadata = load_model(demo_model)
    size = tuple(metadata["image_size"])
    p = float(model.predict(load_image(jpeg, size)[None, ..., None].astype("float32"), verbose=0)[0, 0])
    threshold = metadata["threshold"]

    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "MPLBACKEND": "Agg"}
    process = subprocess.Popen([sys.executable, "-m", "pneumonet.cli", "demo", "--model", str(demo_model),
                                "--data", str(data), "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1100"):
        options.add_argument(argument)
    browser = None
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url, process)
        browser = webdriver.Chrome(service=Service(chromedriver), options=options)
        browser.get(url)
        wait = WebDriverWait(browser, 180)
        upload = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))[0]
        upload.send_keys("\n".join(str(path) for path in (jpeg, dicom, broken)))
        wait.until(lambda b: "broken.jpeg: ERROR" in b.find_element(By.ID, "results").text
                   and len(b.find_elements(By.CSS_SELECTOR, "#results table tbody tr")) == 2)
        rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                for row in browser.find_elements(By.CSS_SELECTOR, "#results table tbody tr")]
        header = browser.find_element(By.CSS_SELECTOR, "#results table thead").text
        assert f"decision at the stored threshold {threshold:.3f}" in header
        expected = ["PNEUMONIA" if p >= threshold else "NORMAL", "PNEUMONIA" if p >= 0.5 else "NORMAL"]
        assert rows == [[jpeg.name, f"{p:.4f}", *expected], [dicom.name, f"{p:.4f}", *expected]]
        errors = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#results li")]
        assert len(errors) == 1 and errors[0].startswith("broken.jpeg: ERROR not a readable image")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#gradcam img[src]"))
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "not a medical device" in page and "dev test split" in page  # the examples are marked
        if os.environ.get("PNEUMONET_SCREENSHOT"):
            browser.execute_script("window.scrollTo(0, 0)")
            Path(os.environ["PNEUMONET_SCREENSHOT"]).parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(os.environ["PNEUMONET_SCREENSHOT"])
        browser.find_element(By.CSS_SELECTOR, "#model-card-accordion button").click()
        card = wait.until(lambda b: b.find_element(By.ID, "model-card").text or None)
        assert f"Model card: {demo_model.parent.name}" in card and f"{threshold:.3f}" in card
        assert (demo_model.parent / "MODEL_CARD.md").is_file()  # written by the demo, since it was missing
    finally:
        if browser is not None:
            browser.quit()
        os.killpg(process.pid, signal.SIGTERM)  # the demo we started, and only it
        process.wait(timeout=30)
