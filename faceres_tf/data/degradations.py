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

import math

import tensorflow as tf

__all__ = [
    "gaussian_kernel",
    "random_gaussian_kernel",
    "blur",
    "resize",
    "add_gaussian_noise",
    "jpeg_compress",
    "color_jitter",
    "to_grayscale",
    "bfr",
    "sr",
    "sr8",
    "sr16",
    "degrade",
    "degrade_pair",
    "DEGRADATIONS",
]

DEGRADATIONS = ("bfr", "sr8", "sr16")

# Tags for stateless_fold_in: one per random draw (never renumber).
_TAG_ISO, _TAG_SX, _TAG_SY, _TAG_THETA = 1, 2, 3, 4
_TAG_SCALE, _TAG_METHOD = 5, 6
_TAG_NOISE_SIGMA, _TAG_NOISE = 7, 8
_TAG_JPEG = 9
_TAG_JITTER_P, _TAG_JITTER = 10, 11
_TAG_GRAY = 12


def _sub(seed, tag: int):
    """Independent child seed (shape [2]) of ``seed`` for the draw ``tag``."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.random.experimental.stateless_fold_in(seed, tag)


def _uniform(seed, tag, lo, hi, dtype=tf.float32):
    return tf.random.stateless_uniform([], _sub(seed, tag), minval=lo, maxval=hi, dtype=dtype)


def _bernoulli(seed, tag, p: float):
    return _uniform(seed, tag, 0.0, 1.0) < p


def _static_hw(image):
    shape = image.shape
    if shape.rank != 3 or shape[-1] != 3:
        raise ValueError(f"Expected one HxWx3 image, got shape {shape}")
    h, w = shape[0], shape[1]
    if h is None or w is None:
        raise ValueError(
            "Degradations need a static spatial size; call image.set_shape([H, W, 3]) "
            f"first (got {shape})"
        )
    return int(h), int(w)


# --------------------------------------------------------------------- blur
def gaussian_kernel(sigma_x, sigma_y, theta, size: int):
    """A (size, size) float32 Gaussian kernel that sums to 1.

    Args:
        sigma_x, sigma_y: standard deviations (pixels) along the kernel's own
            axes; equal values give an isotropic kernel.
        theta: rotation of the kernel's x axis, radians.
        size: odd side length (truncation at radius size // 2).
    """
    if size % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {size}")
    radius = size // 2
    coords = tf.range(-radius, radius + 1, dtype=tf.float32)
    yy, xx = tf.meshgrid(coords, coords, indexing="ij")  # (size, size) each
    c, s = tf.cos(theta), tf.sin(theta)
    u = c * xx + s * yy  # coordinates in the kernel's rotated frame
    v = -s * xx + c * yy
    sx = tf.cast(sigma_x, tf.float32)
    sy = tf.cast(sigma_y, tf.float32)
    q = tf.square(u / sx) + tf.square(v / sy)
    k = tf.exp(-0.5 * q)
    return k / tf.reduce_sum(k)


def random_gaussian_kernel(seed, size: int = 41, sigma_range=(0.1, 10.0), iso_prob: float = 0.5):
    """Random iso/anisotropic Gaussian kernel ([ours], GFPGAN-style).

    With probability ``iso_prob`` sigma_y = sigma_x and theta = 0; otherwise
    sigma_x, sigma_y ~ U(sigma_range) independently and theta ~ U(-pi, pi).
    """
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    sx = _uniform(seed, _TAG_SX, lo, hi)
    sy_aniso = _uniform(seed, _TAG_SY, lo, hi)
    theta_aniso = _uniform(seed, _TAG_THETA, -math.pi, math.pi)
    iso = _bernoulli(seed, _TAG_ISO, iso_prob)
    sy = tf.where(iso, sx, sy_aniso)
    theta = tf.where(iso, 0.0, theta_aniso)
    return gaussian_kernel(sx, sy, theta, size)


def _fft_size(n: int) -> int:
    """Smallest even m >= n whose prime factors are 2, 3 and 5 (fast FFT size)."""
    m = n + (n % 2)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


def blur(image, kernel):
    """Convolves each channel with a point-symmetric 2-D ``kernel`` (k, k).

    Reflect padding, output the input's size. Implemented with a real FFT of
    the padded image (about as fast as a separable 41-tap filter at 512 px and
    12x faster than a 41x41 depthwise conv; exact for the Gaussian kernels
    here, which are symmetric under 180 degree rotation). A kernel larger than
    the image is cropped to fit (radius <= side - 1).
    """
    h, w = _static_hw(image)
    ksize = kernel.shape[0]
    if ksize is None or kernel.shape[1] != ksize or ksize % 2 != 1:
        raise ValueError(f"kernel must be a static odd square, got shape {kernel.shape}")
    radius = min(ksize // 2, h - 1, w - 1)
    if radius < ksize // 2:
        cut = ksize // 2 - radius
        kernel = kernel[cut : ksize - cut, cut : ksize - cut]
        kernel = kernel / tf.reduce_sum(kernel)
    if radius == 0:
        return image
    k = 2 * radius + 1
    # Reflect-pad by the radius, then zero-pad to FFT-friendly sizes: the
    # circular wrap-around then never reaches the cropped centre.
    ph, pw = _fft_size(h + 2 * radius), _fft_size(w + 2 * radius)
    padded = tf.pad(image, [[radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    padded = tf.pad(padded, [[0, ph - h - 2 * radius], [0, pw - w - 2 * radius], [0, 0]])
    chans = tf.transpose(padded, [2, 0, 1])  # (3, ph, pw)
    kpad = tf.pad(tf.cast(kernel, tf.float32), [[0, ph - k], [0, pw - k]])
    kpad = tf.roll(kpad, shift=[-radius, -radius], axis=[0, 1])  # centre at (0, 0)
    spec = tf.signal.rfft2d(chans) * tf.signal.rfft2d(kpad)[None]
    out = tf.signal.irfft2d(spec, fft_length=[ph, pw])  # (3, ph, pw)
    out = tf.transpose(out, [1, 2, 0])[radius : radius + h, radius : radius + w]
    out.set_shape([h, w, 3])
    return out


# ----------------------------------------------------------- other stages
def resize(image, size, method: str = "bilinear", antialias: bool = False):
    """``tf.image.resize`` to ``size`` = (h, w) (ints or int tensors), clipped to [0, 1]."""
    out = tf.image.resize(image, size, method=method, antialias=antialias)
    return tf.clip_by_value(out, 0.0, 1.0)


def add_gaussian_noise(image, sigma_255, seed):
    """Adds N(0, (sigma_255 / 255)^2) i.i.d. per pixel and channel, clips to [0, 1]."""
    sigma = tf.cast(sigma_255, tf.float32) / 255.0
    noise = tf.random.stateless_normal(tf.shape(image), _sub(seed, _TAG_NOISE), dtype=tf.float32)
    return tf.clip_by_value(image + sigma * noise, 0.0, 1.0)


def jpeg_compress(image, quality):
    """JPEG-encodes and decodes ``image`` at ``quality`` (int or int tensor, 0-100).

    The image is quantised to uint8 (0-255) for the codec, as a real JPEG is.
    Needs a static shape: the codec's output shape is restored from it.
    """
    h, w = _static_hw(image)
    q = tf.cast(quality, tf.int32)
    u8 = tf.image.convert_image_dtype(tf.clip_by_value(image, 0.0, 1.0), tf.uint8, saturate=True)
    out = tf.image.adjust_jpeg_quality(u8, q)
    out = tf.image.convert_image_dtype(out, tf.float32)
    out.set_shape([h, w, 3])
    return out


def color_jitter(image, seed, prob: float, shift_255: float):
    """With probability ``prob`` adds a per-channel offset ~ U(-shift, shift)/255."""
    if prob <= 0.0 or shift_255 <= 0.0:
        return image
    shift = tf.random.stateless_uniform(
        [3], _sub(seed, _TAG_JITTER), minval=-shift_255 / 255.0, maxval=shift_255 / 255.0
    )
    apply = _bernoulli(seed, _TAG_JITTER_P, prob)
    out = tf.clip_by_value(image + shift, 0.0, 1.0)
    return tf.where(apply, out, image)


def to_grayscale(image):
    """ITU-R 601 luma, repeated on 3 channels (shape unchanged)."""
    return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])


# --------------------------------------------------------------- pipelines
def bfr(image, seed, cfg_data, resolution: int | None = None):
    """Blind-face-restoration degradation ([ours], GFPGAN chain).

    blur (random iso/aniso Gaussian, ``cfg_data.blur_kernel_size``, sigma ~
    U(``blur_sigma``)) -> resize to round(side / r), r ~ U(``downsample_range``),
    bilinear or area (50/50) -> Gaussian noise sigma ~ U(``noise_range``) on the
    0-255 scale -> JPEG, quality ~ U{``jpeg_range``} (inclusive) -> bilinear
    resize to ``resolution`` (default: the input size) -> colour jitter
    (``color_jitter_prob``, ``color_jitter_shift``).

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
    h, w = _static_hw(image)
    out_hw = (h, w) if resolution is None else (int(resolution), int(resolution))

    kernel = random_gaussian_kernel(seed, int(cfg_data.blur_kernel_size), cfg_data.blur_sigma)
    x = blur(image, kernel)

    lo, hi = float(cfg_data.downsample_range[0]), float(cfg_data.downsample_range[1])
    scale = _uniform(seed, _TAG_SCALE, lo, hi)
    small = tf.stack([
        tf.maximum(1, tf.cast(tf.round(h / scale), tf.int32)),
        tf.maximum(1, tf.cast(tf.round(w / scale), tf.int32)),
    ])
    use_area = _bernoulli(seed, _TAG_METHOD, 0.5)
    x = tf.cond(
        use_area,
        lambda: resize(x, small, "area"),
        lambda: resize(x, small, "bilinear"),
    )

    n_lo, n_hi = float(cfg_data.noise_range[0]), float(cfg_data.noise_range[1])
    sigma = _uniform(seed, _TAG_NOISE_SIGMA, n_lo, n_hi)
    x = add_gaussian_noise(x, sigma, seed)

    q_lo, q_hi = int(cfg_data.jpeg_range[0]), int(cfg_data.jpeg_range[1])
    quality = _uniform(seed, _TAG_JPEG, q_lo, q_hi + 1, dtype=tf.int32)
    u8 = tf.image.convert_image_dtype(x, tf.uint8, saturate=True)  # dynamic-size JPEG
    x = tf.image.convert_image_dtype(tf.image.adjust_jpeg_quality(u8, quality), tf.float32)

    x = resize(x, out_hw, "bilinear")
    x = color_jitter(x, seed, float(cfg_data.color_jitter_prob), float(cfg_data.color_jitter_shift))
    x.set_shape([out_hw[0], out_hw[1], 3])
    return x


def sr(image, factor: int, resolution: int | None = None):
    """Super-resolution degradation [paper]: bicubic (antialiased) down by
    ``factor``, bicubic up to ``resolution`` (default: input size). Not random."""
    h, w = _static_hw(image)
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
    h, w = _static_hw(image)
    target = image
    if resolution is not None and (h, w) != (int(resolution), int(resolution)):
        target = resize(image, (int(resolution), int(resolution)), "area")
    degraded = degrade(image, seed, cfg_data, resolution)
    if cfg_data.gray_prob > 0.0:
        gray = _bernoulli(seed, _TAG_GRAY, float(cfg_data.gray_prob))
        degraded = tf.where(gray, to_grayscale(degraded), degraded)
        target = tf.where(gray, to_grayscale(target), target)
    return degraded, target
