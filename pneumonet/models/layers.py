"""Small serializable layers that make a pneumonet model self-contained (raw 0-255 pixels in, probability out).

Registered with Keras, so ``.keras`` files load in safe mode with no Lambda layer and no arbitrary code.
"""

import keras
from keras import ops

from pneumonet.pipelines.augment import affine_rows

# keras.applications preprocess_input modes, written with keras.ops so they run on every backend
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
PREPROCESS_MODES = ("caffe", "tf", "torch", "unit", "none")


def pixel_grid(height, width):
    """Column and row coordinates of every pixel, each (1, H*W) float32, row by row."""
    ys, xs = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij")
    return ops.reshape(xs, (1, -1)), ops.reshape(ys, (1, -1))


def bilinear_gather(x, src_x, src_y):
    """Bilinear samples of ``x`` (B, H, W, C), float, at source pixel coordinates ``src_x``, ``src_y`` (B, H*W):
    (B, H*W, C), 0 outside the image. One batched gather with ``keras.ops``, so it runs on every backend."""
    batch, height, width, channels = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    flat = ops.reshape(x, (batch, height * width, channels))
    x0, y0 = ops.floor(src_x), ops.floor(src_y)
    out = 0.0
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        xi, yi = x0 + dx, y0 + dy
        weight = (1 - ops.abs(src_x - xi)) * (1 - ops.abs(src_y - yi))
        inside = (xi >= 0) & (xi <= width - 1) & (yi >= 0) & (yi <= height - 1)
        index = ops.cast(ops.clip(yi, 0, height - 1) * width + ops.clip(xi, 0, width - 1), "int32")
        index = ops.repeat(ops.expand_dims(index, -1), channels, axis=-1)
        values = ops.take_along_axis(flat, index, axis=1)
        out = out + values * ops.expand_dims(weight * ops.cast(inside, "float32"), -1)
    return out


def seed_generator_of(layer):
    """The layer's ``SeedGenerator`` (dropout, augmentation: Keras' own layers and pneumonet's), or None."""
    generator = getattr(layer, "seed_generator", None)
    return generator if isinstance(generator, keras.random.SeedGenerator) else None


@keras.saving.register_keras_serializable(package="pneumonet")
class ToRGB(keras.layers.Layer):
    """Repeat a one-channel (grayscale) image to three channels; three-channel input passes through."""

    def call(self, inputs):
        if inputs.shape[-1] == 1:
            return ops.repeat(inputs, 3, axis=-1)
        return inputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="pneumonet")
class BorderMask(keras.layers.Layer):
    """Black out a band of ``band`` (a fraction of each side) along every edge of the image.

    Text markers, corner labels and collimation edges live there; on this data set they differ between sites and
    can become shortcuts. Masked inside the model, the band is gone in training, evaluation, the demo and every
    export alike. The lungs stay in the frame up to ``band`` of about 0.15.
    """

    def __init__(self, band=0.08, **kwargs):
        super().__init__(**kwargs)
        if not 0 < band < 0.25:
            raise ValueError(f"band must be a fraction in (0, 0.25) of each side. Received: band={band!r}")
        self.band = float(band)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        dy, dx = max(1, round(height * self.band)), max(1, round(width * self.band))
        rows = ops.logical_and(ops.arange(height) >= dy, ops.arange(height) < height - dy)
        cols = ops.logical_and(ops.arange(width) >= dx, ops.arange(width) < width - dx)
        keep = ops.cast(ops.logical_and(rows[:, None], cols[None, :]), inputs.dtype)
        return inputs * keep[None, :, :, None]

    def get_config(self):
        return {**super().get_config(), "band": self.band}


