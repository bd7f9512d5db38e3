"""Safe, size-agnostic image loading: every failure becomes an ``ImageLoadError`` naming the file."""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pneumonet.errors import ImageLoadError

# Chest X-rays reach ~3,000 x 3,000 px; anything far beyond is a decompression bomb, not a radiograph.
MAX_PIXELS = 64_000_000
DICOM_SUFFIXES = {".dcm", ".dicom"}


def _check_file(path):
    """Refuse a missing, unreadable or empty file with one line naming it."""
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except OSError as exc:  # a symlink loop, a permission problem
        raise ImageLoadError(path, f"cannot read ({exc.strerror or exc})") from None


def is_dicom(path):
    """True for a ``.dcm``/``.dicom`` name or a file with the DICOM preamble (``DICM`` at byte 128).

    The preamble catches DICOM files exported without an extension (``IM0001``), as PACS often write them.
    """
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False  # the image path reports the problem, naming the file


def open_image(path, max_pixels=MAX_PIXELS):
    """Open ``path`` lazily with Pillow, refusing empty files, non-images and decompression bombs."""
    path = Path(path)
    _check_file(path)
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
    DICOM files (``is_dicom``) are decoded with pydicom (``load_dicom``): rescale, windowing, MONOCHROME1.
    Raises ``ImageLoadError`` naming the file for anything unusable.
    """
    if is_dicom(path):
        array = load_dicom(path, max_pixels=max_pixels)
        return resize(array, image_size) if image_size is not None else array
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
    if is_dicom(path):
        return dicom_info(path)
    try:
        with open_image(path) as image:
            return {"width": image.size[0], "height": image.size[1], "mode": image.mode,
                    "format": image.format, "error": None}
    except ImageLoadError as exc:
        return {"width": None, "height": None, "mode": None, "format": None, "error": exc.reason}


def read_dicom_header(path, max_pixels=MAX_PIXELS):
    """The pydicom Dataset of ``path`` with its pixel data left unread, checked to hold one usable image.

    Refuses (``ImageLoadError``) files pydicom cannot parse, files without pixel data, multi-frame series and
    declared sizes that are too small or beyond ``max_pixels``.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    _check_file(path)
    try:
        # defer_size: large values (the pixel data) stay on disk until asked for; force: files without preamble.
        # pydicom warns about each oddity of a malformed file; what matters is whether it yields an image.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            dataset = pydicom.dcmread(path, defer_size=1024, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise ImageLoadError(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in dataset:
        raise ImageLoadError(path, "DICOM file has no pixel data (not an image)")
    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        frames = int(dataset.get("NumberOfFrames") or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageLoadError(path, f"DICOM header lacks a valid image size ({type(exc).__name__}: {exc})") from None
    if rows * columns * frames > max_pixels:
        raise ImageLoadError(path, f"declared size {columns} x {rows} x {frames} frames exceeds {max_pixels:,} pixels")
    if rows < 2 or columns < 2:
        raise ImageLoadError(path, f"image is {columns} x {rows} px, too small to be an X-ray")
    if frames > 1:
        raise ImageLoadError(path, f"multi-frame DICOM ({frames} frames); one radiograph per file is expected")
    return dataset


def dicom_to_uint8(pixels, dataset):
    """Stored DICOM pixel values to a display-ready uint8 H x W array, as a radiology viewer shows them.

    Applies the modality LUT (rescale slope/intercept), then the VOI LUT or window centre/width, scales the
    result's range to 0..255 and inverts MONOCHROME1 (where low values are white), so bone is always bright.
    8-bit pixels with neither rescale nor window are kept as stored, as an 8-bit PNG is; colour images (RGB,
    YBR, palette) become grayscale by luminance.
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, dataset)
    if pixels.ndim == 3:  # RGB (pydicom converts YBR itself): luminance, ITU-R 601 as Pillow's "L"
        values = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        values = values.round().astype(np.uint8) if pixels.dtype == np.uint8 else values
    else:
        values = apply_voi_lut(apply_modality_lut(pixels, dataset), dataset)
    if values.dtype != np.uint8:
        # 16-bit, rescaled or windowed values: the full range to 8 bits (pydicom's window output spans it)
        values = values.astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        scaled = (values - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(values)
        values = scaled.round().astype(np.uint8)
    return 255 - values if photometric == "MONOCHROME1" else values


def load_dicom(path, max_pixels=MAX_PIXELS):
    """Decode one DICOM radiograph into a uint8 H x W array (see ``dicom_to_uint8``); errors name the file."""
    dataset = read_dicom_header(path, max_pixels=max_pixels)
    try:
        pixels = dataset.pixel_array
        return dicom_to_uint8(pixels, dataset)
    except Exception as exc:  # pydicom raises many types (truncated data, a codec plugin missing): name the file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ImageLoadError(path, f"cannot decode DICOM pixel data ({type(exc).__name__}: {text})") from None


def dicom_info(path):
    """``image_info`` for DICOM: size and photometric interpretation from the header, without the pixels."""
    try:
        dataset = read_dicom_header(path)
        return {"width": int(dataset.Columns), "height": int(dataset.Rows),
                "mode": str(dataset.get("PhotometricInterpretation", "")), "format": "DICOM", "error": None}
    except ImageLoadError as exc:
        return {"width": None, "height": None, "mode": None, "format": None, "error": exc.reason}
