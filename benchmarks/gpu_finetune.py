"""Two-phase VGG16 fine-tuning throughput on an accelerator, pipeline included, against the model alone.

    KERAS_BACKEND=jax python benchmarks/gpu_finetune.py --data DIR [--bf16] [--batch 64] [--steps 60]

For each phase (1: backbone frozen; 2: last 4 layers unfrozen) it times, in one run:
  - model alone: ``model.fit`` on one pre-built float32 array in memory (no augmentation, no pipeline);
  - end to end, CPU augmentation: the fast pipeline (shuffled uint8 cache -> affine warp + brightness per image
    on the CPU -> float batches) with Keras' PyDataset worker threads;
  - end to end, device augmentation: shuffled uint8 batches (from the PyDataset, or the cached uint8 array
    handed to ``model.fit`` directly) and the same recipe inside the model (``AffineAugment``, one gather);
and prints images/s and the share of time each pipeline costs against the model alone. Weights are random: the values do not
change the cost. The first epoch (compilation) is excluded from every timing.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _common import Uint8ArrayDataset, machine  # noqa: E402
from pneumonet.data import build_catalog  # noqa: E402
from pneumonet.models import build_model, freeze_backbone, unfreeze  # noqa: E402
from pneumonet.pipelines import ArrayDataset, Augment, cached_images  # noqa: E402
from pneumonet.training import compile_for  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.last = time.perf_counter() - self.start


def timed_fit(model, data, steps, batch, epochs=3, y=None, shuffle=False):
    timer = StepTimer()
    seconds = []
    for _ in range(epochs):
        model.fit(data, y, batch_size=None if y is None else batch, epochs=1, verbose=0, callbacks=[timer],
                  shuffle=shuffle)
        seconds.append(timer.last)
    return steps * batch / np.median(seconds[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60, help="batches per timed epoch")
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--bf16", action="store_true", help="mixed precision (bfloat16 compute)")
    parser.add_argument("--cache-dir", default="/tmp/pneumonet-cache")
    args = parser.parse_args()
    if args.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    catalog = build_catalog(args.data, splits=("train",))
    start = time.perf_counter()
    images, errors = cached_images(catalog["path"], (args.size, args.size), cache_dir=args.cache_dir,
                                   progress=False, n_jobs=os.cpu_count())
    decode = time.perf_counter() - start
    labels = catalog["label"].to_numpy().astype("float32")
    n = args.steps * args.batch
    reps = int(np.ceil(n / len(images)))
    images, labels = np.concatenate([images] * reps)[:n], np.concatenate([labels] * reps)[:n]
    print(f"VGG16 at {args.size} px, batch {args.batch}, {args.steps} steps per epoch, "
          f"{'bf16 mixed' if args.bf16 else 'float32'}; decode {len(catalog)} images once: {decode:.1f} s; "
          f"machine: {machine()}")
    try:
        import jax

        print("devices:", jax.devices())
    except ImportError:
        pass

    model = build_model("vgg16", head="gap_dense_dropout", weights=None, image_size=args.size)
    augmenting = build_model("vgg16", head="gap_dense_dropout", weights=None, image_size=args.size,
                             augment=Augment())
    in_memory = images[..., None].astype("float32")
    raw = images[..., None]  # uint8: the cache itself, 4x fewer bytes per batch than float32
    rows = []
    for phase in (1, 2):
        for m in (model, augmenting):
            freeze_backbone(m) if phase == 1 else unfreeze(m, last=4)
            compile_for(m, 1e-3 if phase == 1 else 1e-5)

        def feed(uint8=False, **kwargs):
            kind = Uint8ArrayDataset if uint8 else ArrayDataset
            return kind(images, labels, batch_size=args.batch, shuffle=True, workers=args.workers,
                        max_queue_size=4 * args.workers, **kwargs)

        alone = timed_fit(model, in_memory, args.steps, args.batch, y=labels)
        designs = {
            "CPU augmentation, PyDataset threads": timed_fit(model, feed(augment=Augment()), args.steps, args.batch),
            "device augmentation, PyDataset uint8 batches": timed_fit(augmenting, feed(uint8=True), args.steps,
                                                                      args.batch),
            "device augmentation, uint8 array fed by Keras": timed_fit(augmenting, raw, args.steps, args.batch,
                                                                       y=labels, shuffle=True),
            "(diagnostic) no augmentation, PyDataset uint8 batches": timed_fit(model, feed(uint8=True),
                                                                             args.steps, args.batch),
        }
        rows.append((phase, alone, designs))

    print("\n| phase | pipeline | images/s | model alone (in-memory float32) | pipeline cost |\n"
          "|---|---|---:|---:|---:|")
    for phase, alone, designs in rows:
        for name, rate in designs.items():
            print(f"| {phase} | {name} | {rate:,.0f} | {alone:,.0f} | {100 * (1 - rate / alone):.1f}% |")


if __name__ == "__main__":
    main()
