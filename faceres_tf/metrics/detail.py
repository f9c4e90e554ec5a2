"""Detail: Laplacian energy of an image relative to its ground truth [ours].

A restoration that is too soft has little high-frequency energy; one that
invents texture or noise has too much. The measure:

* ``gray(x)`` = ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an RGB
  image on the 0-255 scale, float64;
* ``laplacian_energy(x)`` = the variance of the 5-point Laplacian
  ``g[y-1,x] + g[y+1,x] + g[y,x-1] + g[y,x+1] - 4 g[y,x]`` over the interior
  pixels (the 1-px border, where a neighbour is missing, is left out);
* ``detail_ratio(images, targets)`` = the mean over image pairs of
  ``laplacian_energy(image) / laplacian_energy(target)``: 1 = as much detail
  as the ground truth, < 1 softer, > 1 more (noise, artefacts or texture).

Inputs: ``(H, W, 3)`` or ``(N, H, W, 3)`` RGB, uint8 or float on the
0-255 scale, at least 3 x 3 pixels. A flat target (zero energy) is an error:
the ratio is undefined.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gray", "laplacian_energy", "detail_ratio", "detail_ratios"]

_LUMA = np.array([0.299, 0.587, 0.114])


def _batch(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3 or min(x.shape[1:3]) < 3:
        raise ValueError(f"{name}: expected (H, W, 3) or (N, H, W, 3) RGB images of at least "
                         f"3 x 3 pixels, got shape {np.asarray(x).shape}.")
    return x.astype(np.float64)


def gray(images) -> np.ndarray:
    """BT.601 luma of RGB ``images`` (N, H, W, 3) -> (N, H, W) float64."""
    return _batch(images, "images") @ _LUMA


def laplacian_energy(images) -> np.ndarray:
    """Variance of the 5-point Laplacian of each image's luma (interior pixels): (N,)."""
    g = gray(images)
    lap = (g[:, :-2, 1:-1] + g[:, 2:, 1:-1] + g[:, 1:-1, :-2] + g[:, 1:-1, 2:]
           - 4.0 * g[:, 1:-1, 1:-1])
    return lap.reshape(len(lap), -1).var(axis=1)


def detail_ratios(images, targets) -> np.ndarray:
    """Per pair ``laplacian_energy(image) / laplacian_energy(target)``: (N,)."""
    images, targets = _batch(images, "images"), _batch(targets, "targets")
    if images.shape != targets.shape:
        raise ValueError(f"images and targets must have the same shape, got {images.shape} "
                         f"and {targets.shape}.")
    ref = laplacian_energy(targets)
    if (ref <= 0).any():
        raise ValueError(f"{int((ref <= 0).sum())} target(s) are flat (no Laplacian energy); "
                         "the detail ratio is undefined for them.")
    return laplacian_energy(images) / ref


def detail_ratio(images, targets) -> float:
    """Mean of :func:`detail_ratios` over the pairs."""
    return float(np.mean(detail_ratios(images, targets)))
