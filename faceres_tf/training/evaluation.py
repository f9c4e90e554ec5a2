"""Periodic evaluation during training: PSNR / SSIM of the EMA generator on
the fixed validation pairs, next to the same metrics of the degraded inputs
(so "it learns" is visible: restored PSNR must beat degraded PSNR)."""

from __future__ import annotations

import os

import numpy as np

from faceres_tf.image_io import float_to_uint8, write_image
from faceres_tf.metrics.scorer import score_set


def restore_batches(generator, degraded, batch_size: int = 16, seed: int = -1) -> np.ndarray:
    """Runs ``generator`` over ``degraded`` in batches (seed -1: zero noise)."""
    out = []
    for i in range(0, len(degraded), batch_size):
        x = degraded[i:i + batch_size]
        seeds = np.full(len(x), seed, np.int32)
        out.append(np.asarray(generator({"image": x, "noise_seed": seeds}, training=False)))
    return np.concatenate(out, axis=0)


def evaluate_restoration(generator, degraded, target, batch_size: int = 16) -> dict:
    """Mean PSNR/SSIM (RGB, 0-255) of restored and of degraded vs target
    (:func:`faceres_tf.metrics.scorer.score_set`)."""
    restored = float_to_uint8(restore_batches(generator, degraded, batch_size))
    tgt = float_to_uint8(target)
    score = score_set(restored, tgt, ("psnr", "ssim"), degraded=float_to_uint8(degraded))
    return {
        "psnr_restored": score.metrics["psnr"],
        "psnr_degraded": score.inputs.metrics["psnr"],
        "ssim_restored": score.metrics["ssim"],
        "ssim_degraded": score.inputs.metrics["ssim"],
        "num_faces": int(len(tgt)),
    }


def save_grid(path: os.PathLike, *columns) -> np.ndarray:
    """Saves one row per face, one column per array (e.g. degraded | restored |
    target), all [-1, 1] float (N, H, W, 3). Returns the uint8 grid."""
    cols = [float_to_uint8(c) for c in columns]
    rows = [np.concatenate([c[i] for c in cols], axis=1) for i in range(len(cols[0]))]
    grid = np.concatenate(rows, axis=0)
    write_image(path, grid, overwrite=True)
    return grid
