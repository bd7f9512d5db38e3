"""One augmentation recipe, two implementations with the same semantics.

The classic pipeline hands it to ``ImageDataGenerator``; the fast pipeline applies it as one combined affine
warp per image on the CPU (OpenCV's SIMD ``warpAffine``, ~8x faster than Pillow's; Pillow when OpenCV is
missing), and ``pneumonet.models.layers.AffineAugment`` applies the same recipe inside a model on the device.
Keras' geometric augmentation layers are avoided: under JAX on a GPU they cost ~40x the model itself.
"""

import dataclasses

import numpy as np
from PIL import Image


@dataclasses.dataclass(frozen=True)
class Augment:
    """Random training transforms, in ``ImageDataGenerator`` units.

    rotation (degrees), shift (fraction of the side), shear (degrees), zoom (+-fraction), brightness (factor
    range). ``horizontal_flip`` is off by default: chest X-rays have a fixed orientation (heart on the left).
    Areas moved in from outside the image are filled with 0 (black film border) in both pipelines.
    """

    rotation: float = 10.0
    shift: float = 0.1
    shear: float = 5.0
    zoom: float = 0.1
    brightness: tuple = (0.85, 1.15)
    horizontal_flip: bool = False

    def idg_kwargs(self):
        """Arguments for ``ImageDataGenerator`` that mean the same as this recipe."""
        return dict(rotation_range=self.rotation, width_shift_range=self.shift, height_shift_range=self.shift,
                    shear_range=self.shear, zoom_range=self.zoom, brightness_range=list(self.brightness),
                    horizontal_flip=self.horizontal_flip, fill_mode="constant", cval=0.0)

    def sample_matrices(self, rng, n, height, width):
        """``n`` random 3 x 3 matrices (n, 3, 3), each mapping output pixel (x, y, 1) to input coordinates."""
        theta = np.radians(rng.uniform(-self.rotation, self.rotation, n))
        shear = np.radians(rng.uniform(-self.shear, self.shear, n))
        zx, zy = rng.uniform(1 - self.zoom, 1 + self.zoom, (2, n))
        tx, ty = rng.uniform(-self.shift, self.shift, (2, n)) * np.array([[width], [height]])
        if self.horizontal_flip:
            zx = zx * np.where(rng.random(n) < 0.5, -1.0, 1.0)
        (a00, a01, t0), (a10, a11, t1) = affine_rows(np.cos(theta), np.sin(theta), np.sin(shear), np.cos(shear),
                                                     zx, zy, tx, ty)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        matrices = np.zeros((n, 3, 3))
        # about the centre: x_in = A (x_out - c) + t + c
        matrices[:, 0] = np.stack([a00, a01, t0 + cx - a00 * cx - a01 * cy], 1)
        matrices[:, 1] = np.stack([a10, a11, t1 + cy - a10 * cx - a11 * cy], 1)
        matrices[:, 2, 2] = 1
        return matrices

    def apply_batch(self, images, rng):
        """Augment uint8 (N, H, W) images; returns uint8 (N, H, W) (parameters drawn at once).

        Brightness is applied in 8 bits with saturation at 255, as ImageDataGenerator does (through Pillow).
        """
        n, height, width = images.shape
        matrices = self.sample_matrices(rng, n, height, width)
        factors = rng.uniform(*self.brightness, n)
        out = np.empty_like(images)
        for i in range(n):
            out[i] = brighten(warp(images[i], matrices[i]), factors[i])
        return out


def affine_rows(cos, sin, sin_shear, cos_shear, zx, zy, tx, ty):
    """The affine map rotation @ shift @ shear @ zoom (``ImageDataGenerator``'s order) about the origin, as two
    rows ``(a00, a01, t0), (a10, a11, t1)``. Plain arithmetic, so numpy arrays (the CPU pipeline) and
    ``keras.ops`` tensors (``AffineAugment`` on the device) share this one formula."""
    a00, a01 = cos * zx, (-cos * sin_shear - sin * cos_shear) * zy
    a10, a11 = sin * zx, (-sin * sin_shear + cos * cos_shear) * zy
    return (a00, a01, cos * tx - sin * ty), (a10, a11, sin * tx + cos * ty)


try:  # OpenCV's warpAffine is ~8x faster than Pillow's affine transform at 224 px
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from the PyDataset's worker threads

    def warp(image, matrix):
        """Bilinear warp of a uint8 H x W image; ``matrix`` maps output pixels to input pixels; fill 0."""
        height, width = image.shape
        return cv2.warpAffine(image, matrix[:2], (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def brighten(image, factor):
        """uint8 ``image * factor``, rounded and saturated at 255."""
        return cv2.convertScaleAbs(image, alpha=float(factor))
except ImportError:  # pragma: no cover - the JAX-only minimal install
    def warp(image, matrix):
        """Bilinear warp of a uint8 H x W image; ``matrix`` maps output pixels to input pixels; fill 0."""
        height, width = image.shape
        return np.asarray(Image.fromarray(image).transform((width, height), Image.AFFINE,
                                                           data=tuple(matrix[:2].ravel()), resample=Image.BILINEAR,
                                                           fillcolor=0))

    def brighten(image, factor):
        """uint8 ``image * factor``, rounded and saturated at 255."""
        return np.clip(np.rint(image * float(factor)), 0, 255).astype(np.uint8)

