"""The main job: run the five notebooks in order with papermill, on real data or, failing that, a demo."""

import os
import time
from pathlib import Path

from pneumonet.data.download import resolve_data_dir
from pneumonet.data.synthetic import is_synthetic, write_synthetic_dataset
from pneumonet.errors import DataUnavailableError
from pneumonet.io import write_json

NOTEBOOKS = ("01_data_exploration", "02_cnn_baseline", "03_transfer_learning", "04_gradcam",
             "05_results_analysis")
SMOKE_ENV = "PNEUMONET_SMOKE"


def notebooks_dir():
    return Path(__file__).resolve().parent.parent / "notebooks"


def run_notebooks(data_dir, results_dir, parameters=None, notebooks=NOTEBOOKS, kernel_name="python3", log=print):
    """Execute ``notebooks`` in order; executed copies go to ``results_dir/notebooks``. Returns timings."""
    import papermill

    results_dir = Path(results_dir)
    out_dir = results_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(Path(data_dir).resolve()), "results_dir": str(results_dir.resolve()),
              **(parameters or {})}
    for key in ("weights_dir", "cache_dir", "radimagenet_file"):  # notebooks run in notebooks/: absolute paths
        if params.get(key):
            params[key] = str(Path(params[key]).expanduser().resolve())
    timings = {}
    for name in notebooks:
        source = notebooks_dir() / f"{name}.ipynb"
        start = time.time()
        log(f"[pneumonet run] {name} ...")
        papermill.execute_notebook(str(source), str(out_dir / f"{name}.ipynb"), parameters=params,
                                   kernel_name=kernel_name, cwd=str(notebooks_dir()), progress_bar=False)
        timings[name] = round(time.time() - start, 1)
        log(f"[pneumonet run] {name} done in {timings[name]:.0f} s")
    write_json(results_dir / "timings.json", {"notebooks": timings, "total_seconds": round(sum(timings.values()), 1),
                                              "parameters": params})
    return timings


def main_job(data_dir=None, results_dir="results", parameters=None, download=False, log=print):
    """Real data when it can be found (argument, $PNEUMONET_DATA, data/chest_xray, kagglehub); else the demo.

    The demo writes a synthetic data set and its results under ``results/demo`` only, never beside real results.
    """
    parameters = dict(parameters or {})
    try:
        data = resolve_data_dir(data_dir, download=download)
    except DataUnavailableError as exc:
        if data_dir:  # a folder that was named but is missing is an error, not a reason for a demo
            raise
        log(f"[pneumonet run] no real data: {exc}\n[pneumonet run] running the DEMO on generated data instead; "
            "its results go to results/demo and mean nothing clinically.")
        demo = Path(results_dir) / "demo"
        data = write_synthetic_dataset(demo / "data" / "chest_xray", image_size=64)
        parameters.setdefault("smoke", True)
        return run_notebooks(data, demo, parameters, log=log)
    if is_synthetic(data) and Path(results_dir).name != "demo":
        results_dir = Path(results_dir) / "demo"
        log(f"[pneumonet run] {data} is synthetic: results go to {results_dir}")
    if os.environ.get(SMOKE_ENV):
        parameters.setdefault("smoke", True)
    return run_notebooks(data, results_dir, parameters, log=log)
