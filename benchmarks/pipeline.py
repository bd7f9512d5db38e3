"""Images per second delivered as augmented 224 x 224 x 3 float batches (batch 32): ImageDataGenerator against
the fast pipeline (cold cache: decode included; warm cache: read back), side by side in one run.

    python benchmarks/pipeline.py --data ../shared/data/chest_xray [--batches 40]

Both apply the same augmentation recipe (``Augment()``: rotation, shift, shear, zoom, brightness) and VGG16's
``preprocess_input``, and yield float32 (32, 224, 224, 3) batches with labels.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import Timer, machine  # noqa: E402
from pneumonet.data import build_catalog  # noqa: E402
from pneumonet.pipelines import ArrayDataset, Augment, cached_images  # noqa: E402


def preprocess(batch):
    import keras

    return keras.applications.vgg16.preprocess_input(batch)


def drain(dataset, batches):
    seen = 0
    for index in range(batches):
        x, y = dataset[index % len(dataset)]
        assert x.shape[1:] == (224, 224, 3) and x.dtype == np.float32
        seen += len(x)
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/chest_xray")
    parser.add_argument("--batches", type=int, default=40, help="batches timed for ImageDataGenerator")
    args = parser.parse_args()
    catalog = build_catalog(args.data)
    train = catalog[catalog.split == "train"].reset_index(drop=True)
    size = (224, 224)
    print(f"data: {args.data} train split, {len(train)} images; machine: {machine()}")

    from pneumonet.pipelines.classic import classic_flow

    flow = classic_flow(train, size, batch_size=32, augment=Augment(), preprocess=preprocess, color_mode="rgb")
    drain(flow, 2)  # warm-up: imports, first file reads
    with Timer() as t:
        n = drain(flow, args.batches)
    classic = n / t.seconds

    fast_batches = max(args.batches, len(train) // 32)
    with tempfile.TemporaryDirectory() as cache:
        with Timer() as t:
            images, _ = cached_images(train["path"], size, cache_dir=cache, progress=False)
            data = ArrayDataset(images, train["label"].to_numpy(), batch_size=32, shuffle=True, augment=Augment(),
                                preprocess=preprocess, channels=3)
            n = drain(data, fast_batches)
        cold = n / t.seconds
        with Timer() as t:
            images, _ = cached_images(train["path"], size, cache_dir=cache, progress=False)
            data = ArrayDataset(images, train["label"].to_numpy(), batch_size=32, shuffle=True, augment=Augment(),
                                preprocess=preprocess, channels=3)
            n = drain(data, fast_batches)
        warm = n / t.seconds

    print(f"\n| pipeline | images/s | ratio to ImageDataGenerator |\n|---|---:|---:|")
    print(f"| ImageDataGenerator (flow_from_dataframe) | {classic:,.0f} | 1.0 |")
    print(f"| fast, cold cache (decode + {fast_batches} batches) | {cold:,.0f} | {cold / classic:.1f} |")
    print(f"| fast, warm cache (read back + {fast_batches} batches) | {warm:,.0f} | {warm / classic:.1f} |")


if __name__ == "__main__":
    main()
