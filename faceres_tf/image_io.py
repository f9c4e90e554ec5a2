"""Image files in and out: the one place that reads, writes and lists images.

Training data (:mod:`faceres_tf.data`), evaluation (:mod:`faceres_tf.evaluate`)
and restoration (:mod:`faceres_tf.restore`) all read files through
:func:`read_image`, so the same file gives the same pixels everywhere.

Every image this module returns is numpy uint8 (H, W, 3), RGB, C-contiguous.
One rule per kind of file [ours]:

* **Alpha** (RGBA, gray + alpha, palette with transparency) is composited over
  white: ``out = c * a + max * (1 - a)``. What is under a transparent pixel is
  arbitrary (often black), so dropping alpha would restore or score pixels
  nobody sees; white is what most viewers and the web show. Fully opaque
  images are unchanged.
* **Gray** (1 channel, or gray + alpha) becomes three equal channels;
  :attr:`LoadedImage.was_gray` is set so that restoration can keep the output
  gray.
* **16-bit** channels are scaled to 8 bits as ``round(v / 257)`` (the nearest
  8-bit level; 65535 -> 255). Float images are taken as [0, 1] and become
  ``round(clip(v, 0, 1) * 255)``. Other pixel types are refused.
* **EXIF orientation** (phone photos) is applied, so the pixels are upright as
  a viewer shows them.
* Other colour modes (palette, CMYK, YCbCr, 1-bit) are converted to RGB by
  Pillow.

Decoding: Pillow opens and fully decodes every file; it rejects truncated and
corrupt data (OpenCV would silently pad a truncated JPEG with grey; Pillow too
if some other code sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``, which this
module leaves at Pillow's default, False). Files with more than 8 bits per
channel are decoded a second time with OpenCV (``IMREAD_UNCHANGED``), because
Pillow keeps only the high byte of 16-bit colour channels. Formats are those Pillow opens (PNG, JPEG, WebP, BMP, TIFF,
JPEG 2000, PPM/PGM); a file it cannot decode raises :class:`ImageReadError`,
whose one-line message names the file and says what to do.

Value conversions: :func:`uint8_to_float` / :func:`float_to_uint8` map uint8
0-255 to and from the models' float [-1, 1] (numpy arrays and TensorFlow
tensors alike); :func:`depth_to_uint8` is the bit-depth rule above.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

# File-name extensions read as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".jp2", ".ppm",
                    ".pgm")

_EXIF_ORIENTATION = 0x0112
_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file."""


@dataclasses.dataclass
class LoadedImage:
    """A decoded image file.

    Attributes:
        rgb: uint8 (H, W, 3) RGB pixels.
        was_gray: the file stored gray levels only (1 channel or gray + alpha).
        notes: what was converted, for messages (e.g. "16-bit -> 8-bit",
            "alpha composited over white").
    """

    rgb: np.ndarray
    was_gray: bool = False
    notes: tuple = ()


class ImageFiles(NamedTuple):
    """Result of :func:`list_images`: image files and the other files seen."""

    images: list
    ignored: list


# ----------------------------------------------------------------- conversions
def _tf_if_tensor(x):
    """The ``tensorflow`` module if ``x`` is a TF tensor, else None (never imports TF)."""
    tf = sys.modules.get("tensorflow")
    return tf if tf is not None and tf.is_tensor(x) else None


def uint8_to_float(images):
    """uint8 RGB 0-255 -> float32 in [-1, 1]: ``x / 127.5 - 1``.

    Works on numpy arrays (returns numpy) and TF tensors (returns a tensor,
    usable inside ``tf.function`` and TFLite).
    """
    tf = _tf_if_tensor(images)
    if tf is not None:
        return tf.cast(images, tf.float32) / 127.5 - 1.0
    return np.asarray(images, np.float32) / np.float32(127.5) - np.float32(1.0)


def float_to_uint8(images):
    """float ~[-1, 1] -> uint8 RGB 0-255: ``round((clip(y, -1, 1) + 1) * 127.5)``.

    Rounds half to even in both numpy and TF, so the two give identical
    pixels. Works on numpy arrays and TF tensors (see :func:`uint8_to_float`).
    """
    tf = _tf_if_tensor(images)
    if tf is not None:
        y = (tf.clip_by_value(tf.cast(images, tf.float32), -1.0, 1.0) + 1.0) * 127.5
        return tf.cast(tf.round(y), tf.uint8)
    y = (np.clip(np.asarray(images, np.float32), -1.0, 1.0) + np.float32(1.0)) * np.float32(127.5)
    return np.rint(y).astype(np.uint8)


