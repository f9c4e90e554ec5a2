"""TFRecord shards of aligned faces: the record format, writer and reader.

One ``tf.train.Example`` per face:

* ``image``: PNG (default) or JPEG bytes of a uint8 RGB R x R face,
* ``height`` / ``width``: int64, both R,
* ``filename``: bytes, the source file's path relative to the input folder.

Shards are named ``faces-00000.tfrecord``, ``faces-00001.tfrecord``, ... A
folder holding ``*.tfrecord`` files is used as a TFRecord source by
:func:`faceres_tf.data.make_dataset` automatically.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from faceres_tf.data.faces import DataError, list_faces, to_square
from faceres_tf.image_io import ImageReadError, read_rgb

logger = logging.getLogger("faceres_tf.data")

SHARD_PATTERN = "faces-{:05d}.tfrecord"

_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def list_shards(folder) -> list:
    """Sorted ``*.tfrecord`` files under ``folder`` (recursive); [] if none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    return sorted(str(p.resolve()) for p in root.rglob("*.tfrecord") if p.is_file())


# ---- checking shards before training --------------------------------------
def _crc32c_table() -> list:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C (Castagnoli) of ``data`` (used on 8-byte headers)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def shard_problem(path) -> str:
    """Checks a TFRecord file's framing without reading the payloads.

    Walks the records (8-byte length, its CRC, payload, payload CRC) by
    seeking; returns "" when the file ends exactly after a whole record, else
    what is wrong (empty, truncated, garbled length). Cheap (one small read per
    record), so it runs on every shard before training. Corruption *inside*
    a payload is found later by TensorFlow's CRC check (see
    :func:`find_bad_records`).
    """
    path = str(path)
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file (0 bytes)"
        n, offset = 0, 0
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                header = f.read(12)
                if len(header) < 12:
                    return f"truncated: {size - offset} stray byte(s) after record {n}"
                length = int.from_bytes(header[:8], "little")
                if _masked_crc32c(header[:8]) != int.from_bytes(header[8:], "little"):
                    return f"not a TFRecord file, or garbled at record {n} (byte {offset})"
                end = offset + 12 + length + 4
                if end > size:
                    return (f"truncated: record {n} needs {end - offset} bytes from byte "
                            f"{offset}, the file has {size - offset}")
                offset, n = end, n + 1
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return ""


def check_shards(shards) -> tuple:
    """``(usable, bad)``: the shards whose framing is intact, and
    ``[(path, reason)]`` for the others."""
    usable, bad = [], []
    for path in shards:
        reason = shard_problem(path)
        (bad.append((path, reason)) if reason else usable.append(path))
    return usable, bad


def find_bad_records(shards, resolution: int, limit: int = 10) -> list:
    """Reads every record of ``shards`` (TensorFlow checks each payload's CRC)
    and decodes its image; returns ``[(path, reason)]`` for the first ``limit``
    shards that fail. Slow (reads everything): used only to explain an error
    raised while training."""
    bad = []
    for path in shards:
        n = 0
        try:
            for rec in tf.data.TFRecordDataset(path):
                parse_example(rec, resolution)
                n += 1
        except (tf.errors.OpError, ValueError) as e:
            msg = re.sub(r"\{\{.*?\}\}|\[Op:[^\]]*\]|\[\[.*?\]\]", "",
                         str(getattr(e, "message", e)))
            msg = " ".join(msg.split())[:200]
            bad.append((path, f"record {n}: {type(e).__name__}: {msg}"))
            if len(bad) >= limit:
                break
    return bad


