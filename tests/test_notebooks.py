"""CI runs the five notebooks top to bottom in smoke mode on synthetic data and checks what they leave."""

import json

import pytest

from pneumonet.runner import NOTEBOOKS, main_job

pytestmark = pytest.mark.slow


def test_main_job_demo_runs_every_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/chest_xray here: the demo path
    monkeypatch.delenv("PNEUMONET_DATA", raising=False)
    messages = []
    timings = main_job(None, tmp_path / "results", {"backbones": ["vgg16", "mobilenet_v2", "resnet50"]},
                       log=messages.append)
    demo = tmp_path / "results" / "demo"
    assert any("DEMO" in m for m in messages)
    assert list(timings) == list(NOTEBOOKS)
    for name in NOTEBOOKS:
        executed = json.loads((demo / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, name
    for run in ("cnn_baseline", "vgg16", "mobilenet_v2"):
        metrics = json.loads((demo / run / "metrics.json").read_text())
        assert metrics["threshold_chosen_on"] == "val"
        assert (demo / run / "predictions.csv").exists() and (demo / run / "figures" / "evaluation.png").exists()
    skipped = json.loads((demo / "skipped.json").read_text())
    assert skipped == {}  # weights=None in smoke mode: nothing needs downloading
    assert (demo / "summary.md").exists() and (demo / "gradcam" / "sanity.json").exists()
    assert not (tmp_path / "results" / "cnn_baseline").exists()  # demo output never lands beside real results
