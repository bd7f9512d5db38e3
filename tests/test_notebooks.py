"""CI runs the five notebooks top to bottom in smoke mode on synthetic data and checks what they leave."""

import hashlib
import json
import shutil

import pandas as pd
import pytest

from pneumonet.runner import NOTEBOOKS, main_job
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
    first, timings = main_job(None, None, {"backbones": ["mobilenet_v2"]}, log=messages.append)
    assert any("DEMO" in m for m in messages)
    assert first.parent.name == "runs" and first.name.startswith("demo-")
    assert list(timings) == list(NOTEBOOKS)
    for name in NOTEBOOKS:
        executed = json.loads((first / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, name
    for run in ("cnn_baseline", "mobilenet_v2", "ensemble"):
        metrics = json.loads((first / run / "metrics.json").read_text())
        assert metrics["threshold_chosen_on"] == "val" and (first / run / "predictions.csv").exists()
    for run in ("cnn_baseline", "mobilenet_v2"):  # trained models also have their figures
        assert (first / run / "figures" / "evaluation.png").exists()
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

    # the second job meets a truncated JPEG in val: left out and named, the job goes on
    victim = sorted((tmp_path / "runs" / "demo-data" / "chest_xray" / "val" / "NORMAL").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    second, _ = main_job(None, None, {"backbones": ["mobilenet_v2"]}, log=messages.append)
    assert victim.name in (second / "notebooks" / "01_data_exploration.ipynb").read_text()
    assert second != first and (second / "mobilenet_v2" / "metrics.json").exists()
    assert (first / "mobilenet_v2" / "metrics.json").exists()  # the first job is intact
    assert _fingerprint(tmp_path / "results") == committed  # committed results untouched, byte for byte
    assert not [p for p in (tmp_path / "runs").iterdir() if "partial" in p.name or "failed" in p.name]
