"""tf.data input pipeline: clean faces -> (degraded, target) training pairs.

Output convention: ``(degraded, target)``, both float32 (B, R, R, 3) in
[-1, 1], RGB, NHWC, with R = ``cfg.model.resolution``.

Sources (auto-detected from the folder):

* a folder with ``*.tfrecord`` shards (made by ``faceres_tf.data.prepare``).
  Every shard's record framing is checked before use (cheap): a truncated or
  garbled shard is skipped with a warning naming it; image files beside the
  shards are reported (they are not read). A payload damaged inside an intact
  frame stops training with an error naming the shard
  (:func:`explain_data_error`), after the checkpoint is written;
* otherwise a folder of images (``faceres_tf.image_io``, recursive). Files are
  validated before training (one warning per unreadable file, a summary count,
  :class:`DataError` naming the folder if none is readable); images are
  centre-cropped and resized to R x R (smaller ones upscaled, with a warning).
  Decoded faces are cached in memory when they fit in ``CACHE_MAX_BYTES``.

Determinism: with the same ``seed`` the stream is identical run to run. The
shuffle is seeded, and each element's flip and degradation use the stateless
seed ``fold_in([seed, input_pipeline_id], element_index)``, the index counting
elements after repeat, so every epoch sees new degradations.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from faceres_tf.data import degradations
from faceres_tf.data.faces import DataError, list_faces, load_face, scan_images
from faceres_tf.data.tfrecords import check_shards, find_bad_records, list_shards, parse_example
from faceres_tf.image_io import IMAGE_EXTENSIONS, ImageReadError

logger = logging.getLogger("faceres_tf.data")

__all__ = [
    "CACHE_MAX_BYTES",
    "DataError",
    "resolve_folder",
    "check_data_source",
    "clean_dataset",
    "explain_data_error",
    "make_dataset",
    "load_validation_pairs",
]

# Decoded R x R uint8 faces are cached in RAM when n * R * R * 3 stays below this.
CACHE_MAX_BYTES = 512 * 1024 * 1024

_warned_in_pipeline: set = set()
_warned_lock = threading.Lock()


def resolve_folder(folder) -> Path:
    """``folder`` as an absolute path (relative ones against the current dir)."""
    return Path(os.path.abspath(os.path.expanduser(str(folder))))


def _load_for_tf(path_bytes, resolution):
    """numpy_function body: (uint8 (R, R, 3), ok). Never raises."""
    path = path_bytes.decode("utf-8") if isinstance(path_bytes, bytes) else str(path_bytes)
    r = int(resolution)
    try:
        return load_face(path, r), np.bool_(True)
    except (ImageReadError, OSError, ValueError) as e:
        with _warned_lock:
            first = path not in _warned_in_pipeline
            _warned_in_pipeline.add(path)
        if first:
            logger.warning("Skipping unreadable image %s", e)
        return np.zeros((r, r, 3), np.uint8), np.bool_(False)


def _is_ok(img, ok):
    del img
    return ok


def _drop_flag(img, ok):
    del ok
    return img


def _image_source(folder: Path, resolution, shuffle, seed, num_shards, shard_index):
    paths = list_faces(folder)
    scan = scan_images(paths, resolution=resolution, folder=folder)
    files = scan.valid
    if len(files) < num_shards:
        raise DataError(
            f"{str(folder)!r} has {len(files)} readable image(s), fewer than the "
            f"{num_shards} input pipelines; add images or use fewer workers."
        )
    files = files[shard_index::num_shards]
    n = len(files)
    cache = n * resolution * resolution * 3 <= CACHE_MAX_BYTES
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
    if shuffle and not cache:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    def _decode(path):
        img, ok = tf.numpy_function(
            _load_for_tf, [path, resolution], [tf.uint8, tf.bool], stateful=False
        )
        img.set_shape([resolution, resolution, 3])
        ok.set_shape([])
        return img, ok

    ds = ds.map(_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(_is_ok).map(_drop_flag)
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds


def _tfrecord_source(shards, resolution, shuffle, seed, num_shards, shard_index, buffer):
    files = tf.data.Dataset.from_tensor_slices(tf.constant(shards, tf.string))
    per_file = len(shards) >= num_shards
    if per_file and num_shards > 1:
        files = files.shard(num_shards, shard_index)
    if shuffle:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, len(shards)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if not per_file and num_shards > 1:
        ds = ds.shard(num_shards, shard_index)
    ds = ds.map(lambda s: parse_example(s, resolution), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def clean_dataset(folder, resolution: int, *, shuffle: bool = False, seed: int = 0,
                  num_shards: int = 1, shard_index: int = 0, shuffle_buffer: int = 1000):
    """Dataset of clean faces, uint8 (R, R, 3), one pass (not repeated).

    ``folder`` holds ``*.tfrecord`` shards or images (see module docstring).
    ``num_shards`` / ``shard_index`` split the files between input pipelines.
    """
    folder = resolve_folder(folder)
    shards = list_shards(folder)
    if shards:
        shards = usable_shards(folder, shards)
        logger.info("Reading %d TFRecord shard(s) from %s", len(shards), folder)
        return _tfrecord_source(shards, resolution, shuffle, seed, num_shards, shard_index,
                                shuffle_buffer)
    return _image_source(folder, resolution, shuffle, seed, num_shards, shard_index)


def _count_images(folder: Path) -> int:
    exts = {e.lower() for e in IMAGE_EXTENSIONS}
    return sum(1 for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def usable_shards(folder, shards) -> list:
    """The shards of ``folder`` whose framing is intact.

    Each damaged shard gets one warning naming it and the problem and is left
    out (the others are used); :class:`DataError` naming the folder when none
    is usable. A folder holding both shards and image files is reported: only
    the shards are read.
    """
    folder = Path(folder)
    good, bad = check_shards(shards)
    for path, reason in bad:
        logger.warning("Skipping damaged TFRecord shard %s: %s", path, reason)
    if not good:
        raise DataError(
            f"None of the {len(shards)} TFRecord shard(s) under {str(folder)!r} is usable "
            f"(e.g. {bad[0][0]}: {bad[0][1]}); re-create them with "
            "`python -m faceres_tf.data.prepare`."
        )
    if bad:
        logger.warning("Using %d of %d TFRecord shard(s) under %s; %d skipped as damaged.",
                       len(good), len(shards), folder, len(bad))
    warn_unfinished_prepare(shards)
    images = _count_images(folder)
    if images:
        logger.warning(
            "%s holds %d TFRecord shard(s) and %d image file(s): only the shards are read, the "
            "images are NOT used. Move the images to their own folder, or add them to the "
            "shards with `python -m faceres_tf.data.prepare`.", folder, len(shards), images)
    return good


def warn_unfinished_prepare(shards) -> None:
    """One warning per folder of ``faceres-prepare`` shards (``faces-NNNNN``)
    whose ``prepare.json`` is missing (the preparation was interrupted, so
    faces are missing) or lists other shards than those present."""
    folders: dict = {}
    for s in shards:
        if Path(s).name.startswith("faces-"):
            folders.setdefault(Path(s).parent, set()).add(Path(s).name)
    for folder, names in sorted(folders.items()):
        record = folder / "prepare.json"
        if not record.is_file():
            logger.warning(
                "%s holds %d faceres-prepare shard(s) but no prepare.json: the preparation did "
                "not finish (interrupted?), so faces are probably missing. Training uses the "
                "shards as they are; rerun `faceres-prepare` into an empty folder for all faces.",
                folder, len(names))
            continue
        try:
            listed = set(json.loads(record.read_text()).get("shards", []))
        except (OSError, ValueError, AttributeError):
            logger.warning("%s: unreadable prepare.json; the shards are used as they are.", folder)
            continue
        if listed != names:
            logger.warning("%s: prepare.json lists %d shard(s), %d are here (missing: %s; "
                           "extra: %s); the shards present are used.", folder, len(listed),
                           len(names), sorted(listed - names)[:5] or "none",
                           sorted(names - listed)[:5] or "none")


def check_data_source(folder, what: str = "data folder") -> str:
    """Checks, before anything is created, that ``folder`` can feed training:
    usable TFRecord shards or at least one image file. Returns "tfrecord" or
    "images"; raises :class:`DataError` naming ``what`` and the folder."""
    path = resolve_folder(folder)
    if not path.is_dir():
        raise DataError(f"{what}: {str(path)!r} does not exist or is not a folder; give a folder "
                        "of aligned face images or of TFRecord shards.")
    shards = list_shards(path)
    if shards:
        usable_shards(path, shards)
        return "tfrecord"
    list_faces(path)  # DataError naming the folder when it holds no image
    return "images"


def explain_data_error(folder, resolution: int, error: Exception) -> Exception:
    """Turns a TensorFlow error raised by the input pipeline into a
    :class:`DataError` naming the damaged shard(s) of ``folder`` when it can
    find them (reads every record, so only on the error path)."""
    path = resolve_folder(folder)
    shards = list_shards(path)
    bad = find_bad_records(shards, int(resolution)) if shards else []
    if not bad:
        return error
    names = "; ".join(f"{p}: {r}" for p, r in bad)
    return DataError(f"damaged training data in {len(bad)} TFRecord shard(s): {names}. Remove or "
                     "re-create them (`python -m faceres_tf.data.prepare`), then rerun to resume.")


def _pair_fn(cfg, base_seed, flip: bool):
    resolution = int(cfg.model.resolution)
    hflip = flip and bool(cfg.data.hflip)

    def fn(index, img_u8):
        seed = tf.random.experimental.stateless_fold_in(base_seed, index)
        img = tf.image.convert_image_dtype(img_u8, tf.float32)  # [0, 1]
        if hflip:
            do = tf.random.stateless_uniform(
                [], tf.random.experimental.stateless_fold_in(seed, 1000)) < 0.5
            img = tf.cond(do, lambda: tf.reverse(img, axis=[1]), lambda: img)
        deg_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        degraded, target = degradations.degrade_pair(img, deg_seed, cfg.data, resolution)
        return degraded * 2.0 - 1.0, target * 2.0 - 1.0

    return fn


def make_dataset(cfg, split: str = "train", batch_size: int | None = None, seed: int = 0,
                 input_context: tf.distribute.InputContext | None = None,
                 repeat: bool = True, folder=None) -> tf.data.Dataset:
    """``(degraded, target)`` batches for training or evaluation.

    Args:
        cfg: a :class:`faceres_tf.config.Config` (uses ``model.resolution``,
            ``data.*``, ``train.batch_size``).
        split: "train" (shuffle, random flip if ``data.hflip``, drop the last
            partial batch) or "val" (file order, no flip, keep partial batch).
        batch_size: GLOBAL batch size (default ``cfg.train.batch_size``); with
            ``input_context`` each pipeline yields the per-replica share.
        seed: fixes shuffle order, flips and degradations.
        input_context: from ``strategy.distribute_datasets_from_function``;
            files are sharded over ``num_input_pipelines``.
        repeat: repeat forever.
        folder: overrides ``cfg.data.train_dir`` / ``cfg.data.val_dir``;
            relative paths are resolved against the current directory.
    Returns:
        ``tf.data.Dataset`` of float32 pairs (B, R, R, 3) in [-1, 1].
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    train = split == "train"
    if folder is None:
        folder = cfg.data.train_dir if train else cfg.data.val_dir
    resolution = int(cfg.model.resolution)
    global_bs = int(batch_size if batch_size is not None else cfg.train.batch_size)
    if global_bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {global_bs}")
    num_shards, shard_index, per_bs = 1, 0, global_bs
    if input_context is not None:
        num_shards = input_context.num_input_pipelines
        shard_index = input_context.input_pipeline_id
        per_bs = input_context.get_per_replica_batch_size(global_bs)

    ds = clean_dataset(folder, resolution, shuffle=train, seed=seed, num_shards=num_shards,
                       shard_index=shard_index, shuffle_buffer=int(cfg.data.shuffle_buffer))
    if repeat:
        ds = ds.repeat()
    ds = ds.enumerate()
    base_seed = tf.constant([seed, shard_index], tf.int64)
    ds = ds.map(_pair_fn(cfg, base_seed, flip=train), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    ds = ds.batch(per_bs, drop_remainder=train)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_validation_pairs(cfg, folder=None, num: int | None = None, seed: int = 1234):
    """Fixed ``(degraded, target)`` numpy arrays for periodic evaluation.

    The first ``num`` (default ``cfg.train.num_val``) readable faces of
    ``folder`` (default ``cfg.data.val_dir``) in sorted order, degraded with
    ``seed``: the same arrays on every call. float32 (N, R, R, 3) in [-1, 1].
    Identical to the first batch of ``make_dataset(cfg, "val", num, seed)``.
    """
    if folder is None:
        folder = cfg.data.val_dir
    num = int(num if num is not None else cfg.train.num_val)
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    ds = make_dataset(cfg, split="val", batch_size=num, seed=seed, repeat=False, folder=folder)
    for degraded, target in ds.take(1):
        degraded, target = degraded.numpy(), target.numpy()
        if degraded.shape[0] < num:
            logger.warning("Only %d validation faces under %s (asked for %d).",
                           degraded.shape[0], resolve_folder(folder), num)
        return degraded, target
    raise DataError(f"No validation faces could be read from {str(resolve_folder(folder))!r}.")