@keras.saving.register_keras_serializable(package="pneumonet")
class ContentCrop(keras.layers.Layer):
    """Crop each image to its content and stretch it back to the full frame (bilinear).

    Content: the rows and columns in which more than ``min_share`` of the pixels are brighter than ``level``. The
    black background beside the body (framing, margins outside the collimation, with the text markers on them)
    differs between the classes of this data set and between sites; cropped inside the model, every image fills
    the frame alike in training, evaluation, the demo and every export. At least ``min_keep`` of each side is kept,
    centred on the content, so a mostly black image is not blown up; an image with no content row or column is
    left whole. Placed after augmentation, it also crops away the black that a shift or a zoom-out brought in, so
    those augmentations vary the framing less. Deterministic and without weights. Heatmaps of such a model are
    computed in the cropped frame; ``pneumonet.explain`` maps them back onto the image through ``box``.
    ``pass_through`` (not saved): True while an explainer feeds images it has cropped itself (Score-CAM masks what
    the backbone sees); the layer then returns its input.
    """

    def __init__(self, level=24.0, min_share=0.25, min_keep=0.5, **kwargs):
        super().__init__(**kwargs)
        if not (0 < min_share < 1 and 0 < min_keep <= 1):
            raise ValueError("min_share must be in (0, 1) and min_keep in (0, 1]. Received: "
                             f"min_share={min_share!r}, min_keep={min_keep!r}")
        self.level, self.min_share, self.min_keep = float(level), float(min_share), float(min_keep)
        self.pass_through = False

    def _span(self, share, size):
        """First and last index (B,) where ``share`` (B, size) exceeds ``min_share``, widened to ``min_keep``."""
        index = ops.arange(size, dtype="float32")[None, :]
        content = share > self.min_share
        first = ops.min(ops.where(content, index, float(size)), axis=1)
        last = ops.max(ops.where(content, index, -1.0), axis=1)
        found = last >= first
        first, last = ops.where(found, first, 0.0), ops.where(found, last, size - 1.0)
        grow = ops.maximum(self.min_keep * (size - 1) - (last - first), 0.0) / 2
        first, last = first - grow, last + grow
        inward = ops.maximum(-first, 0.0) - ops.maximum(last - (size - 1), 0.0)  # back inside the image
        return first + inward, last + inward

    def box(self, inputs):
        """The crop box of each image, in its pixel coordinates: (top, bottom, left, right), each (B,) float32,
        bottom and right inclusive."""
        content = ops.cast(ops.mean(ops.cast(inputs, "float32"), axis=-1) > self.level, "float32")
        top, bottom = self._span(ops.mean(content, axis=2), inputs.shape[1])
        left, right = self._span(ops.mean(content, axis=1), inputs.shape[2])
        return top, bottom, left, right

    def call(self, inputs):
        if self.pass_through:
            return inputs
        x = ops.cast(inputs, "float32")
        batch = ops.shape(x)[0]
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        top, bottom, left, right = self.box(x)
        xs, ys = pixel_grid(height, width)
        col = lambda v: ops.expand_dims(v, 1)  # noqa: E731  (per-image scalars against all pixels)
        # output pixel (i, j) reads the box at (top + i * box height / (H - 1), left + j * box width / (W - 1))
        src_x = col(left) + xs * col((right - left) / max(width - 1, 1))
        src_y = col(top) + ys * col((bottom - top) / max(height - 1, 1))
        out = bilinear_gather(x, src_x, src_y)
        return ops.cast(ops.reshape(out, (batch, height, width, channels)), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "level": self.level, "min_share": self.min_share, "min_keep": self.min_keep}


@keras.saving.register_keras_serializable(package="pneumonet")
class BackbonePreprocess(keras.layers.Layer):
    """The backbone's ``preprocess_input`` as a layer, on RGB pixels in 0..255.

    caffe: RGB->BGR and ImageNet mean subtraction (VGG16, ResNet50); tf: scale to [-1, 1] (InceptionV3,
    MobileNetV2, ResNet152V2, Xception); torch: [0, 1] then ImageNet mean/std (DenseNet121); unit: [0, 1]
    (custom CNN, ResNet-18); none: the model rescales itself (EfficientNet).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"mode must be one of {PREPROCESS_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "unit":
            return x / 255.0
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="pneumonet")
class AffineAugment(keras.layers.Layer):
    """``pneumonet.pipelines.Augment`` on the device: one combined affine warp per image plus brightness.

    Same parameters and semantics as the CPU pipeline (rotation, shift, shear, zoom about the centre, bilinear,
    fill 0, optional horizontal flip, multiplicative brightness, clip to 0..255), written as one batched gather
    with ``keras.ops``, so it runs on every backend. Keras' RandomRotation/RandomZoom/RandomTranslation chain
    costs ~40x more under JAX on a GPU (see benchmarks/augmentation_designs.py). Identity at inference.
    """

    def __init__(self, rotation=10.0, shift=0.1, shear=5.0, zoom=0.1, brightness=(0.85, 1.15),
                 horizontal_flip=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.shift, self.shear, self.zoom = float(rotation), float(shift), float(shear), float(zoom)
        self.brightness, self.horizontal_flip, self.seed = tuple(brightness), bool(horizontal_flip), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, low, high):
        return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        x = ops.cast(inputs, "float32")
        batch = ops.shape(x)[0]
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        degrees = 3.141592653589793 / 180.0
        theta = self._uniform(batch, -self.rotation, self.rotation) * degrees
        shear = self._uniform(batch, -self.shear, self.shear) * degrees
        zx = self._uniform(batch, 1 - self.zoom, 1 + self.zoom)
        zy = self._uniform(batch, 1 - self.zoom, 1 + self.zoom)
        tx = self._uniform(batch, -self.shift, self.shift) * width
        ty = self._uniform(batch, -self.shift, self.shift) * height
        if self.horizontal_flip:
            zx = zx * ops.where(self._uniform(batch, 0.0, 1.0) < 0.5, -1.0, 1.0)
        (a00, a01, t0), (a10, a11, t1) = affine_rows(ops.cos(theta), ops.sin(theta), ops.sin(shear),
                                                     ops.cos(shear), zx, zy, tx, ty)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        xs, ys = pixel_grid(height, width)
        xs, ys = xs - cx, ys - cy  # about the centre
        col = lambda v: ops.expand_dims(v, 1)  # noqa: E731  (per-image scalars against all pixels)
        src_x = col(a00) * xs + col(a01) * ys + col(t0) + cx
        src_y = col(a10) * xs + col(a11) * ys + col(t1) + cy
        out = bilinear_gather(x, src_x, src_y)
        factor = ops.reshape(self._uniform(batch, *self.brightness), (-1, 1, 1))
        out = ops.clip(out * factor, 0.0, 255.0)
        return ops.cast(ops.reshape(out, (batch, height, width, channels)), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift, "shear": self.shear,
                "zoom": self.zoom, "brightness": list(self.brightness), "horizontal_flip": self.horizontal_flip,
                "seed": self.seed}