def depth_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float [0, 1] pixels -> uint8, same shape.

    uint16: ``round(v / 257)``; float: ``round(clip(v, 0, 1) * 255)``. Raises
    :class:`ImageReadError` for other types.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return np.rint(pixels.astype(np.float64) / 257.0).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):
        return np.rint(np.clip(pixels.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageReadError(f"unsupported pixel type {pixels.dtype}; save the image as 8- or 16-bit")


def _composite_over_white(color: np.ndarray, alpha: np.ndarray, max_value: float) -> np.ndarray:
    """(H, W, C) colour + (H, W) alpha, both on a 0..max_value scale -> float [0, 1]."""
    a = alpha.astype(np.float64)[..., None] / max_value
    c = color.astype(np.float64) / max_value
    return c * a + (1.0 - a)


# ---------------------------------------------------------------------- reading
def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Applies EXIF orientation 1..8 (the inverse of how the camera stored it)."""
    if orientation == 2:
        rgb = rgb[:, ::-1]  # mirror left-right
    elif orientation == 3:
        rgb = rgb[::-1, ::-1]  # rotate 180
    elif orientation == 4:
        rgb = rgb[::-1]  # mirror top-bottom
    elif orientation == 5:
        rgb = rgb.transpose(1, 0, 2)  # transpose
    elif orientation == 6:
        rgb = np.rot90(rgb, k=-1)  # rotate 90 clockwise
    elif orientation == 7:
        rgb = rgb[::-1, ::-1].transpose(1, 0, 2)  # transverse
    elif orientation == 8:
        rgb = np.rot90(rgb, k=1)  # rotate 90 counter-clockwise
    return rgb


def _is_high_depth(img: Image.Image) -> bool:
    """More than 8 bits per channel (inspect before ``load``, which clears ``tile``)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return True
    return any(";16" in str(tile[3]) for tile in img.tile)  # e.g. PNG "RGB;16B", TIFF "RGB;16N"


def _pillow_pixels(img: Image.Image, notes: list) -> np.ndarray:
    """Decoded 8-bit Pillow image -> uint8 (H, W, 3), alpha composited over white."""
    has_alpha = img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        img.mode == "P" and "transparency" in img.info)
    if not has_alpha:
        return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    rgba = np.asarray(img.convert("RGBA"))
    if rgba[..., 3].min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    notes.append("alpha composited over white")
    return depth_to_uint8(_composite_over_white(rgba[..., :3], rgba[..., 3], 255.0))


def _opencv_pixels(path: str, notes: list) -> np.ndarray:
    """High-bit-depth file -> uint8 (H, W, 3) through OpenCV (exact 16-bit values)."""
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(f"{path}: OpenCV could not decode this high-bit-depth image; "
                             "re-save it as an 8-bit PNG or JPEG")
    if img.dtype == np.uint16:
        notes.append("16-bit -> 8-bit")
    elif img.dtype != np.uint8:
        notes.append(f"{img.dtype} -> 8-bit (clipped to [0, 1])")
    max_value = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return np.repeat(depth_to_uint8(img)[..., None], 3, axis=-1)
    if img.shape[2] == 2:  # gray + alpha
        color, alpha = np.repeat(img[..., :1], 3, axis=-1), img[..., 1]
    elif img.shape[2] == 3:  # BGR
        return depth_to_uint8(img[..., ::-1])
    elif img.shape[2] == 4:  # BGRA
        color, alpha = img[..., 2::-1], img[..., 3]
    else:
        raise ImageReadError(f"{path}: unsupported channel layout {img.shape}")
    if alpha.min() >= max_value:
        return depth_to_uint8(color)
    notes.append("alpha composited over white")
    return depth_to_uint8(_composite_over_white(color, alpha, max_value))


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Reads any image file as RGB uint8 (rules in the module docstring).

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated or
            corrupt (the message names the file).
    """
    path = str(path)
    notes: list = []
    try:
        if os.path.getsize(path) == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes), not an image")
        with warnings.catch_warnings(), Image.open(path) as img:
            # Pillow's raw DecompressionBombWarning (with its site-packages path) becomes a note
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if img.width * img.height > (Image.MAX_IMAGE_PIXELS or float("inf")):
                notes.append(f"very large image ({img.width}x{img.height}, {img.width * img.height / 1e6:.0f} MP)")
            high_depth = _is_high_depth(img)
            img.load()  # full decode: raises on truncated or corrupt data
            was_gray = img.mode in _GRAY_MODES
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            rgb = _opencv_pixels(path, notes) if high_depth else _pillow_pixels(img, notes)
    except ImageReadError:
        raise
    except FileNotFoundError as e:
        raise ImageReadError(f"{path}: no such file") from e
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"{path}: too many pixels to decode safely ({e}); downscale it first") from e
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        raise ImageReadError(f"{path}: not a readable image ({type(e).__name__}: {e}); "
                             "re-save it as PNG or JPEG") from e
    if was_gray:
        notes.append("grayscale -> RGB")
    if 2 <= orientation <= 8:
        rgb = _orient(rgb, orientation)
        notes.append(f"EXIF orientation {orientation} applied")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ImageReadError(f"{path}: unexpected decoded shape {rgb.shape}")
    return LoadedImage(np.ascontiguousarray(rgb, dtype=np.uint8), was_gray, tuple(notes))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """:func:`read_image` ``(path).rgb``: uint8 (H, W, 3) RGB."""
    return read_image(path).rgb


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """Cheap validity check without decoding pixels: ``(width, height)`` as stored.

    Reads the header only (Pillow ``verify``); a file that passes may still
    fail to decode. Raises :class:`ImageReadError`.
    """
    path = str(path)
    try:
        if os.path.getsize(path) == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes), not an image")
        with Image.open(path) as img:
            size = img.size
            img.verify()
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(f"{path}: not a readable image ({type(e).__name__}: {e}); "
                             "re-save it as PNG or JPEG") from e
    return size


# ---------------------------------------------------------------------- writing
class DiskFullError(OSError):
    """No space left on the device (a run should stop: every later write fails too)."""


def write_image(path: str | os.PathLike, rgb: np.ndarray, overwrite: bool = False,
                jpeg_quality: int = 95) -> bool:
    """Writes RGB uint8 ``rgb``; the format follows the suffix (png, jpg, ...).

    Returns False (and writes nothing) when the file exists and not
    ``overwrite``. Parent folders are created; the file appears atomically:
    it is written to a uniquely named hidden temporary beside it (two
    processes never share one) and renamed, and the temporary is removed on
    any failure, Ctrl-C included, so no half file is ever left. Non-ASCII
    paths work. A full disk raises :class:`DiskFullError` ("no space left").
    """
    path = Path(path)
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext in (".jpg", ".jpeg") else []
    bgr = np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., ::-1])
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode a {ext} image")
    write_bytes_atomically(path, buf.tobytes())
    return True


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """``data`` -> ``path`` through a unique temporary + rename (see :func:`write_image`)."""
    fd, tmp = tempfile.mkstemp(prefix="." + _clip_utf8(path.name, 60) + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_file(f, data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(e.errno, f"no space left on the device writing {path}") from e
        raise


def _write_file(f, data: bytes) -> None:
    f.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes (at a character boundary)."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


# ---------------------------------------------------------------------- listing
def is_image_file(path: str | os.PathLike) -> bool:
    """True when the name ends in one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(root: str | os.PathLike, *, recursive: bool = True,
                exclude: tuple = ()) -> ImageFiles:
    """Image files under ``root``, sorted by path, and the other files seen.

    Selection is by extension (:data:`IMAGE_EXTENSIONS`, case-insensitive);
    files are not opened. Hidden files and folders (names starting with ".",
    e.g. macOS ``._x.jpg`` resource forks) are skipped; folders in ``exclude``
    (e.g. an output folder inside the input folder) are not entered. A
    missing ``root`` gives empty lists; callers say what that means for them.

    Returns:
        :class:`ImageFiles` ``(images, ignored)``: lists of :class:`Path`.
    """
    root = Path(root).expanduser()
    excluded = {Path(e).expanduser().resolve() for e in exclude}
    images, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [n for n in dirnames if recursive and not n.startswith(".")
                       and (here / n).resolve() not in excluded]
        for name in filenames:
            if not name.startswith("."):
                (images if is_image_file(name) else ignored).append(here / name)
    images.sort(key=lambda p: p.as_posix())
    ignored.sort(key=lambda p: p.as_posix())
    return ImageFiles(images, ignored)
