"""Phase 1 (frozen backbone, head only): 10 epochs on cached activations against 10 epochs through the frozen
backbone, same model, data and training loop, in one run; prints the ratio (target: at least 8x at 10 epochs).

    python benchmarks/fast_phase1.py [--backbone mobilenet_v2 --size 128 --images 1024 --epochs 10]

Rows:
- cached: ``train_two_phase`` as pneumonet runs it (one pass through the frozen layers, then head epochs);
- through the backbone: the same call with ``cache_activations=False`` (the same loop, uint8 arrays fed
  straight to the model): the comparison the target is about;
- keras-io style: a plain ``model.fit`` on the fast pipeline's ``ArrayDataset``, for context.
Images are synthetic and weights random: neither changes the cost. Each model is built after the same seed.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _common import Timer, machine  # noqa: E402
from pneumonet.models import build_model, freeze_backbone  # noqa: E402
from pneumonet.pipelines import ArrayDataset  # noqa: E402
from pneumonet.training import TrainConfig, compile_for, train_two_phase  # noqa: E402


def fresh_model(backbone, size):
    keras.utils.set_random_seed(0)
    return build_model(backbone, image_size=size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--skip-keras-fit", action="store_true", help="leave out the keras-io style row")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_val = args.images // 4
    images = rng.integers(0, 255, (args.images + n_val, args.size, args.size), dtype=np.uint8)
    labels = rng.integers(0, 2, len(images))
    train, val = (images[:args.images], labels[:args.images]), (images[args.images:], labels[args.images:])
    print(f"{args.backbone} at {args.size} px, {args.images} training + {n_val} validation images, "
          f"{args.epochs} head epochs, batch 32; machine: {machine()}")

    # patience above the epoch count: every run does all its epochs
    config = TrainConfig(epochs_head=args.epochs, epochs_finetune=0, patience=args.epochs + 1, class_weight=None)
    rows = {}
    with Timer() as rows["cached activations (one pass through the frozen layers + head epochs)"]:
        train_two_phase(fresh_model(args.backbone, args.size), train, val, config, verbose=0)
    with Timer() as rows["through the frozen backbone, same loop (cache_activations=False)"]:
        train_two_phase(fresh_model(args.backbone, args.size), train, val,
                        dataclasses.replace(config, cache_activations=False), verbose=0)
    if not args.skip_keras_fit:
        model = freeze_backbone(fresh_model(args.backbone, args.size))
        compile_for(model, config.lr_head)
        data = ArrayDataset(train[0], train[1].astype("float32"), batch_size=config.batch_size, shuffle=True)
        val_data = ArrayDataset(val[0], val[1].astype("float32"), batch_size=config.batch_size)
        with Timer() as rows["through the frozen backbone, plain model.fit on ArrayDataset (keras-io style)"]:
            model.fit(data, validation_data=val_data, epochs=args.epochs, verbose=0)

    print(f"\n| phase 1, {args.epochs} epochs | seconds |\n|---|---:|")
    for name, timer in rows.items():
        print(f"| {name} | {timer.seconds:.1f} |")
    cached, *others = [timer.seconds for timer in rows.values()]
    print(f"\nspeed-up against the same loop: {others[0] / cached:.1f}x")
    if len(others) > 1:
        print(f"speed-up against plain model.fit: {others[1] / cached:.1f}x")


if __name__ == "__main__":
    main()
