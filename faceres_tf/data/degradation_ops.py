"""The stages of the degradation chains, as stateless TensorFlow ops ([ours];
method.md section 5): blur kernels and blur, resize (fixed or drawn kernel),
Gaussian and Poisson noise, JPEG, colour jitter, grayscale, and the random
stages that the chains of :mod:`faceres_tf.data.degradations` compose.

Conventions: those of :mod:`faceres_tf.data.degradations` (one float32
(H, W, 3) image in [0, 1]; ``seed`` an int tensor of shape [2]; sub-seeds by
``stateless_fold_in`` with one fixed tag per draw, never renumbered).
"""

from __future__ import annotations

import math

import tensorflow as tf

# Tags for stateless_fold_in: one per random draw (never renumber).
TAG_ISO, TAG_SX, TAG_SY, TAG_THETA = 1, 2, 3, 4
TAG_SCALE, TAG_METHOD = 5, 6
TAG_NOISE_SIGMA, TAG_NOISE = 7, 8
TAG_JPEG = 9
TAG_JITTER_P, TAG_JITTER = 10, 11
TAG_GRAY = 12
TAG_DOWN_AA, TAG_UP_METHOD = 13, 14
TAG_GRAY_NOISE, TAG_POISSON_P, TAG_POISSON_SCALE = 15, 16, 17
TAG_SECOND, TAG_SECOND_BLUR, TAG_SECOND_NOISE = 18, 19, 20

# Kernels that tf.image.resize can antialias when downsampling.
_ANTIALIASABLE = ("bilinear", "bicubic", "lanczos3")


