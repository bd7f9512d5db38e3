"""Where should geometric augmentation run? A frozen MobileNetV2 trained on uint8 arrays, one run, four designs:

  none       no augmentation (the ceiling)
  photometric   Keras' RandomBrightness + RandomContrast in front of the model
  cpu_warp   pneumonet's fast pipeline: one affine warp + brightness per image on the CPU, PyDataset threads
  device_warp   the same recipe inside the model (AffineAugment: one batched gather), uint8 batches from
                the PyDataset
  device_warp_arrays   the same model, fed the uint8 array directly by Keras (shuffled): no PyDataset
  keras_geo  Keras' RandomRotation + RandomZoom + RandomTranslation layers inside the model

    KERAS_BACKEND=jax python benchmarks/augmentation_designs.py [--size 224 --batch 128 --steps 40]

Prints images/s per design and its ratio to "none". Images are synthetic uint8 (content does not change cost).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _common import Uint8ArrayDataset, machine  # noqa: E402
from pneumonet.models import build_model, freeze_backbone  # noqa: E402
from pneumonet.pipelines import ArrayDataset, Augment  # noqa: E402
from pneumonet.training import compile_for  # noqa: E402


def with_keras_photometric(model, size):
    inputs = keras.Input((size, size, 1))
    x = keras.layers.RandomBrightness(0.1, value_range=(0, 255))(inputs)
    x = keras.layers.RandomContrast(0.1, value_range=(0, 255))(x)
    return keras.Model(inputs, model(x))


def with_keras_geometry(model, size):
    inputs = keras.Input((size, size, 1))
    x = keras.layers.RandomRotation(10 / 360)(inputs)
    x = keras.layers.RandomZoom(0.1)(x)
    x = keras.layers.RandomTranslation(0.1, 0.1)(x)
    return keras.Model(inputs, model(x))


def throughput(model, data, y, batch, steps, epochs=3, shuffle=False):
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(data, y, batch_size=None if y is None else batch, epochs=1, verbose=0, shuffle=shuffle)
        seconds.append(time.perf_counter() - start)
    return steps * batch / np.median(seconds[1:])  # the first epoch compiles


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=12)
    args = parser.parse_args()
    n = args.batch * args.steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, args.size, args.size), dtype=np.uint8)
    labels = rng.integers(0, 2, n).astype("float32")
    x = images[..., None].astype("float32")
    print(f"frozen MobileNetV2 at {args.size} px, batch {args.batch}, {args.steps} steps; machine: {machine()}")
    results = {}
    model = freeze_backbone(build_model("mobilenet_v2", image_size=args.size))
    compile_for(model, 1e-3)
    results["none"] = throughput(model, x, labels, args.batch, args.steps)
    photometric = with_keras_photometric(model, args.size)
    compile_for(photometric, 1e-3)
    results["photometric"] = throughput(photometric, x, labels, args.batch, args.steps)
    data = ArrayDataset(images, labels, batch_size=args.batch, shuffle=True, augment=Augment(),
                        workers=args.workers, max_queue_size=4 * args.workers)
    results["cpu_warp"] = throughput(model, data, None, args.batch, args.steps)
    device = freeze_backbone(build_model("mobilenet_v2", image_size=args.size, augment=Augment()))
    compile_for(device, 1e-3)
    feed = Uint8ArrayDataset(images, labels, batch_size=args.batch, shuffle=True, workers=args.workers,
                             max_queue_size=4 * args.workers)
    results["device_warp"] = throughput(device, feed, None, args.batch, args.steps)
    results["device_warp_arrays"] = throughput(device, images[..., None], labels, args.batch, args.steps,
                                               shuffle=True)
    geo = with_keras_geometry(model, args.size)
    compile_for(geo, 1e-3)
    results["keras_geo"] = throughput(geo, x, labels, args.batch, args.steps)
    print("\n| design | images/s | ratio to none |\n|---|---:|---:|")
    for name, value in results.items():
        print(f"| {name} | {value:,.0f} | {value / results['none']:.2f} |")


if __name__ == "__main__":
    main()
