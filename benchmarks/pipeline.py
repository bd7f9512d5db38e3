"""Images per second delivered as augmented 224 x 224 x 3 float batches (batch 32): ImageDataGenerator against
the fast pipeline (cold cache: decode included; warm cache: read back), side by side in one run.

    python benchmarks/pipeline.py --data ../shared/data/chest_xray [--batches 40]

Both apply the same augmentation recipe (``Augment()``: rotation, shift, shear, zoom, brightness) and VGG16's
``preprocess_input``, and yield float32 (32, 224, 224, 3) batches with labels, fetched by the same number of
threads (as Keras' PyDataset workers fetch them during ``fit``).
"""

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import Timer, machine  # noqa: E402
from pneumonet.data import build_catalog  # noqa: E402
from pneumonet.pipelines import ArrayDataset, Augment, cached_images  # noqa: E402


class RGBArrayDataset(ArrayDataset):
    """Batches as the classic pipeline serves them (three channels, the backbone's preprocessing applied), so
    the two pipelines are compared doing the same work."""

    def __init__(self, images, labels, preprocess, **kwargs):
        super().__init__(images, labels, **kwargs)
        self.preprocess = preprocess

    def __getitem__(self, index):
        pixels, rows = self.pixels(index)
        batch = np.repeat(pixels[..., None].astype(np.float32), 3, axis=-1)
        return self.preprocess(batch), self.labels[rows].astype(np.float32)


def preprocess(batch):
    import keras

    return keras.applications.vgg16.preprocess_input(batch)


def drain(dataset, batches, workers):
    """Fetch ``batches`` batches with ``workers`` threads, as Keras' PyDataset workers do during ``fit``."""
    seen = 0
    with ThreadPoolExecutor(workers) as pool:
        for x, y in pool.map(lambda i: dataset[i % len(dataset)], range(batches)):
            assert x.shape[1:] == (224, 224, 3) and x.dtype == np.float32
            seen += len(x)
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/chest_xray")
    parser.add_argument("--batches", type=int, default=40, help="batches timed for ImageDataGenerator")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="threads fetching batches (both)")
    args = parser.parse_args()
    catalog = build_catalog(args.data)
    train = catalog[catalog.split == "train"].reset_index(drop=True)
    size = (224, 224)
    print(f"data: {args.data} train split, {len(train)} images; {args.workers} fetching threads for both "
          f"pipelines; machine: {machine()}")

    from pneumonet.pipelines.classic import classic_flow

    flow = classic_flow(train, size, batch_size=32, augment=Augment(), preprocess=preprocess, color_mode="rgb")
    drain(flow, 2, args.workers)  # warm-up: imports, first file reads
    with Timer() as t:
        n = drain(flow, args.batches, args.workers)
    classic = n / t.seconds

    fast_batches = max(args.batches, len(train) // 32)
    with tempfile.TemporaryDirectory() as cache:
        with Timer() as t:
            images, _ = cached_images(train["path"], size, cache_dir=cache, progress=False)
            data = RGBArrayDataset(images, train["label"].to_numpy(), batch_size=32, shuffle=True,
                                   augment=Augment(), preprocess=preprocess)
            n = drain(data, fast_batches, args.workers)
        cold = n / t.seconds
        with Timer() as read_back:
            images, _ = cached_images(train["path"], size, cache_dir=cache, progress=False)
        data = RGBArrayDataset(images, train["label"].to_numpy(), batch_size=32, shuffle=True, augment=Augment(),
                               preprocess=preprocess)
        with Timer() as t:
            n = drain(data, fast_batches, args.workers)
        warm = n / t.seconds
        with_read_back = n / (t.seconds + read_back.seconds)

    print("\n| pipeline | images/s | ratio to ImageDataGenerator |\n|---|---:|---:|")
    print(f"| ImageDataGenerator (flow_from_dataframe) | {classic:,.0f} | 1.0 |")
    print(f"| fast, cold cache: first epoch, decoding included | {cold:,.0f} | {cold / classic:.1f} |")
    print(f"| fast, warm cache: first epoch, read-back included ({read_back.seconds:.1f} s) | {with_read_back:,.0f} "
          f"| {with_read_back / classic:.1f} |")
    print(f"| fast, warm cache: every epoch ({fast_batches} batches) | {warm:,.0f} | {warm / classic:.1f} |")


if __name__ == "__main__":
    main()