def sub_seed(seed, tag: int):
    """Independent child seed (shape [2]) of ``seed`` for the draw ``tag``."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.random.experimental.stateless_fold_in(seed, tag)


def uniform(seed, tag, lo, hi, dtype=tf.float32):
    return tf.random.stateless_uniform([], sub_seed(seed, tag), minval=lo, maxval=hi, dtype=dtype)


def bernoulli(seed, tag, p: float):
    return uniform(seed, tag, 0.0, 1.0) < p


def static_hw(image):
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
    sx = uniform(seed, TAG_SX, lo, hi)
    sy_aniso = uniform(seed, TAG_SY, lo, hi)
    theta_aniso = uniform(seed, TAG_THETA, -math.pi, math.pi)
    iso = bernoulli(seed, TAG_ISO, iso_prob)
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
    h, w = static_hw(image)
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


def random_resize(image, size, seed, methods, tag: int, antialias_prob: float = 0.0):
    """Resizes to ``size`` with a kernel drawn uniformly from ``methods``
    (:data:`faceres_tf.config.RESIZE_METHODS`); a bilinear, bicubic or
    lanczos3 kernel is antialiased with probability ``antialias_prob``.

    With one method nothing is drawn. The draw uses ``tag``, so the first
    chain's ("area", "bilinear") coin flip is reproduced exactly.
    """
    methods = tuple(methods)
    if len(methods) == 1 and (antialias_prob <= 0.0 or methods[0] not in _ANTIALIASABLE):
        return resize(image, size, methods[0])
    antialias = bernoulli(seed, TAG_DOWN_AA, antialias_prob) if antialias_prob > 0 else None

    def branch(method):
        if antialias is None or method not in _ANTIALIASABLE:
            return lambda: resize(image, size, method)
        return lambda: tf.cond(antialias, lambda: resize(image, size, method, antialias=True),
                               lambda: resize(image, size, method))

    if len(methods) == 1:
        return branch(methods[0])()
    index = tf.cast(tf.floor(uniform(seed, tag, 0.0, 1.0) * len(methods)), tf.int32)
    index = tf.minimum(index, len(methods) - 1)
    return tf.switch_case(index, [branch(m) for m in methods])


def add_gaussian_noise(image, sigma_255, seed, gray=None):
    """Adds N(0, (sigma_255 / 255)^2) i.i.d. per pixel and channel, clips to [0, 1].

    ``gray`` (a bool tensor, optional): draw one noise channel shared by R, G
    and B instead (grey noise).
    """
    sigma = tf.cast(sigma_255, tf.float32) / 255.0
    noise = tf.random.stateless_normal(tf.shape(image), sub_seed(seed, TAG_NOISE), dtype=tf.float32)
    if gray is not None:
        noise = tf.where(gray, tf.repeat(noise[..., :1], 3, axis=-1), noise)
    return tf.clip_by_value(image + sigma * noise, 0.0, 1.0)


def add_poisson_noise(image, scale, seed, gray=None):
    """Shot noise: (Poisson(255 x) / 255 - x) * ``scale`` added to x, clipped to [0, 1].

    ``gray``: computed on the luma and shared by the channels (optional bool tensor).
    """
    def shot(x):
        lam = tf.maximum(x, 0.0) * 255.0
        counts = tf.random.stateless_poisson(tf.shape(x), sub_seed(seed, TAG_NOISE), lam, dtype=tf.float32)
        return counts / 255.0 - x

    noise = shot(image)
    if gray is not None:
        luma = shot(tf.image.rgb_to_grayscale(image))
        noise = tf.where(gray, tf.repeat(luma, 3, axis=-1), noise)
    return tf.clip_by_value(image + tf.cast(scale, tf.float32) * noise, 0.0, 1.0)


def random_noise(x, seed, cfg_data):
    """Gaussian noise sigma ~ U(``noise_range``) (the first chain), or with
    ``poisson_prob`` Poisson noise; grey with ``gray_noise_prob``."""
    n_lo, n_hi = float(cfg_data.noise_range[0]), float(cfg_data.noise_range[1])
    sigma = uniform(seed, TAG_NOISE_SIGMA, n_lo, n_hi)
    gray_p = float(getattr(cfg_data, "gray_noise_prob", 0.0))
    gray = bernoulli(seed, TAG_GRAY_NOISE, gray_p) if gray_p > 0 else None
    poisson_p = float(getattr(cfg_data, "poisson_prob", 0.0))
    if poisson_p <= 0:
        return add_gaussian_noise(x, sigma, seed, gray)
    s_lo, s_hi = (float(v) for v in cfg_data.poisson_scale)
    scale = uniform(seed, TAG_POISSON_SCALE, s_lo, s_hi)
    return tf.cond(bernoulli(seed, TAG_POISSON_P, poisson_p),
                   lambda: add_poisson_noise(x, scale, seed, gray),
                   lambda: add_gaussian_noise(x, sigma, seed, gray))


def random_jpeg(x, seed, cfg_data):
    """JPEG at quality ~ U{``jpeg_range``} (inclusive) of a dynamic-size image."""
    q_lo, q_hi = int(cfg_data.jpeg_range[0]), int(cfg_data.jpeg_range[1])
    quality = uniform(seed, TAG_JPEG, q_lo, q_hi + 1, dtype=tf.int32)
    u8 = tf.image.convert_image_dtype(x, tf.uint8, saturate=True)
    return tf.image.convert_image_dtype(tf.image.adjust_jpeg_quality(u8, quality), tf.float32)


def second_pass(x, seed, cfg_data):
    """With ``second_order_prob``: blur (sigma ~ U(``second_blur_sigma``)) ->
    noise -> JPEG again at the small size, with independent draws."""
    p = float(getattr(cfg_data, "second_order_prob", 0.0))
    if p <= 0:
        return x
    # The kernel spans +-3 sigma of the widest second blur (the small image
    # must stay larger than its radius for the reflect padding).
    size = min(int(cfg_data.blur_kernel_size), 2 * math.ceil(3 * float(cfg_data.second_blur_sigma[1])) + 1)
    kernel = random_gaussian_kernel(sub_seed(seed, TAG_SECOND_BLUR), size, cfg_data.second_blur_sigma)
    seed2 = sub_seed(seed, TAG_SECOND_NOISE)

    def again():
        y = _blur_dynamic(x, kernel)
        y = random_noise(y, seed2, cfg_data)
        return random_jpeg(y, seed2, cfg_data)

    return tf.cond(bernoulli(seed, TAG_SECOND, p), again, lambda: x)


def _blur_dynamic(image, kernel):
    """Same-size blur of an image whose size is only known at run time
    (reflect padding, then a depthwise convolution)."""
    k = int(kernel.shape[0])
    radius = k // 2
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    filt = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(padded, filt, strides=[1, 1, 1, 1], padding="VALID")
    return out[0]


def jpeg_compress(image, quality):
    """JPEG-encodes and decodes ``image`` at ``quality`` (int or int tensor, 0-100).

    The image is quantised to uint8 (0-255) for the codec, as a real JPEG is.
    Needs a static shape: the codec's output shape is restored from it.
    """
    h, w = static_hw(image)
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
        [3], sub_seed(seed, TAG_JITTER), minval=-shift_255 / 255.0, maxval=shift_255 / 255.0
    )
    apply = bernoulli(seed, TAG_JITTER_P, prob)
    out = tf.clip_by_value(image + shift, 0.0, 1.0)
    return tf.where(apply, out, image)


def to_grayscale(image):
    """ITU-R 601 luma, repeated on 3 channels (shape unchanged)."""
    return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])
