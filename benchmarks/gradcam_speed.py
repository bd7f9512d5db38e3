"""Grad-CAM of a batch of 32 images at 224 px (VGG16, block5_conv3) on this machine: seconds per batch.

    python benchmarks/gradcam_speed.py [--backbone vgg16 --size 224 --batch 32 --repeats 3]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import Timer, machine  # noqa: E402
from pneumonet.explain import gradcam  # noqa: E402
from pneumonet.models import build_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = build_model(args.backbone, image_size=args.size)
    images = np.random.default_rng(0).uniform(0, 255, (args.batch, args.size, args.size, 1)).astype("float32")
    gradcam(model, images[:2])  # warm-up (tracing)
    times = []
    for _ in range(args.repeats):
        with Timer() as t:
            gradcam(model, images, batch_size=args.batch)
        times.append(t.seconds)
    forward = []
    for _ in range(args.repeats):
        with Timer() as t:
            model.predict(images, batch_size=args.batch, verbose=0)
        forward.append(t.seconds)
    print(f"{args.backbone} at {args.size} px, batch {args.batch}; machine: {machine()}")
    print(f"Grad-CAM: {np.median(times):.2f} s per batch ({args.batch / np.median(times):.1f} images/s), "
          f"median of {args.repeats}; a plain forward pass: {np.median(forward):.2f} s "
          f"(Grad-CAM / forward = {np.median(times) / np.median(forward):.1f})")


if __name__ == "__main__":
    main()
