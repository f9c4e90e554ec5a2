"""Training faces on disk: listing, validating and loading them (Python side).

Reading follows the one rule set of :mod:`faceres_tf.image_io` (alpha over
white, gray to RGB, 16-bit ``round(v / 257)``, EXIF orientation applied);
this module adds what training needs on top:

* :func:`list_faces` - the image files of a training folder, as resolved
  path strings, with :class:`DataError` naming the folder when there are none.
* :func:`to_square` centre-crops to a square and resizes to R x R (area
  interpolation when shrinking, bicubic when enlarging); :func:`load_face`
  reads and does that.
* :func:`scan_images` turns unreadable files into ONE warning line per file
  plus a summary line, and never aborts.

"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from faceres_tf.errors import UserError
from faceres_tf.image_io import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb, read_size

logger = logging.getLogger("faceres_tf.data")

__all__ = [
    "FULL_CHECK_MAX_FILES",
    "DataError",
    "ScanResult",
    "list_faces",
    "load_face",
    "scan_images",
    "to_square",
]

# Folders with more files than this are checked by header only (Pillow
# ``verify``) before training; full decoding of every file would delay the
# start by one epoch of decoding. Files that pass the header check but fail to
# decode are still skipped (with a warning) inside the pipeline. Convert very
# large folders to TFRecord shards once with ``python -m faceres_tf.data.prepare``.
FULL_CHECK_MAX_FILES = 5000


class DataError(UserError, ValueError):
    """Unusable training data (missing/empty folder, nothing readable)."""


def distinct_files(paths: list, folder) -> list:
    """``paths`` with every file that another path already names (a symlink,
    or a hard link: same device and inode) left out, with one warning; so
    10,000 links to one image count as one face, not 10,000."""
    seen, out = set(), []
    for p in paths:
        try:
            st = os.stat(p)
            key = (st.st_dev, st.st_ino)
        except OSError:  # unreadable: kept, reported when it is read
            key = p
        if key not in seen:
            seen.add(key)
            out.append(p)
    if len(out) < len(paths):
        logger.warning("%d image files under %s are only %d distinct images (symlinks or hard "
                       "links to the same file); each is used once.", len(paths), folder, len(out))
    return out


def list_faces(folder) -> list:
    """Sorted absolute paths (str, symlinks resolved) of the distinct images under
    ``folder`` (:func:`distinct_files`), as found by
    :func:`faceres_tf.image_io.list_images` (recursive, by extension, hidden
    files skipped). Raises :class:`DataError` naming the folder if it does not
    exist or has no image.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(
            f"Image folder {str(root)!r} does not exist (resolved to {str(root.resolve())!r}). "
            "Give a folder of aligned face images (data.train_dir / data.val_dir when training)."
        )
    paths = distinct_files(sorted(str(p.resolve()) for p in list_images(root).images), root)
    if not paths:
        raise DataError(
            f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {str(root.resolve())!r}. "
            "Add aligned face images, or TFRecord shards made by "
            "`python -m faceres_tf.data.prepare`."
        )
    return paths


def to_square(img: np.ndarray, resolution: int) -> np.ndarray:
    """Centre-crops uint8 (H, W, 3) to a square and resizes it to (R, R, 3) uint8."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    sq = img[top : top + side, left : left + side]
    if side == resolution:
        return np.ascontiguousarray(sq)
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
    out = cv2.resize(sq, (resolution, resolution), interpolation=interp)
    return np.ascontiguousarray(out, dtype=np.uint8)


def load_face(path, resolution: int) -> np.ndarray:
    """:func:`faceres_tf.image_io.read_rgb` then :func:`to_square`: uint8 (R, R, 3)."""
    return to_square(read_rgb(path), resolution)


@dataclasses.dataclass
class ScanResult:
    """Outcome of :func:`scan_images`.

    Attributes:
        valid: readable files (sorted).
        skipped: ``(path, reason)`` of unreadable files.
        small: readable files whose shorter side is below the resolution.
    """

    valid: list
    skipped: list
    small: list


_scan_cache: dict = {}
_scan_lock = threading.Lock()


def _check_one(path: str, full: bool):
    """Returns (ok, min_side_or_reason), cached by (path, size, mtime, mode)."""
    try:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, full)
    except OSError as e:
        return False, f"{path}: cannot stat ({e})"
    with _scan_lock:
        if key in _scan_cache:
            return _scan_cache[key]
    try:
        if full:
            arr = read_rgb(path)
            result = (True, min(arr.shape[:2]))
        else:
            w, h = read_size(path)
            result = (True, min(w, h))
    except ImageReadError as e:
        result = (False, str(e))
    with _scan_lock:
        _scan_cache[key] = result
    return result


def scan_images(paths, resolution: int | None = None, folder=None, full_check: bool | None = None):
    """Validates ``paths``; logs one warning per unreadable file and a summary.

    Args:
        paths: image files (e.g. from :func:`list_faces`).
        resolution: if given, readable images with a shorter side below it are
            reported (one warning naming them: they will be upscaled).
        folder: named in the messages.
        full_check: fully decode every file (default: when there are at most
            ``FULL_CHECK_MAX_FILES``), else check headers only.
    Returns:
        :class:`ScanResult`. Raises :class:`DataError` naming ``folder`` if no
        file is readable.
    """
    paths = list(paths)
    if full_check is None:
        full_check = len(paths) <= FULL_CHECK_MAX_FILES
    where = str(folder) if folder is not None else "the given files"
    workers = max(1, min(4, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda p: _check_one(p, full_check), paths))
    valid, skipped, small = [], [], []
    for p, (ok, info) in zip(paths, results):
        if ok:
            valid.append(p)
            if resolution is not None and info < resolution:
                small.append(p)
        else:
            skipped.append((p, info))
            logger.warning("Skipping unreadable image %s", info)
    if skipped:
        logger.warning(
            "Skipped %d of %d files under %s (unreadable; see warnings above); using %d.",
            len(skipped), len(paths), where, len(valid),
        )
    if not valid:
        raise DataError(
            f"None of the {len(paths)} image files under {where!r} could be read "
            f"(first error: {skipped[0][1]}). Check the folder contents."
        )
    if small:
        shown = ", ".join(os.path.basename(p) for p in small[:10])
        more = f" (+{len(small) - 10} more)" if len(small) > 10 else ""
        logger.warning(
            "%d image(s) under %s are smaller than %dx%d and will be upscaled "
            "(bicubic): %s%s",
            len(small), where, resolution, resolution, shown, more,
        )
    return ScanResult(valid=valid, skipped=skipped, small=small)
