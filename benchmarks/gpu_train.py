"""Two-phase training throughput per backbone, precision and device count: pneumonet's feeds against arrays.

    python benchmarks/gpu_train.py [--images 2048] [--backbones resnet50 densenet121] [--image-size 224]
        [--precision float32 mixed_bfloat16] [--devices 1 all] [--batch 64] [--epochs 5]

For every backbone x precision x devices (``pneumonet.scaling.scaled``: the dtype policy and, for more than
one device, data parallelism: ``keras.distribution.DataParallel`` on JAX, ``MirroredStrategy`` on TensorFlow):
  - phase 1, in-memory arrays: backbone frozen, ``model.fit`` on the uint8 images held in memory;
  - phase 1, pneumonet (cached activations): ``train_two_phase`` with head epochs only: one pass through the
    frozen layers, then the head on the cached activations; images x epochs over the whole wall time (tracing
    included), so it is what a user waits for;
  - phase 2, in-memory arrays: the gpu profile's fine-tuning depth unfrozen, ``model.fit`` on the uint8 images
    (what ``train_two_phase`` feeds when it cannot cache);
  - phase 2, pneumonet's pipeline: the same through the fast pipeline's ``ArrayDataset`` (a ``PyDataset``:
    shuffled batches of the uint8 cache, cast to float32, fetched by worker threads).
The ratio column divides each rate by the in-memory rate of the same phase and setting (below 1: the feed
costs; above 1: caching saves). Images are random and weights random: neither changes the cost. Keep
``--images`` a multiple of ``--batch`` and ``--batch`` a multiple of the device count (JAX shards every batch).
Steady-state rates exclude the first epoch (compilation): ``gpu_finetune.timed_fit``.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _common import machine  # noqa: E402
from gpu_finetune import timed_fit  # noqa: E402
from pneumonet.lineup import reference_lineup  # noqa: E402
from pneumonet.models import build_model, freeze_backbone, unfreeze  # noqa: E402
from pneumonet.pipelines import ArrayDataset  # noqa: E402
from pneumonet.scaling import PRECISIONS, scaled  # noqa: E402
from pneumonet.training import TrainConfig, compile_for, train_two_phase  # noqa: E402


def finetune_depth(backbone):
    """Layers unfrozen in phase 2 by the gpu profile's line-up."""
    depths = {e.backbone: e.train.unfreeze_last for e in reference_lineup("gpu", weights=None)}
    if backbone not in depths:
        raise ValueError(f"backbone must be one of the gpu line-up's {sorted(depths)}. Received: backbone={backbone!r}")
    return depths[backbone]


def measure(backbone, args, images, labels):
    """{(phase, feed): images/s} for one setting (the caller holds the ``scaled`` block)."""
    keras.utils.set_random_seed(0)
    model = build_model(backbone, image_size=args.image_size)
    steps, raw, rates = len(images) // args.batch, images[..., None], {}

    freeze_backbone(model)
    compile_for(model, 1e-3)
    rates[1, "in-memory arrays"] = timed_fit(model, raw, steps, args.batch, y=labels)
    config = TrainConfig(epochs_head=args.epochs, epochs_finetune=0, batch_size=args.batch, patience=args.epochs + 1,
                         class_weight=None)
    start = time.perf_counter()
    train_two_phase(model, (images, labels), (images[:args.batch], labels[:args.batch]), config, verbose=0)
    rates[1, "pneumonet (cached activations)"] = len(images) * args.epochs / (time.perf_counter() - start)

    unfreeze(model, last=finetune_depth(backbone))
    compile_for(model, 1e-5)
    rates[2, "in-memory arrays"] = timed_fit(model, raw, steps, args.batch, y=labels)
    feed = ArrayDataset(images, labels, batch_size=args.batch, shuffle=True, workers=args.workers,
                        max_queue_size=4 * args.workers)
    rates[2, "pneumonet pipeline (ArrayDataset)"] = timed_fit(model, feed, steps, args.batch)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--backbones", nargs="+", default=["resnet50", "densenet121"])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--devices", nargs="+", default=["1", "all"], help="'all' or counts")
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--epochs", type=int, default=5, help="head epochs of the cached phase 1")
    parser.add_argument("--workers", type=int, default=8, help="threads of the pipeline")
    args = parser.parse_args()
    if args.images < args.batch or args.images % args.batch:
        parser.error(f"--images must be a positive multiple of --batch. Received: --images {args.images}, "
                     f"--batch {args.batch}")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.image_size, args.image_size), dtype=np.uint8)
    labels = rng.integers(0, 2, args.images).astype("float32")
    print(f"{args.images} random images at {args.image_size} px, global batch {args.batch}, random weights; "
          f"machine: {machine()}; devices Keras sees: {keras.distribution.list_devices()}")

    rows, seen = [], set()
    for backbone in args.backbones:
        for precision in args.precision:
            for devices in args.devices:
                with scaled(precision=precision, devices=devices if devices == "all" else int(devices)) as setup:
                    if (backbone, precision, setup.devices) in seen:  # "all" is one device on this machine
                        continue
                    seen.add((backbone, precision, setup.devices))
                    rates = measure(backbone, args, images, labels)
                for (phase, feed), rate in rates.items():
                    alone = rates[phase, "in-memory arrays"]
                    rows.append((backbone, precision, len(setup.devices), phase, feed, rate, rate / alone))

    print("\n| backbone | precision | devices | phase | feed | images/s | ratio to in-memory |\n"
          "|---|---|---:|---:|---|---:|---:|")
    for backbone, precision, count, phase, feed, rate, ratio in rows:
        print(f"| {backbone} | {precision} | {count} | {phase} | {feed} | {rate:,.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
