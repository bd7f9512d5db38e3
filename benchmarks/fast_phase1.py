"""Phase 1 (frozen backbone, head only): 10 epochs on cached features against 10 epochs through the frozen
backbone, same model and data, in one run; prints the ratio (target: at least 8x at 10 epochs).

    python benchmarks/fast_phase1.py [--backbone mobilenet_v2 --size 128 --images 1024 --epochs 10]

Images are synthetic (content does not change the cost); weights are random (values do not change the cost).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import Timer, machine  # noqa: E402
from pneumonet.models import build_model, freeze_backbone  # noqa: E402
from pneumonet.pipelines import ArrayDataset  # noqa: E402
from pneumonet.training import TrainConfig, compile_for, train_two_phase  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_val = args.images // 4
    images = rng.integers(0, 255, (args.images + n_val, args.size, args.size), dtype=np.uint8)
    labels = rng.integers(0, 2, len(images))
    train, val = (images[:args.images], labels[:args.images]), (images[args.images:], labels[args.images:])
    print(f"{args.backbone} at {args.size} px, {args.images} training + {n_val} validation images, "
          f"{args.epochs} head epochs; machine: {machine()}")

    config = TrainConfig(epochs_head=args.epochs, epochs_finetune=0, patience=args.epochs + 1, class_weight=None)
    model = build_model(args.backbone, image_size=args.size)
    with Timer() as cached:
        train_two_phase(model, train, val, config, verbose=0)

    model = build_model(args.backbone, image_size=args.size)
    freeze_backbone(model)
    compile_for(model, config.lr_head)
    data = ArrayDataset(train[0], train[1].astype("float32"), batch_size=config.batch_size, shuffle=True)
    val_data = ArrayDataset(val[0], val[1].astype("float32"), batch_size=config.batch_size)
    with Timer() as through:
        model.fit(data, validation_data=val_data, epochs=args.epochs, verbose=0)

    print(f"\n| phase 1, {args.epochs} epochs | seconds |\n|---|---:|")
    print(f"| through the frozen backbone | {through.seconds:.1f} |")
    print(f"| cached features (one backbone pass + head epochs) | {cached.seconds:.1f} |")
    print(f"\nspeed-up: {through.seconds / cached.seconds:.1f}x")


if __name__ == "__main__":
    main()
