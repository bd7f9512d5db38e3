"""Safe, size-agnostic image loading: every failure becomes an ``ImageLoadError`` naming the file."""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pneumonet.errors import ImageLoadError

# Chest X-rays reach ~3,000 x 3,000 px; anything far beyond is a decompression bomb, not a radiograph.
MAX_PIXELS = 64_000_000


def open_image(path, max_pixels=MAX_PIXELS):
    """Open ``path`` lazily with Pillow, refusing empty files, non-images and decompression bombs."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except OSError as exc:  # a symlink loop, a permission problem
        raise ImageLoadError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make every bomb an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(path, f"not a readable image ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageLoadError(path, f"declared size {width} x {height} exceeds {max_pixels:,} pixels")
    if width < 2 or height < 2:
        image.close()
        raise ImageLoadError(path, f"image is {width} x {height} px, too small to be an X-ray")
    return image


def to_grayscale_array(image):
    """Any Pillow mode (L, RGB, RGBA, P, CMYK, I;16, I, F) to a uint8 H x W array."""
    image = ImageOps.exif_transpose(image)  # phone photos of films carry EXIF rotation
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float: scale the full range to 8 bits instead of clipping at 255
        values = np.asarray(image, dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        scaled = (values - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(values)
        return scaled.round().astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))  # film background is black
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def load_image(path, image_size=None, max_pixels=MAX_PIXELS):
    """Decode ``path`` into a uint8 array of shape (H, W) (or ``image_size``), grayscale.

    X-rays are grayscale; models expand to three channels themselves, so one channel is stored.
    Raises ``ImageLoadError`` naming the file for anything unusable.
    """
    image = open_image(path, max_pixels=max_pixels)
    try:
        with image:
            if image_size is not None and image.format == "JPEG":
                # let libjpeg decode at 1/2, 1/4 or 1/8 scale: large originals decode many times faster
                image.draft("L", (image_size[1], image_size[0]))
            array = to_grayscale_array(image)
    except ImageLoadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(path, f"cannot decode ({type(exc).__name__}: {exc})") from None
    if image_size is not None:
        array = resize(array, image_size)
    return array


def resize(array, image_size):
    """Resize a uint8 H x W array to ``image_size`` = (height, width); aspect ratio is not kept (as Keras does)."""
    height, width = image_size
    if array.shape[:2] == (height, width):
        return array
    return np.asarray(Image.fromarray(array).resize((width, height), Image.BILINEAR), dtype=np.uint8)


def image_info(path):
    """Header facts without decoding pixels: width, height, mode, format, or the error."""
    try:
        with open_image(path) as image:
            return {"width": image.size[0], "height": image.size[1], "mode": image.mode,
                    "format": image.format, "error": None}
    except ImageLoadError as exc:
        return {"width": None, "height": None, "mode": None, "format": None, "error": exc.reason}
