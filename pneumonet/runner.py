"""The main job: run the five notebooks in order with papermill, on real data or, failing that, a demo.

Each main job writes into a staging folder and swaps it in as its results folder only when every notebook has
run, so a failed or interrupted job never damages earlier results. By default every job gets a new folder,
``runs/main-<time>`` (``runs/demo-<time>`` for the demo, ``runs/smoke-<time>`` for a smoke run); the results
committed in ``results/`` are replaced only on purpose: ``--results results/main --overwrite``.
"""

import os
import time
from pathlib import Path

from pneumonet.data.download import resolve_data_dir
from pneumonet.data.synthetic import is_synthetic, write_synthetic_dataset
from pneumonet.errors import DataUnavailableError, PneumonetError
from pneumonet.io import failed_name, read_json, staged_dir, write_json
from pneumonet.progress import NotebookProgress, duration

NOTEBOOKS = ("01_data_exploration", "02_cnn_baseline", "03_transfer_learning", "04_gradcam",
             "05_results_analysis")
SMOKE_ENV = "PNEUMONET_SMOKE"
# The kernel's own log says nothing to a pneumonet user: start-up warnings (a local kernel on loopback), and on
# Ctrl-C a traceback from the reply it could not send to the closing papermill. A cell's error is in the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
RUNS_ROOT = "runs"


class NotebookFailed(PneumonetError):
    """A notebook of the main job raised; ``notebook`` names it, the executed copy shows the traceback."""

    def __init__(self, notebook, error):
        self.notebook = notebook
        self.where = None  # set by main_job: the folder that keeps the executed notebooks
        # Ctrl-C reaches papermill (KeyboardInterrupt) or, first, the kernel's running cell (ename); SIGTERM reaches
        # papermill as KeyboardInterrupt("SIGTERM") (the command line's main)
        self.interrupted = isinstance(error, KeyboardInterrupt) or getattr(error, "ename", "") == "KeyboardInterrupt"
        if self.interrupted:
            how = str(error) if isinstance(error, KeyboardInterrupt) and str(error) else "Ctrl-C"
            reason = f" was interrupted ({how})"
        elif not hasattr(error, "ename"):  # nbclient's DeadKernelError: killed, or out of memory; no cell raised
            reason = ": its kernel died (killed, or out of memory)"
        else:
            reason = (f" failed in cell {error.exec_count}: {error.ename}: "
                      f"{str(error.evalue).splitlines()[0] if error.evalue else ''}")
        super().__init__(f"notebook {notebook}{reason}")

    def __str__(self):
        kept = f" (executed notebooks kept in {self.where})" if self.where else ""
        return super().__str__() + kept


def notebooks_dir():
    """The repository's ``notebooks/`` folder (the notebooks run with it as their working folder)."""
    return Path(__file__).resolve().parent.parent / "notebooks"


def new_job_dir(root=RUNS_ROOT, kind="main"):
    """A folder name no earlier job used: ``root/<kind>-<YYYYmmdd-HHMMSS>`` (a suffix if that one is taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, n = Path(root) / f"{kind}-{stamp}", 1
    while candidate.exists():
        n += 1
        candidate = Path(root) / f"{kind}-{stamp}-{n}"
    return candidate


def earlier_timings(smoke, data_dir=None, roots=(RUNS_ROOT, "results")):
    """``{notebook: seconds}`` of the latest finished job under ``roots`` run with the same ``smoke`` setting, and
    for a smoke job on the same data folder when ``data_dir`` is given (a demo's minutes say nothing of real data;
    a real job takes any earlier real one); ``{}`` when there is none: the basis of ``pneumonet run``'s estimates."""
    data_dir = data_dir if smoke else None
    found = []
    for root in roots:
        for path in Path(root).glob("*/timings.json"):
            try:
                record = read_json(path)
            except (OSError, ValueError):
                continue
            parameters = record.get("parameters", {})
            if bool(parameters.get("smoke")) == bool(smoke) and data_dir in (None, parameters.get("data_dir")):
                found.append((path.stat().st_mtime, record.get("notebooks", {})))
    return max(found, key=lambda item: item[0])[1] if found else {}


