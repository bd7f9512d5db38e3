"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def _permissions(base):
    """``base`` (0o666 for a file, 0o777 for a folder) less the process umask: what ``open``/``mkdir`` would give.

    ``tempfile`` creates private files (0o600) and folders (0o700); results others should read must not stay so."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextlib.contextmanager
def errors_name(path, hidden=None):
    """An ``OSError`` of the block that names ``hidden`` (None: whatever it names), a temporary or lock file
    pneumonet made beside ``path``, is raised again naming ``path``: a user sees the file they named, never
    ``.name.x1y2.csv``."""
    try:
        yield
    except OSError as exc:
        named = {os.fspath(n) for n in (exc.filename, exc.filename2) if isinstance(n, (str, bytes, os.PathLike))}
        if exc.errno is None or hidden is not None and os.fspath(hidden) not in named:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc  # the errno's own subclass


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; move it over ``path`` only if the block succeeds. Errors about the
    temporary file name ``path`` (``errors_name``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with errors_name(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        with errors_name(path, tmp):
            yield Path(tmp)
            os.chmod(tmp, _permissions(0o666))
            os.replace(tmp, path)  # atomic on POSIX and Windows when on the same file system
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def staged_dir(final, overwrite=False):
    """Yield a fresh staging folder beside ``final``; swap it in as ``final`` only if the block succeeds.

    A failure leaves ``final`` exactly as it was and the staging folder, renamed ``failed_name(staging)``, for
    inspection. An existing, non-empty ``final`` is replaced only with ``overwrite=True``; this is checked before
    the work starts and again before the swap, so a long job never silently replaces a folder that appeared
    meanwhile.
    """
    final = Path(final)

    def refuse_if_taken():
        if final.exists() and any(final.iterdir()) and not overwrite:
            raise FileExistsError(f"{final} already holds results; pass --overwrite (overwrite=True) to replace "
                                  "them, or choose another folder")

    refuse_if_taken()
    final.parent.mkdir(parents=True, exist_ok=True)
    with errors_name(final):
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
        os.chmod(staging, _permissions(0o777))
    try:
        yield staging
        refuse_if_taken()
    except BaseException:
        os.replace(staging, failed_name(staging))
        raise
    retired = None
    if final.exists():  # a crash between these two renames leaves both folders on disk: nothing is lost
        retired = final.with_name(f".{final.name}.replaced-{os.getpid()}")
        os.replace(final, retired)
    os.replace(staging, final)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def failed_name(staging):
    """Where ``staged_dir`` keeps a staging folder whose block failed: ``<final>.failed-<id>`` beside it."""
    final_name, _, suffix = Path(staging).name[1:].partition(".partial-")
    return Path(staging).with_name(f"{final_name}.failed-{suffix}")


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (a reader never sees half a file); parent folders are created."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically (NumPy and pandas values converted)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv(path, frame, **kwargs):
    """Write ``frame`` as CSV to ``path`` atomically; ``kwargs`` go to ``DataFrame.to_csv`` (no index by default)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def save_figure(fig, path, dpi=120):
    """Save ``fig`` as a PNG at ``dpi`` to ``path`` atomically and return the path. The figure stays open, so a
    notebook still shows it below the cell."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)


def read_json(path):
    """The JSON object in ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value):
    # numpy scalars and arrays, paths: everything a metrics dict may hold
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")
