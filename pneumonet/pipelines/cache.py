"""Decode each image once, in parallel, into a uint8 array cached on disk.

The cache key covers the file list (paths, sizes, modification times), the image size and the format version,
so a changed file or size decodes again and a re-run reads the array back in about a second.
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm  # plain text: no widget warnings in notebooks

from pneumonet.data.images import load_image
from pneumonet.errors import ImageLoadError
from pneumonet.io import atomic_path, read_json, write_json

CACHE_ENV = "PNEUMONET_CACHE"
_FORMAT = 1


def default_cache_dir():
    """Where decoded images are cached: ``$PNEUMONET_CACHE`` or ``~/.cache/pneumonet``."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "pneumonet"))


def cache_key(paths, image_size):
    """A key that changes when any file (path, size, modification time), the image size or the cache format does."""
    stats = []
    for path in paths:
        try:
            st = os.stat(path)
            stats.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((str(path), -1, -1))
    blob = json.dumps([_FORMAT, list(image_size), stats]).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def decode_images(paths, image_size, n_jobs=None, progress=True):
    """Decode ``paths`` to uint8 (N, H, W); unreadable files become zeros and are returned in ``errors``."""
    paths = [str(p) for p in paths]
    images = np.zeros((len(paths), *image_size), dtype=np.uint8)
    errors = {}

    def one(index):
        try:
            images[index] = load_image(paths[index], image_size)
        except ImageLoadError as exc:
            errors[paths[index]] = exc.reason

    # Pillow releases the GIL while decoding, so threads use every core without pickling arrays around
    with ThreadPoolExecutor(max_workers=n_jobs or min(8, (os.cpu_count() or 1) * 2)) as pool:
        for _ in tqdm(pool.map(one, range(len(paths))), total=len(paths), desc=f"decode {image_size[0]}px",
                      disable=not progress, leave=False, mininterval=10):
            pass
    return images, errors


def cached_images(paths, image_size, cache_dir=None, n_jobs=None, progress=True):
    """Return (images uint8 (N, H, W), errors {path: reason}), decoding only on a cache miss."""
    image_size = tuple(int(s) for s in image_size)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(paths, image_size)
    array_path = cache_dir / f"images-{image_size[0]}x{image_size[1]}-{key}.npy"
    errors_path = array_path.with_suffix(".errors.json")
    if array_path.exists() and errors_path.exists():
        try:
            images = np.load(array_path, allow_pickle=False)  # never unpickle: the cache may be shared
            errors = read_json(errors_path)
        except (OSError, ValueError, EOFError):  # empty, truncated or damaged (a full disk, a killed copy): again
            images = errors = None
        if images is not None and images.shape == (len(paths), *image_size) and isinstance(errors, dict):
            return images, errors
    images, errors = decode_images(paths, image_size, n_jobs=n_jobs, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(array_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, images, allow_pickle=False)
    write_json(errors_path, errors)
    return images, errors
