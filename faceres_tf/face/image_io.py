"""Reading and writing photos robustly: any readable image becomes RGB uint8.

Conventions: every array this module returns is RGB, uint8, (H, W, 3),
C-contiguous. Files are read with ``cv2.imdecode(np.fromfile(path))`` so that
non-ASCII paths work on every platform, with ``IMREAD_UNCHANGED`` so that the
bit depth and alpha channel are seen (and then converted explicitly):

* 16-bit images are scaled to 8 bit (``v / 257``, rounded); float images
  (EXR, float TIFF) are clipped to [0, 1] and scaled by 255.
* Grayscale (1 channel, or 2 channels = gray + alpha) becomes 3 equal channels
  and is flagged ``was_gray`` so that callers may keep the output gray.
* The alpha channel of RGBA images is dropped (not composited): restoration
  works on colour only, and the output is written without alpha.
* The EXIF orientation tag (phone photos) is applied, because
  ``IMREAD_UNCHANGED`` does not apply it by itself.

A file that cannot be decoded raises :class:`ImageReadError` whose message names
the file and says what to do. [ours]
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".ppm", ".pgm")


class ImageReadError(ValueError):
    """A file could not be read as an image (message names the file)."""


@dataclasses.dataclass
class LoadedImage:
    """A decoded photo.

    Attributes:
        rgb: uint8 (H, W, 3) RGB pixels.
        was_gray: the file stored a single (gray) channel.
        notes: human-readable notes on the conversions applied (e.g.
            "16-bit -> 8-bit", "alpha dropped").
    """

    rgb: np.ndarray
    was_gray: bool = False
    notes: tuple = ()


def _exif_orientation(path: Path) -> int:
    """EXIF orientation tag (1..8), 1 when absent or unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # not a PIL-readable file or no EXIF: nothing to rotate
        return 1


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientations: 2 mirror, 3 rot180, 4 flip-v, 5 transpose, 6 rot90cw,
    # 7 transverse, 8 rot90ccw.
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.flip(cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE), 1)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE), 1)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def to_uint8(img: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Any integer/float bit depth -> uint8, same channels."""
    notes = []
    if img.dtype == np.uint8:
        return img, notes
    if img.dtype == np.uint16:
        notes.append("16-bit -> 8-bit")
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8), notes
    if img.dtype in (np.float32, np.float64, np.float16):
        notes.append("float -> 8-bit (clipped to [0, 1])")
        return np.round(np.clip(img.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8), notes
    if img.dtype == np.int8 or img.dtype == np.int16 or img.dtype == np.int32:
        info = np.iinfo(img.dtype)
        notes.append(f"{img.dtype} -> 8-bit")
        scaled = (img.astype(np.float64) - 0) / info.max * 255.0
        return np.round(np.clip(scaled, 0, 255)).astype(np.uint8), notes
    raise ImageReadError(f"unsupported pixel type {img.dtype}")


def decoded_to_rgb(img: np.ndarray) -> LoadedImage:
    """Convert a cv2 ``IMREAD_UNCHANGED`` array (BGR order) to RGB uint8."""
    img, notes = to_uint8(img)
    was_gray = False
    if img.ndim == 2:
        was_gray = True
        notes.append("grayscale -> RGB")
        rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 1:
        was_gray = True
        notes.append("grayscale -> RGB")
        rgb = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 2:
        was_gray = True
        notes.append("gray+alpha -> RGB (alpha dropped)")
        rgb = cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 3:
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        notes.append("alpha dropped")
        rgb = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        raise ImageReadError(f"unsupported image layout {img.shape}")
    return LoadedImage(rgb=np.ascontiguousarray(rgb), was_gray=was_gray, notes=tuple(notes))


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read any image file as RGB uint8 (see the module docstring).

    Raises:
        ImageReadError: the file is missing, empty, not an image, or truncated.
    """
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(f"{path}: cannot open file ({e.strerror or e})") from e
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file, not an image")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(
            f"{path}: not a readable image (corrupt, truncated, or not an image format OpenCV "
            f"can decode); re-save it as PNG or JPEG"
        )
    loaded = decoded_to_rgb(img)
    orientation = _exif_orientation(path)
    if orientation != 1:
        loaded.rgb = np.ascontiguousarray(_apply_orientation(loaded.rgb, orientation))
        loaded.notes = loaded.notes + (f"EXIF orientation {orientation} applied",)
    return loaded


def write_image(path: str | os.PathLike, rgb: np.ndarray, overwrite: bool = False,
                jpeg_quality: int = 95) -> bool:
    """Write RGB uint8 ``rgb``; the format follows the suffix (png/jpg/...).

    Returns False (and writes nothing) when the file exists and not
    ``overwrite``. Parent folders are created. Non-ASCII paths work.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext in (".jpg", ".jpeg") else []
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode a {ext} image")
    tmp = path.with_name(path.name + ".tmp")
    buf.tofile(str(tmp))
    os.replace(tmp, path)  # atomic: an interrupted run never leaves half a file
    return True


def list_images(root: str | os.PathLike, exclude: tuple = ()) -> tuple[list[Path], list[Path]]:
    """Image files under ``root`` (recursive, sorted), and the other files.

    Hidden files and folders (starting with ".") are skipped; folders in
    ``exclude`` (e.g. the output folder when it lies inside the input folder)
    are not entered. Returns ``(images, ignored)``; ``images`` are selected by
    extension (case-insensitive, :data:`IMAGE_EXTENSIONS`).
    """
    root = Path(root)
    excluded = {Path(e).resolve() for e in exclude}
    images, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(
            n for n in dirnames if not n.startswith(".") and (d / n).resolve() not in excluded
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = d / name
            (images if p.suffix.lower() in IMAGE_EXTENSIONS else ignored).append(p)
    return images, ignored
