"""CI runs the five notebooks top to bottom in smoke mode on synthetic data and checks what they leave."""

import hashlib
import json
import os
import shutil
import socket

import pandas as pd
import pytest

from pneumonet.data import write_synthetic_dataset
from pneumonet.data.download import KAGGLE_DATASET
from pneumonet.runner import KERNEL_ARGUMENTS, NOTEBOOKS, main_job, notebooks_dir
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _fingerprint(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_main_job_twice_in_a_fresh_clone_keeps_committed_results(tmp_path, monkeypatch):
    # a fresh clone: committed results (a finished run of every name the main job writes), no data folder
    shutil.copytree(REPO / "results", tmp_path / "results")
    committed = _fingerprint(tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PNEUMONET_DATA", raising=False)
    messages = []
    # one transfer model; no three-class model, the cpu profile's default (the Colab simulation below trains one)
    first, timings = main_job(None, None, {"backbones": ["mobilenet_v2"]}, log=messages.append)
    assert any("DEMO" in m for m in messages)
    assert first.parent.name == "runs" and first.name.startswith("demo-")
    assert list(timings) == list(NOTEBOOKS)
    # the terminal shows where the job is: notebook i/5, model i/n, one line per epoch with the phase's ETA
    assert any("1/5 01_data_exploration" in m for m in messages)
    assert any("03 == model 1/1 mobilenet_v2" in m for m in messages)
    assert any("03 phase 1 epoch 1/1:" in m and "phase ETA" in m for m in messages)
    for name in NOTEBOOKS:
        executed = json.loads((first / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, name
    for run in ("cnn_baseline", "mobilenet_v2", "ensemble", "stack"):
        metrics = json.loads((first / run / "metrics.json").read_text())
        assert metrics["threshold_chosen_on"] == "val" and (first / run / "predictions.csv").exists()
    assert not (first / "densenet121_3class").exists()
    for run in ("cnn_baseline", "mobilenet_v2", "ensemble", "stack"):  # every run has its evaluation figure
        assert (first / run / "figures" / "evaluation.png").exists()
    for run in ("cnn_baseline", "mobilenet_v2"):  # trained models also have their training curves
        assert (first / run / "figures" / "training_curves.png").exists()
    card = (first / "mobilenet_v2" / "MODEL_CARD.md").read_text()  # rewritten by 05 with the shift figures
    assert "not a medical device" in card and "AUC mean over shifts" in card
    skipped = json.loads((first / "skipped.json").read_text())
    assert skipped == {}  # weights=None in smoke mode: nothing needs downloading
    assert (first / "summary.md").exists() and (first / "gradcam" / "sanity.json").exists()
    ensemble = json.loads((first / "ensemble" / "metrics.json").read_text())
    assert ensemble["members"] == ["cnn_baseline", "mobilenet_v2"]
    shifts = pd.read_csv(first / "robustness_summary.csv")
    assert set(shifts["run"]) == {"cnn_baseline", "mobilenet_v2"}
    assert set(shifts["split"]) == {"val", "test"}
    shortcuts = pd.read_csv(first / "gradcam" / "shortcuts.csv")
    assert set(shortcuts["model"]) == {"cnn_baseline", "mobilenet_v2"}
    executed = json.loads((first / "notebooks" / "05_results_analysis.ipynb").read_text())
    text = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in executed["cells"]
                   for o in c.get("outputs", []))
    assert "Best single model, chosen on validation" in text  # the discussion is written from this run's numbers
    for name in NOTEBOOKS:  # quiet logs: no progress bars, no TensorFlow start-up lines
        raw = (first / "notebooks" / f"{name}.ipynb").read_text()
        cells = json.loads(raw)["cells"]
        text = sum(len("".join(o.get("text", ""))) + len("".join(o.get("data", {}).get("text/plain", "")))
                   for c in cells for o in c.get("outputs", []))
        assert text < 100_000, f"{name}: {text} characters of text output"
        assert "cuInit" not in raw and "\\b\\b\\b" not in raw and "IProgress" not in raw, name
        # the notebooks ran in a staging folder; they name the folder they were swapped into
        assert ".partial-" not in raw and str(first.resolve()) in raw, name

    # the second job meets a truncated JPEG in val: left out and named, the job goes on
    victim = sorted((tmp_path / "runs" / "demo-data" / "chest_xray" / "val" / "NORMAL").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    messages.clear()
    second, _ = main_job(None, None, {"backbones": ["mobilenet_v2"]}, log=messages.append)
    assert any("1/5 01_data_exploration" in m and "ETA" in m for m in messages)  # estimated from the first job
    assert victim.name in (second / "notebooks" / "01_data_exploration.ipynb").read_text()
    assert second != first and (second / "mobilenet_v2" / "metrics.json").exists()
    assert (first / "mobilenet_v2" / "metrics.json").exists()  # the first job is intact
    assert _fingerprint(tmp_path / "results") == committed  # committed results untouched, byte for byte
    assert not [p for p in (tmp_path / "runs").iterdir() if "partial" in p.name or "failed" in p.name]


def test_colab_simulation_runs_the_five_notebooks(tmp_path, monkeypatch):
    """Colab as a new user meets it: ``google.colab`` importable, no data folder, no PNEUMONET_DATA; each
    notebook's setup cell must find the data through kagglehub (a stand-in serving a local copy nested as
    Kaggle's zip nests it)."""
    papermill = pytest.importorskip("papermill")
    stubs = tmp_path / "stubs"
    (stubs / "google" / "colab").mkdir(parents=True)
    # no google/__init__.py: a namespace package, so google.protobuf (TensorFlow's) is still found beside it
    (stubs / "google" / "colab" / "__init__.py").write_text('"""Stand-in for the module Colab provides."""\n')
    (stubs / "sitecustomize.py").write_text("import google.colab  # a Colab kernel starts with it imported\n")
    write_synthetic_dataset(tmp_path / "kaggle" / "chest_xray" / "chest_xray", image_size=64)
    calls = tmp_path / "kagglehub_calls.txt"
    (stubs / "kagglehub.py").write_text(
        "def dataset_download(handle):\n"
        f"    with open({str(calls)!r}, 'a') as log:\n"
        "        log.write(handle + '\\n')\n"
        f"    return {str(tmp_path / 'kaggle')!r}\n")
    probe = socket.create_server(("127.0.0.1", 0))  # "Kaggle is reachable"
    monkeypatch.setenv("PNEUMONET_KAGGLE_PROBE", f"127.0.0.1:{probe.getsockname()[1]}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(stubs), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("PNEUMONET_DATA", raising=False)
    results = tmp_path / "colab_results"
    try:
        for name in NOTEBOOKS:
            papermill.execute_notebook(str(notebooks_dir() / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                       parameters={"results_dir": str(results), "smoke": True,
                                                   "backbones": ["mobilenet_v2"],
                                                   # off by default on the cpu profile; a GPU Colab trains it
                                                   **({"three_classes": True} if name.startswith("03") else {})},
                                       cwd=str(notebooks_dir()), progress_bar=False, kernel_name="python3",
                                       extra_arguments=KERNEL_ARGUMENTS)
    finally:
        probe.close()
    assert calls.read_text().splitlines() == [KAGGLE_DATASET] * len(NOTEBOOKS)  # every notebook resolved it
    first = (tmp_path / "01_data_exploration.ipynb").read_text()
    assert str(tmp_path / "kaggle" / "chest_xray" / "chest_xray") in first  # the nested folder was found
    for run in ("cnn_baseline", "mobilenet_v2", "densenet121_3class", "ensemble", "stack"):
        assert json.loads((results / run / "metrics.json").read_text())["threshold_chosen_on"] == "val"
    # notebook 03's three-class model: its own figure, its table in the summary, and a member of the ensemble
    assert (results / "densenet121_3class" / "figures" / "subtypes.png").exists()
    assert "Three classes" in (results / "summary.md").read_text()
    assert "densenet121_3class" in json.loads((results / "ensemble" / "metrics.json").read_text())["members"]