def encode_example(face: np.ndarray, filename: str = "", image_format: str = "png",
                   quality: int = 95) -> bytes:
    """Serialises one uint8 (H, W, 3) RGB face to a ``tf.train.Example``."""
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[-1] != 3:
        raise ValueError(f"face must be uint8 (H, W, 3), got {face.dtype} {face.shape}")
    bgr = np.ascontiguousarray(face[..., ::-1])
    if image_format == "png":
        ok, buf = cv2.imencode(".png", bgr)
    elif image_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    if not ok:
        raise ValueError(f"could not encode {filename or 'face'} as {image_format}")

    def _bytes(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def _int(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    ex = tf.train.Example(features=tf.train.Features(feature={
        "image": _bytes(buf.tobytes()),
        "height": _int(face.shape[0]),
        "width": _int(face.shape[1]),
        "filename": _bytes(filename.encode("utf-8")),
    }))
    return ex.SerializeToString()


def parse_example(serialized, resolution: int):
    """Graph-mode parser: serialized Example -> uint8 (R, R, 3).

    Faces stored at another size are resized (area when shrinking, bicubic
    when enlarging), so one set of shards serves several resolutions.
    """
    ex = tf.io.parse_single_example(serialized, _FEATURES)
    img = tf.io.decode_image(ex["image"], channels=3, expand_animations=False)
    img = tf.ensure_shape(img, [None, None, 3])
    h, w = tf.shape(img)[0], tf.shape(img)[1]
    same = tf.logical_and(tf.equal(h, resolution), tf.equal(w, resolution))
    bigger = tf.greater_equal(tf.minimum(h, w), resolution)

    def _resized():
        f = tf.cast(img, tf.float32)
        out = tf.cond(
            bigger,
            lambda: tf.image.resize(f, [resolution, resolution], method="area"),
            lambda: tf.image.resize(f, [resolution, resolution], method="bicubic"),
        )
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    img = tf.cond(same, lambda: img, _resized)
    img.set_shape([resolution, resolution, 3])
    return img


def prepare_tfrecords(input_dir, output_dir, resolution: int, shard_size: int = 1000,
                      image_format: str = "png", quality: int = 95, progress: bool = True) -> dict:
    """Writes shards; returns ``{"written", "skipped", "upscaled", "shards", ...}``.

    Raises :class:`DataError` if ``input_dir`` has no readable image (no shard
    is left behind in that case).
    """
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    paths = list_faces(input_dir)
    root = Path(input_dir).expanduser().resolve()
    out = _empty_output_dir(output_dir)
    writer = _ShardWriter(out, shard_size)
    skipped, upscaled = [], []
    try:
        for path in tqdm(paths, desc="prepare", unit="img", disable=not progress):
            try:
                img = read_rgb(path)
            except ImageReadError as e:
                logger.warning("Skipping unreadable image %s", e)
                skipped.append(path)
                continue
            if min(img.shape[:2]) < resolution:
                upscaled.append(path)
            face = to_square(img, resolution)
            writer.write(encode_example(face, os.path.relpath(path, root), image_format, quality))
    finally:
        writer.close()
    _warn_left_out(root, len(paths), skipped, upscaled, resolution)
    if writer.written == 0:
        raise DataError(f"None of the {len(paths)} image files under {str(root)!r} could be read.")
    summary = {
        "input": str(root),
        "resolution": int(resolution),
        "format": image_format,
        "written": writer.written,
        "skipped": [os.path.relpath(p, root) for p in skipped],
        "upscaled": [os.path.relpath(p, root) for p in upscaled],
        "shards": [os.path.basename(s) for s in writer.shards],
    }
    tmp = out / ".prepare.json.tmp"  # renamed into place: its presence means "finished"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "prepare.json")
    return summary


def _empty_output_dir(output_dir) -> Path:
    """``output_dir``, created if needed; DataError if it already holds shards."""
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stale = sorted(out.glob("faces-*.tfrecord"))
    if stale:
        raise DataError(
            f"{str(out)!r} already holds {len(stale)} shard(s) (e.g. {stale[0].name}); "
            "choose an empty output folder."
        )
    return out


class _ShardWriter:
    """Writes records into ``SHARD_PATTERN`` files of ``shard_size`` records each.

    A shard is opened on its first record, so no record means no file.
    """

    def __init__(self, out: Path, shard_size: int):
        self.out, self.shard_size = out, shard_size
        self.written, self.shards = 0, []
        self._writer = None

    def write(self, record: bytes) -> None:
        if self.written % self.shard_size == 0:
            self.close()
            self.shards.append(str(self.out / SHARD_PATTERN.format(len(self.shards))))
            self._writer = tf.io.TFRecordWriter(self.shards[-1])
        self._writer.write(record)
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _warn_left_out(root: Path, total: int, skipped: list, upscaled: list, resolution: int) -> None:
    """One warning for the unreadable files, one for the upscaled ones."""
    if skipped:
        logger.warning("Skipped %d of %d files under %s (unreadable).", len(skipped), total, root)
    if upscaled:
        logger.warning(
            "%d image(s) were smaller than %dx%d and were upscaled: %s%s", len(upscaled),
            resolution, resolution, ", ".join(os.path.basename(p) for p in upscaled[:10]),
            " ..." if len(upscaled) > 10 else "",
        )
