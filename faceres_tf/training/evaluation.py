"""Periodic evaluation during training: PSNR / SSIM of the EMA generator on
the fixed validation pairs, next to the same metrics of the degraded inputs
(so "it learns" is visible: restored PSNR must beat degraded PSNR)."""

from __future__ import annotations

import os

import numpy as np

from faceres_tf.image_io import float_to_uint8 as to_uint8  # [-1, 1] -> uint8; kept name
from faceres_tf.image_io import write_image


def restore_batches(generator, degraded, batch_size: int = 16, seed: int = -1) -> np.ndarray:
    """Runs ``generator`` over ``degraded`` in batches (seed -1: zero noise)."""
    out = []
    for i in range(0, len(degraded), batch_size):
        x = degraded[i:i + batch_size]
        seeds = np.full(len(x), seed, np.int32)
        out.append(np.asarray(generator({"image": x, "noise_seed": seeds}, training=False)))
    return np.concatenate(out, axis=0)


def evaluate_restoration(generator, degraded, target, batch_size: int = 16) -> dict:
    """Mean PSNR/SSIM (RGB, 0-255) of restored and of degraded vs target."""
    from faceres_tf.metrics.psnr_ssim import psnr, ssim

    restored = to_uint8(restore_batches(generator, degraded, batch_size))
    deg, tgt = to_uint8(degraded), to_uint8(target)
    return {
        "psnr_restored": float(np.mean([psnr(r, t) for r, t in zip(restored, tgt)])),
        "psnr_degraded": float(np.mean([psnr(d, t) for d, t in zip(deg, tgt)])),
        "ssim_restored": float(np.mean([ssim(r, t) for r, t in zip(restored, tgt)])),
        "ssim_degraded": float(np.mean([ssim(d, t) for d, t in zip(deg, tgt)])),
        "num_faces": int(len(tgt)),
    }


def save_grid(path: os.PathLike, *columns) -> np.ndarray:
    """Saves one row per face, one column per array (e.g. degraded | restored |
    target), all [-1, 1] float (N, H, W, 3). Returns the uint8 grid."""
    cols = [to_uint8(c) for c in columns]
    rows = [np.concatenate([c[i] for c in cols], axis=1) for i in range(len(cols[0]))]
    grid = np.concatenate(rows, axis=0)
    write_image(path, grid, overwrite=True)
    return grid
