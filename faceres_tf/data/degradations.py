"""Synthetic degradations written as TensorFlow ops ([ours]; method.md section 5).

The paper does not publish its degradation model, so we use the de-facto
GFPGAN chain that every blind-face-restoration peer uses:

    y -> Gaussian blur (isotropic or anisotropic) -> downsample by r
      -> Gaussian noise -> JPEG -> resize back to R
      [-> colour jitter] [-> grayscale, applied to input AND target]

and the two super-resolution settings of the paper (SR x8, SR x16: bicubic
down, bicubic up).

Conventions (every public function here):

* An image is ONE float32 tensor of shape (H, W, 3), RGB, values in [0, 1].
  Batches are not accepted: ``tf.data`` maps per element, and per-image random
  parameters are the point. The returned tensor is float32 in [0, 1].
* Randomness is stateless: every random function takes ``seed``, an int32 or
  int64 tensor of shape [2]. The same image and seed give the same output, in
  eager mode, inside ``tf.function`` and inside ``tf.data`` (graph-mode safe).
  Independent sub-seeds are derived with ``stateless_fold_in`` and a fixed tag
  per random draw, so adding a new draw never changes the existing ones.
* Spatial size must be static (it is, inside the pipeline, where every image
  is first resized to R x R); the blur kernel is truncated to fit images
  smaller than it.

Ranges come from :class:`faceres_tf.config.DataConfig` (the GFPGAN values at
R = 512 by default). They are in pixels of the image given, whatever its size:
at small R (e.g. 64) the default ranges destroy most of the face; use smaller
ranges there.
"""

from __future__ import annotations

import tensorflow as tf

from faceres_tf.data.degradation_ops import (
    TAG_GRAY,
    TAG_METHOD,
    TAG_SCALE,
    TAG_UP_METHOD,
    bernoulli,
    blur,
    color_jitter,
    random_gaussian_kernel,
    random_jpeg,
    random_noise,
    random_resize,
    resize,
    second_pass,
    static_hw,
    to_grayscale,
    uniform,
)

__all__ = ["bfr", "sr", "sr8", "sr16", "degrade", "degrade_pair", "DEGRADATIONS"]

DEGRADATIONS = ("bfr", "sr8", "sr16")


# --------------------------------------------------------------- pipelines
def bfr(image, seed, cfg_data, resolution: int | None = None):
    """Blind-face-restoration degradation ([ours], GFPGAN chain, widened after
    Real-ESRGAN; method.md section 5).

    blur (random iso/aniso Gaussian, ``cfg_data.blur_kernel_size``, sigma ~
    U(``blur_sigma``)) -> resize to round(side / r), r ~ U(``downsample_range``),
    kernel drawn from ``resize_down_methods`` (antialiased with
    ``resize_antialias_prob``) -> noise: Gaussian sigma ~ U(``noise_range``) on
    the 0-255 scale, or Poisson with ``poisson_prob``; grey with
    ``gray_noise_prob`` -> JPEG, quality ~ U{``jpeg_range``} (inclusive) ->
    with ``second_order_prob`` a second blur -> noise -> JPEG -> resize to
    ``resolution`` (default: the input size) with a kernel drawn from
    ``resize_up_methods`` -> colour jitter (``color_jitter_prob``,
    ``color_jitter_shift``). The defaults are the first chain, draw for draw.

    Grayscale is NOT applied here: it must change the target too, see
    :func:`degrade_pair`.

    Args:
        image: float32 (H, W, 3) in [0, 1], static H and W.
        seed: int tensor of shape [2].
        cfg_data: a :class:`faceres_tf.config.DataConfig`.
        resolution: output side R; defaults to H (then output is H x W).
    Returns:
        float32 (R, R, 3) in [0, 1].
    """
    h, w = static_hw(image)
    out_hw = (h, w) if resolution is None else (int(resolution), int(resolution))

    kernel = random_gaussian_kernel(seed, int(cfg_data.blur_kernel_size), cfg_data.blur_sigma)
    x = blur(image, kernel)

    lo, hi = float(cfg_data.downsample_range[0]), float(cfg_data.downsample_range[1])
    scale = uniform(seed, TAG_SCALE, lo, hi)
    small = tf.stack([
        tf.maximum(1, tf.cast(tf.round(h / scale), tf.int32)),
        tf.maximum(1, tf.cast(tf.round(w / scale), tf.int32)),
    ])
    x = random_resize(x, small, seed, cfg_data.resize_down_methods, TAG_METHOD,
                      float(cfg_data.resize_antialias_prob))
    x = random_noise(x, seed, cfg_data)
    x = random_jpeg(x, seed, cfg_data)
    x = second_pass(x, seed, cfg_data)
    x = random_resize(x, out_hw, seed, cfg_data.resize_up_methods, TAG_UP_METHOD)
    x = color_jitter(x, seed, float(cfg_data.color_jitter_prob), float(cfg_data.color_jitter_shift))
    x.set_shape([out_hw[0], out_hw[1], 3])
    return x


def sr(image, factor: int, resolution: int | None = None):
    """Super-resolution degradation [paper]: bicubic (antialiased) down by
    ``factor``, bicubic up to ``resolution`` (default: input size). Not random."""
    h, w = static_hw(image)
    out_hw = (h, w) if resolution is None else (int(resolution), int(resolution))
    small = (max(1, h // factor), max(1, w // factor))
    x = resize(image, small, "bicubic", antialias=True)
    x = resize(x, out_hw, "bicubic")
    x.set_shape([out_hw[0], out_hw[1], 3])
    return x


def sr8(image, seed=None, cfg_data=None, resolution: int | None = None):
    """SR x8 [paper]: R -> R/8 -> R (``seed``/``cfg_data`` accepted, unused)."""
    del seed, cfg_data
    return sr(image, 8, resolution)


def sr16(image, seed=None, cfg_data=None, resolution: int | None = None):
    """SR x16 [paper]: R -> R/16 -> R (``seed``/``cfg_data`` accepted, unused)."""
    del seed, cfg_data
    return sr(image, 16, resolution)


_BY_NAME = {"bfr": bfr, "sr8": sr8, "sr16": sr16}


def degrade(image, seed, cfg_data, resolution: int | None = None):
    """Degraded input for ``cfg_data.degradation`` ("bfr", "sr8", "sr16").

    Returns the degraded image only (float32 (R, R, 3) in [0, 1]); grayscale is
    not applied (see :func:`degrade_pair`).
    """
    name = cfg_data.degradation
    if name not in _BY_NAME:
        raise ValueError(f"data.degradation must be one of {DEGRADATIONS}, got {name!r}")
    return _BY_NAME[name](image, seed, cfg_data, resolution)


def degrade_pair(image, seed, cfg_data, resolution: int | None = None):
    """``(degraded, target)`` training pair from a clean image ([ours]).

    ``target`` is ``image`` resized to ``resolution`` if needed. With
    probability ``cfg_data.gray_prob`` BOTH are converted to grayscale (after
    the colour jitter), so the network is never asked to invent colour; this is
    GFPGAN's convention. Both float32 (R, R, 3) in [0, 1].
    """
    h, w = static_hw(image)
    target = image
    if resolution is not None and (h, w) != (int(resolution), int(resolution)):
        target = resize(image, (int(resolution), int(resolution)), "area")
    degraded = degrade(image, seed, cfg_data, resolution)
    if cfg_data.gray_prob > 0.0:
        gray = bernoulli(seed, TAG_GRAY, float(cfg_data.gray_prob))
        degraded = tf.where(gray, to_grayscale(degraded), degraded)
        target = tf.where(gray, to_grayscale(target), target)
    return degraded, target
