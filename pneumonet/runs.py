"""A run folder: its layout and its life cycle (claimed, created, written, read back). The one owner of both.

``results/<run>/``:

- ``metrics.json``: metrics with intervals, the threshold and how it was chosen, config, data fingerprint,
  environment (``write_run``)
- ``predictions.csv``: one row per validation and test image: label, P(PNEUMONIA), decision (``write_run``)
- ``model.keras``: the trained model with its threshold inside (``models.save_model``)
- ``history.csv`` and ``checkpoints/``: one row per epoch, and what resuming needs (``training.loop``); the
  checkpoints go once the run is finished (``finish_run``)
- ``figures/``: ``evaluation.png`` on test for every run (``write_run``); training curves and, for a three-class
  model, its confusion matrix (``experiment.write_figures``)
- ``MODEL_CARD.md``: what the run is and is not (``model_card``)
"""

import contextlib
import hashlib
import importlib.metadata
import os
import platform
import shutil
from pathlib import Path

from pneumonet.io import errors_name, read_json, save_figure, write_csv, write_json

METRICS, PREDICTIONS, MODEL, HISTORY = "metrics.json", "predictions.csv", "model.keras", "history.csv"
FIGURES, CHECKPOINTS, SIGNATURE, MODEL_CARD = "figures", "checkpoints", "signature.json", "MODEL_CARD.md"


def data_fingerprint(frame):
    """sha256 over (file name, size) of every image used: the same data give the same fingerprint anywhere."""
    digest = hashlib.sha256()
    for path in sorted(frame["path"]):
        size = Path(path).stat().st_size if Path(path).exists() else -1
        digest.update(f"{Path(path).parent.name}/{Path(path).name}:{size}\n".encode())
    return digest.hexdigest()[:16]


def environment():
    """Package versions, Keras backend, Python and machine: what a result was computed with."""
    versions = {}
    for package in ("keras", "tensorflow", "jax", "numpy", "scikit-learn", "pandas", "pneumonet"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    import keras

    return {"versions": versions, "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus"}


# what makes a run finished; replaced together, so that an interrupted replacement never mixes two runs
FINISHED = (METRICS, PREDICTIONS, MODEL, MODEL_CARD, FIGURES)


def check_run_name(name):
    """A run name is one folder inside the results folder: not empty, no path separators, not ``.`` or ``..``."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"a run name must be one folder name (no '/', not empty, not '.' or '..'). Received: "
                         f"name={name!r}")
    return name


def new_run_dir(results_root, name, overwrite=False, create=True, allow_interrupted=False):
    """``results_root/name`` (created unless ``create=False``); a finished run is never overwritten unless
    ``overwrite=True``, nor an interrupted training run (``checkpoints/``) unless ``allow_interrupted`` (training
    decides itself whether to resume it).

    Creating it with ``overwrite=True`` first removes the finished run's files (``FINISHED``): a replacement that
    is interrupted leaves its own partial run, which ``--resume`` continues, never a mix of the old and the new.
    """
    run_dir = Path(results_root) / check_run_name(name)
    if (run_dir / METRICS).exists() and not overwrite:
        raise FileExistsError(f"{run_dir} already holds a finished run; pass --overwrite (overwrite=True) to "
                              "replace it, or choose another run name")
    if (run_dir / CHECKPOINTS / "state.json").exists() and not (overwrite or allow_interrupted):
        raise FileExistsError(f"{run_dir} holds an interrupted training run; resume it (--resume) or choose "
                              "another run name")
    if create:
        if overwrite:
            for entry in FINISHED:
                _remove(run_dir / entry)
        (run_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    return run_dir


def finish_run(run_dir):
    """Once every ``FINISHED`` entry is written, remove ``checkpoints/``: it only serves to resume an unfinished
    run (last weights, optimizer state, the arguments' signature), its best weights are those in ``model.keras``,
    and it is about three quarters of a run folder's size (three copies of the weights, and the optimizer's)."""
    run_dir = Path(run_dir)
    if all((run_dir / entry).exists() for entry in FINISHED):
        _remove(run_dir / CHECKPOINTS)


def _remove(path):
    """Delete a file or a folder tree; nothing there is fine."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def claim_run(run_dir):
    """Hold ``run_dir`` for this process for the whole block: a second writer of the same run is refused.

    The claim is a lock file beside the folder, created exclusively (atomic on every file system); one left by a
    process that no longer runs (killed) is taken over.
    """
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = run_dir.with_name(f".{run_dir.name}.lock")
    for _ in range(2):
        try:
            with errors_name(run_dir, lock):  # an unwritable results folder: named, not the hidden lock file
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None and _alive(owner):
                raise FileExistsError(f"{run_dir} is being written by another pneumonet process (pid {owner}); "
                                      "wait for it to finish or choose another run name") from None
            lock.unlink(missing_ok=True)  # left by a killed process
    else:
        raise FileExistsError(f"cannot claim {run_dir}: {lock} keeps reappearing")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield run_dir
    finally:
        lock.unlink(missing_ok=True)


def _lock_owner(lock):
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_run(run_dir, name, predictions, evaluation, config, data_frame, seed=None, extra=None):
    """Write ``predictions.csv``, ``metrics.json`` (metrics, threshold, config, fingerprint, versions, seed) and
    ``figures/evaluation.png`` (``write_evaluation_figure``); return the record.

    ``predictions``: one row per image with ``label``, ``prob`` and ``subset`` (``val`` or ``test``).
    """
    run_dir = Path(run_dir)
    predictions = predictions.copy()
    predictions["decision"] = (predictions["prob"] >= evaluation["threshold"]).astype(int)
    write_csv(run_dir / PREDICTIONS, predictions)
    record = {"run": name, **evaluation, "config": config, "data_fingerprint": data_fingerprint(data_frame),
              "environment": environment(), "seed": seed, **(extra or {})}
    write_json(run_dir / METRICS, record)
    write_evaluation_figure(run_dir, name, predictions[predictions["subset"] == "test"], evaluation["threshold"])
    return record


def write_evaluation_figure(run_dir, name, test_predictions, threshold):
    """``figures/evaluation.png``: confusion matrix at ``threshold``, ROC, precision-recall and calibration on test
    (``plots.plot_evaluation``). Every kind of run gets it: trained, classical, ensemble, stack, TTA."""
    import matplotlib.pyplot as plt

    from pneumonet.plots import plot_evaluation

    drawn = plot_evaluation(test_predictions["label"], test_predictions["prob"], threshold, name)
    save_figure(drawn.figure_, Path(run_dir) / FIGURES / "evaluation.png")
    plt.close(drawn.figure_)  # written, not shown: a notebook shows the figures it asks for


def load_runs(results_root, skipped=None):
    """Every readable ``metrics.json`` below ``results_root`` (one level), by run name.

    A file that is truncated, not JSON, or lacks the test metrics is left out and, when ``skipped`` (a dict) is
    given, recorded there as path -> reason: one bad run never blocks the others.
    """
    runs = {}
    for path in sorted(Path(results_root).glob(f"*/{METRICS}")):
        try:
            record = read_json(path)
            missing = [key for key in ("test", "test_at_0.5", "threshold") if key not in record]
            if missing:
                raise ValueError(f"no {', '.join(missing)} in it")
            record["test"]["_meta"]["threshold"]
            for key in ("roc_auc", "accuracy", "sensitivity", "specificity"):  # what every summary table reads
                float(record["test"][key]["value"])
            float(record["threshold"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if skipped is not None:
                skipped[str(path)] = f"{type(exc).__name__}: {exc}"
            continue
        runs[path.parent.name] = record
    return runs
