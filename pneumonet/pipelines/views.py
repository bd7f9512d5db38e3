"""Augmented views computed once, so that cached-activation training still sees augmented images.

Augmenting every epoch makes the frozen backbone run every epoch: on a 2-core CPU that is the whole budget.
Instead, ``add_views`` appends K augmented copies of the training images (geometric ``Augment`` plus the
photometric changes of another hospital's scanner: exposure, gamma, contrast, blur, noise), drawn once from a
seed; the frozen layers then run once over the (K + 1) x N images and both phases train on cached activations.
"""

import dataclasses

import cv2
import numpy as np

from pneumonet.pipelines.augment import Augment


@dataclasses.dataclass(frozen=True)
class Photometric:
    """Random acquisition changes of a uint8 radiograph; each range is drawn uniformly per image.

    gamma and contrast are factors (contrast scales around the image mean); blur is the largest Gaussian sigma
    in pixels, applied to ``blur_p`` of the images; noise is the largest Gaussian standard deviation in grey
    levels. Exposure is ``Augment.brightness``.
    """

    gamma: tuple = (0.7, 1.4)
    contrast: tuple = (0.7, 1.3)
    blur: float = 1.5
    blur_p: float = 0.3
    noise: float = 8.0

    def apply(self, image, rng):
        """One uint8 H x W image changed at random; returns uint8 H x W."""
        x = image.astype(np.float32) / 255.0
        x = np.power(x, rng.uniform(*self.gamma))
        mean = x.mean()
        x = (x - mean) * rng.uniform(*self.contrast) + mean
        if self.blur > 0 and rng.random() < self.blur_p:
            x = cv2.GaussianBlur(x, (0, 0), sigmaX=rng.uniform(0.3, self.blur))
        if self.noise > 0:
            x = x + rng.normal(0.0, rng.uniform(0, self.noise) / 255.0, x.shape).astype(np.float32)
        return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def augmented_views(images, k, augment=None, photometric=None, seed=0):
    """``k`` augmented copies of uint8 (N, H, W) images, stacked view after view: (k * N, H, W)."""
    augment = augment or Augment()
    photometric = photometric or Photometric()
    rng = np.random.default_rng([seed, 7919])  # its own stream: the training order's generator is untouched
    views = []
    for _ in range(k):
        geometric = augment.apply_batch(images, rng)
        views.append(np.stack([photometric.apply(image, rng) for image in geometric]))
    return np.concatenate(views) if views else images[:0]


def add_views(images, labels, k, seed=0, augment=None, photometric=None):
    """The clean images followed by ``k`` augmented views of them, and the labels repeated to match."""
    if k <= 0:
        return images, labels
    views = augmented_views(images, k, augment, photometric, seed)
    return np.concatenate([images, views]), np.concatenate([labels] * (k + 1))
