"""Generators of malformed and unusual image files (shared by the hostile-input tests)."""

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _jpeg(rng, size=(40, 30), mode="L"):
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size[::-1], dtype=np.uint8)).convert(mode).save(buffer, "JPEG")
    return buffer.getvalue()


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _huge_png(width, height):
    data = bytearray(_png(Image.new("L", (8, 8))))
    # rewrite the IHDR width and height and its CRC: a tiny file that declares an enormous image
    ihdr = 8 + 8  # signature, then length + type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def _exif_rotated(rng):
    image = Image.fromarray(rng.integers(0, 255, (20, 40), dtype=np.uint8))  # 40 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def hostile_files(folder, seed=0):
    """Write >= 200 files to ``folder``; returns {path: "ok" | "refuse"} (what a correct loader must do)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}

    def put(name, payload, expect):
        path = folder / name
        path.write_bytes(payload)
        cases[path] = expect

    for i in range(40):
        good = _jpeg(rng)
        put(f"truncated_{i}.jpeg", good[: int(len(good) * rng.uniform(0.05, 0.6))], "either")
    for i in range(10):
        put(f"zero_{i}.jpeg", b"", "refuse")
    for i in range(40):
        put(f"random_{i}.jpeg", rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes(), "refuse")
    for i in range(10):
        put(f"text_{i}.jpeg", f"this is not an image {i}\n".encode() * 20, "refuse")
    for i in range(10):
        put(f"png_named_jpeg_{i}.jpeg", _png(Image.new("L", (30, 30), color=i * 20)), "ok")
    for i in range(10):
        put(f"huge_{i}.png", _huge_png(60_000 + i, 60_000), "refuse")
    for i in range(10):
        put(f"one_pixel_{i}.png", _png(Image.new("L", (1, 1))), "refuse")
    for i in range(10):
        array = (rng.integers(0, 65535, (25, 25))).astype(np.uint16)
        put(f"sixteen_bit_{i}.png", _png(Image.fromarray(array)), "ok")
    for i in range(10):
        put(f"palette_{i}.png", _png(Image.new("RGB", (25, 25), (i * 20, 10, 10)).convert("P")), "ok")
    for i in range(10):
        put(f"cmyk_{i}.jpeg", _jpeg(rng, mode="CMYK"), "ok")
    for i in range(10):
        put(f"rgba_{i}.png", _png(Image.new("RGBA", (25, 25), (200, 10, 10, 128))), "ok")
    for i in range(10):
        put(f"exif_rotated_{i}.jpeg", _exif_rotated(rng), "ok")
    for i in range(20):
        good = bytearray(_jpeg(rng))
        start = len(good) // 3
        good[start:start + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
        put(f"corrupted_{i}.jpeg", bytes(good), "either")
    for i in range(10):
        put(f"float_{i}.tiff", _tiff_float(rng), "ok")
    return cases


def _tiff_float(rng):
    buffer = io.BytesIO()
    Image.fromarray(rng.random((20, 20)).astype(np.float32)).save(buffer, "TIFF")
    return buffer.getvalue()
