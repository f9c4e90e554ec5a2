"""PSNR and SSIM on RGB images (numpy, float64), plus a TF PSNR for training.

Conventions:

* Inputs: ``(H, W, 3)`` RGB (or ``(N, H, W, 3)`` batches, averaged over N),
  uint8 or float on the 0-255 scale. Both images must have the same shape.
  No colour conversion (RGB, not the Y channel) and no border crop.
* Everything is computed in float64.
* ``psnr`` = ``10 log10(data_range^2 / MSE)``, MSE over all pixels and
  channels; equals ``skimage.metrics.peak_signal_noise_ratio(a, b,
  data_range=255)`` up to ``PSNR_MAX_DB``: every value is capped at 100 dB,
  so identical images give 100 dB, not ``inf`` (the rule and its reasons:
  :mod:`faceres_tf.metrics.scorer`).
* ``ssim`` = the Wang et al. (2004) convention, equal to
  ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
  data_range=255, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``: an 11x11 Gaussian window (sigma 1.5,
  truncate 3.5, ``mode="reflect"`` borders), K1 = 0.01, K2 = 0.03, the SSIM
  map cropped by 5 pixels on each side, averaged, then averaged over the 3
  channels.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

_SIGMA = 1.5
_TRUNCATE = 3.5
_K1, _K2 = 0.01, 0.03
PSNR_MAX_DB = 100.0  # the PSNR of identical images (and the cap of every value)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}.")
    if a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB images, got shape {a.shape}.")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a, b, data_range: float = 255.0, max_db: float = PSNR_MAX_DB) -> float:
    """Peak signal-to-noise ratio in dB (higher is better), at most ``max_db``
    (identical images: ``max_db``; pass ``max_db=inf`` for the uncapped value).

    For batches ``(N, H, W, 3)`` returns the mean of the per-image PSNRs
    (the usual reporting convention, not the PSNR of the pooled MSE).
    """
    a, b = _pair(a, b)
    if a.ndim == 4:
        return float(np.mean([psnr(x, y, data_range, max_db) for x, y in zip(a, b)]))
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float(max_db)
    return float(min(10.0 * np.log10(data_range ** 2 / mse), max_db))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    def blur(z):
        return gaussian_filter(z, sigma=_SIGMA, truncate=_TRUNCATE, mode="reflect")

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux  # population (co)variances, Wang et al.
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = int(_TRUNCATE * _SIGMA + 0.5)  # 5: half the 11-tap window
    return float(s[pad:-pad, pad:-pad].mean(dtype=np.float64))


def ssim(a, b, data_range: float = 255.0) -> float:
    """Mean structural similarity (higher is better, 1 for identical images).

    For batches ``(N, H, W, 3)`` returns the mean over images. Images must be
    at least 11x11.
    """
    a, b = _pair(a, b)
    if a.ndim == 4:
        return float(np.mean([ssim(x, y, data_range) for x, y in zip(a, b)]))
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[:2]}.")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], data_range) for c in range(3)]))


def psnr_tf(a, b):
    """PSNR in dB per image for float ``(N, H, W, C)`` tensors in [-1, 1].

    For monitoring inside the training loop. Values are clipped to [-1, 1]
    and mapped to 0-255 (no rounding to uint8), so it agrees with
    :func:`psnr` on ``(x + 1) * 127.5`` to float32 precision, including its
    cap (``PSNR_MAX_DB`` where images are identical). Returns a ``(N,)``
    float32 tensor.
    """
    import tensorflow as tf

    a = (tf.clip_by_value(tf.cast(a, tf.float32), -1.0, 1.0) + 1.0) * 127.5
    b = (tf.clip_by_value(tf.cast(b, tf.float32), -1.0, 1.0) + 1.0) * 127.5
    mse = tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])
    return tf.minimum(10.0 * tf.math.log(255.0 ** 2 / mse) / tf.math.log(10.0), PSNR_MAX_DB)