def run_notebooks(data_dir, results_dir, parameters=None, notebooks=NOTEBOOKS, kernel_name="python3", log=print):
    """Execute ``notebooks`` in order; executed copies go to ``results_dir/notebooks``. Returns timings.

    ``log`` gets a line per notebook (elapsed time, and the time left estimated from the latest earlier job with
    the same smoke setting) and the notebooks' own progress lines (model i/n, epoch lines with ETAs).
    """
    import papermill
    from nbclient.exceptions import DeadKernelError  # papermill's executor

    results_dir = Path(results_dir)
    out_dir = results_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(Path(data_dir).resolve()), "results_dir": str(results_dir.resolve()),
              **(parameters or {})}
    for key in ("weights_dir", "cache_dir", "radimagenet_file"):  # notebooks run in notebooks/: absolute paths
        if params.get(key):
            params[key] = str(Path(params[key]).expanduser().resolve())
    timings, job_start = {}, time.time()
    before = earlier_timings(params.get("smoke"), params["data_dir"])
    for index, name in enumerate(notebooks):
        source = notebooks_dir() / f"{name}.ipynb"
        start = time.time()
        left = sum(before.get(n, 0) for n in notebooks[index:]) if all(n in before for n in notebooks) else None
        log(f"[pneumonet run] {index + 1}/{len(notebooks)} {name}; job elapsed {duration(start - job_start)}"
            + (f", ETA {duration(left)} (as the latest earlier job)" if left is not None else ""))
        try:
            papermill.execute_notebook(str(source), str(out_dir / f"{name}.ipynb"), parameters=params,
                                       kernel_name=kernel_name, cwd=str(notebooks_dir()), progress_bar=False,
                                       extra_arguments=KERNEL_ARGUMENTS,
                                       stdout_file=NotebookProgress(log, f"[pneumonet run]   {name[:2]}"))
        except (papermill.PapermillExecutionError, DeadKernelError, KeyboardInterrupt) as exc:
            raise NotebookFailed(name, exc) from None
        timings[name] = round(time.time() - start, 1)
        log(f"[pneumonet run] {name} done in {duration(timings[name])}")
    write_json(results_dir / "timings.json", {"notebooks": timings, "total_seconds": round(sum(timings.values()), 1),
                                              "parameters": {k: v for k, v in params.items() if k != "results_dir"}})
    return timings


def name_final_folder(notebooks, staging, final):
    """Write ``final`` where the executed notebooks in ``notebooks`` name the ``staging`` folder they ran in (their
    parameters, the setup line, papermill's metadata), so a reader sees the folder the results are swapped into."""
    staging, final = Path(staging), Path(final)
    for path in Path(notebooks).glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        for before, after in ((staging.resolve(), final.resolve()), (staging, final)):
            text = text.replace(str(before), str(after))
        path.write_text(text, encoding="utf-8")


def main_job(data_dir=None, results_dir=None, parameters=None, download=False, overwrite=False, log=print):
    """Real data when it can be found (argument, $PNEUMONET_DATA, data/chest_xray, kagglehub); else the demo.

    Results go to ``results_dir`` (default: a new ``runs/main-<time>``), swapped in only when the whole job has
    run; an existing ``results_dir`` with results in it is replaced only with ``overwrite=True``. The demo's
    synthetic data and results never land beside real ones, nor does a smoke run's (both go to a ``demo`` or
    ``smoke`` subfolder of a ``results_dir`` not named so). Returns ``(results folder, timings)``.
    """
    parameters = dict(parameters or {})
    try:
        data = resolve_data_dir(data_dir, download=download)
    except DataUnavailableError as exc:
        if data_dir:  # a folder that was named but is missing is an error, not a reason for a demo
            raise
        log(f"[pneumonet run] no real data: {exc}\n[pneumonet run] running the DEMO on generated data instead; "
            "its results mean nothing clinically.")
        data = Path(RUNS_ROOT) / "demo-data" / "chest_xray"
        if not is_synthetic(data):
            write_synthetic_dataset(data, image_size=64)
    demo = is_synthetic(data)
    if demo or os.environ.get(SMOKE_ENV):
        parameters.setdefault("smoke", True)
    kind = "demo" if demo else "smoke" if parameters.get("smoke") else "main"
    if kind == "smoke":
        log("[pneumonet run] SMOKE run: tiny images, one epoch, no pretrained weights; it checks that everything "
            "runs, and its numbers mean nothing.")
    if results_dir is None:
        results_dir = new_job_dir(kind=kind)
    elif kind != "main" and kind not in Path(results_dir).name:  # never in place of real results
        results_dir = Path(results_dir) / kind
        log(f"[pneumonet run] a {kind} run: results go to {results_dir}")
    results_dir = Path(results_dir)
    log(f"[pneumonet run] results will be in {results_dir} once every notebook has run")
    with staged_dir(results_dir, overwrite=overwrite) as staging:
        try:
            timings = run_notebooks(data, staging, parameters, log=log)
        except NotebookFailed as exc:
            exc.where = failed_name(staging)
            raise
        name_final_folder(staging / "notebooks", staging, results_dir)
    log(f"[pneumonet run] results in {results_dir}")
    return results_dir, timings
