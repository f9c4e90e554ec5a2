"""Adversarial data augmentation: differentiable augmentation of D's inputs.

[paper, Table 7] "adversarial data augmentation" improves every metric; the
paper does not say what it is. [ours] We read it as DiffAugment (Zhao et al.,
2020, "Differentiable Augmentation for Data-Efficient GAN Training"): the real
batch and the restored batch are each augmented, with independently sampled
parameters from the same distribution, right before the discriminator, by
transforms that are differentiable w.r.t. the images so G's gradient passes
through them. Unlike DiffAugment (which always applies every transform), each
transform is applied to each example with probability ``prob``
(``LossConfig.adv_aug_prob``).

Transforms (``LossConfig.adv_aug_policy``, a comma list, applied in this order):

- ``color``: brightness + U(-0.5, 0.5); saturation (x - mean_c) * U(0, 2);
  contrast (x - mean_hwc) * U(0.5, 1.5), each around the per-image mean, on
  [-1, 1] values (DiffAugment's ranges). One coin per example for the group.
- ``translation``: integer shift of up to 1/8 of the side along each axis,
  vacated pixels zero (0 = mid-grey in [-1, 1]) or reflected.
- ``cutout``: a square of half the side, centred uniformly at random (clipped
  at the border), set to zero.

Conventions: float NHWC images in [-1, 1]; output has the same shape and dtype
(color may leave [-1, 1], as in DiffAugment). All randomness is TF ops
(stateful ``tf.random`` by default, stateless when ``seed`` is given), so it
works inside ``tf.function`` and in a ``tf.distribute`` replica context.
"""

from __future__ import annotations

import tensorflow as tf

POLICIES = ("color", "translation", "cutout")  # in _RANDOM_TRANSFORMS below


def parse_policy(policy):
    """Comma string (or sequence) of transform names -> tuple, validated."""
    if isinstance(policy, str):
        names = [p.strip() for p in policy.split(",") if p.strip()]
    else:
        names = [str(p).strip() for p in policy]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(
            f"Unknown adv_augment transform(s) {unknown}; valid: {list(POLICIES)} "
            "(LossConfig.adv_aug_policy is a comma list of them)"
        )
    return tuple(names)


class _Sampler:
    """Draws random tensors, stateless from ``seed`` or from the stateful RNG."""

    def __init__(self, seed):
        self._count = 0
        self._seed = None
        if seed is not None:
            seed = tf.convert_to_tensor(seed)
            if seed.shape.rank == 0:
                seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
            seed = tf.cast(seed, tf.int64)
            # Different replicas must not draw identical augmentations.
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
                seed = tf.random.experimental.stateless_fold_in(seed, rid)
            self._seed = seed

    def _next_seed(self):
        self._count += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._count)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
        if self._seed is None:
            return tf.random.uniform(shape, minval, maxval, dtype=dtype)
        return tf.random.stateless_uniform(
            shape, self._next_seed(), minval, maxval, dtype=dtype
        )


def adv_augment(images, policy="color,translation,cutout", prob=0.5, seed=None,
                pad_mode="zeros"):
    """Differentiable augmentation of a discriminator input batch.

    Call it separately on the real and the restored batch (with different seeds
    when seeded) so their parameters are sampled independently.

    Args:
        images: (B, H, W, C) float images in [-1, 1].
        policy: comma list out of "color", "translation", "cutout".
        prob: probability each transform is applied to each example; 0 returns
            ``images`` unchanged, 1 always applies.
        seed: None (stateful ``tf.random``) or an int / shape-(2,) int tensor for
            stateless, reproducible draws. Under ``tf.distribute`` with several
            replicas the replica id is folded into the seed.
        pad_mode: "zeros" or "reflect" for translation.

    Returns:
        (B, H, W, C) tensor, same dtype.
    """
    names = parse_policy(policy)
    images = tf.convert_to_tensor(images)
    if isinstance(prob, (int, float)):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"adv_augment prob must be in [0, 1], got {prob}")
        if prob == 0 or not names:
            return images
    if images.shape.rank != 4:
        raise ValueError(f"adv_augment expects (B, H, W, C) images, got shape {images.shape}")

    rng = _Sampler(seed)
    x = images
    for name in names:
        apply = rng.uniform([tf.shape(x)[0]]) < tf.cast(prob, tf.float32)  # (B,): this example?
        x = _RANDOM_TRANSFORMS[name](x, apply, rng, pad_mode)
    return x


def _random_color(x, apply, rng, pad_mode):
    """:func:`adjust_color` with DiffAugment's parameter ranges where ``apply``."""
    batch = tf.shape(x)[0]
    b = rng.uniform([batch, 1, 1, 1], -0.5, 0.5)
    s = rng.uniform([batch, 1, 1, 1], 0.0, 2.0)
    c = rng.uniform([batch, 1, 1, 1], 0.5, 1.5)
    aug = adjust_color(x, tf.cast(b, x.dtype), tf.cast(s, x.dtype), tf.cast(c, x.dtype))
    # where (not identity parameters) so unselected examples stay bit-exact.
    return tf.where(tf.reshape(apply, [-1, 1, 1, 1]), aug, x)


def _random_translation(x, apply, rng, pad_mode):
    """:func:`translate` by up to 1/8 of the side along each axis where ``apply``."""
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    max_h = tf.cast(tf.cast(height, tf.float32) / 8.0 + 0.5, tf.int32)
    max_w = tf.cast(tf.cast(width, tf.float32) / 8.0 + 0.5, tf.int32)
    dy = _uniform_int(rng, batch, max_h)
    dx = _uniform_int(rng, batch, max_w)
    shifts = tf.stack([dy, dx], axis=1)  # (B, 2)
    shifts = tf.where(apply[:, None], shifts, tf.zeros_like(shifts))
    return translate(x, shifts, pad_mode=pad_mode)


def _random_cutout(x, apply, rng, pad_mode):
    """:func:`cutout` of a half-side square at a uniform centre where ``apply``."""
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    cy = _uniform_int(rng, batch, height, low=0)
    cx = _uniform_int(rng, batch, width, low=0)
    centers = tf.stack([cy, cx], axis=1)  # (B, 2)
    size = tf.stack([height // 2, width // 2])
    return cutout(x, centers, size, apply=apply)


# name -> fn(images, apply (B,) bool, sampler, pad_mode): one randomised transform.
_RANDOM_TRANSFORMS = {"color": _random_color, "translation": _random_translation, "cutout": _random_cutout}


def _uniform_int(rng, batch, high, low=None):
    """(B,) int32 uniform in [low, high]; low defaults to -high. For low=0, [0, high)."""
    if low is None:
        return tf.cast(
            tf.floor(rng.uniform([batch]) * tf.cast(2 * high + 1, tf.float32)), tf.int32
        ) - high
    span = tf.cast(high - low, tf.float32)
    return tf.cast(tf.floor(rng.uniform([batch]) * span), tf.int32) + low


def adjust_color(images, brightness, saturation, contrast):
    """DiffAugment colour transform with explicit per-example parameters.

    Args:
        images: (B, H, W, C).
        brightness: (B, 1, 1, 1) added offset (0 = identity).
        saturation: (B, 1, 1, 1) factor on the deviation from the channel mean.
        contrast: (B, 1, 1, 1) factor on the deviation from the image mean.
    """
    x = images + brightness
    mean_c = tf.reduce_mean(x, axis=3, keepdims=True)  # (B, H, W, 1)
    x = (x - mean_c) * saturation + mean_c
    mean_all = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)  # (B, 1, 1, 1)
    return (x - mean_all) * contrast + mean_all


def _source_index(n, shift, pad_mode):
    """For output positions 0..n-1 shifted by ``shift`` (B,), the source index
    (B, n) and its validity mask (B, n)."""
    pos = tf.range(n)[None, :] - shift[:, None]  # (B, n) out[i] = in[i - shift]
    if pad_mode == "zeros":
        valid = (pos >= 0) & (pos < n)
        return tf.clip_by_value(pos, 0, n - 1), valid
    # reflect without repeating the edge: -1 -> 1, n -> n-2 (|shift| < n)
    pos = tf.abs(pos)
    pos = tf.where(pos > n - 1, 2 * (n - 1) - pos, pos)
    return tf.clip_by_value(pos, 0, n - 1), tf.ones_like(pos, tf.bool)


def translate(images, shifts, pad_mode="zeros"):
    """Shifts each image by integer (dy, dx): out[y, x] = in[y - dy, x - dx].

    Differentiable w.r.t. ``images`` (gathers). Pixels shifted in from outside
    are 0 ("zeros") or mirrored ("reflect").

    Args:
        images: (B, H, W, C).
        shifts: (B, 2) int32 (dy, dx), |dy| < H, |dx| < W.
        pad_mode: "zeros" or "reflect".
    """
    if pad_mode not in ("zeros", "reflect"):
        raise ValueError(f"pad_mode must be 'zeros' or 'reflect', got {pad_mode!r}")
    shifts = tf.cast(shifts, tf.int32)
    shape = tf.shape(images)
    rows, row_ok = _source_index(shape[1], shifts[:, 0], pad_mode)  # (B, H)
    cols, col_ok = _source_index(shape[2], shifts[:, 1], pad_mode)  # (B, W)
    x = tf.gather(images, rows, axis=1, batch_dims=1)  # (B, H, W, C)
    x = tf.gather(x, cols, axis=2, batch_dims=1)  # (B, H, W, C)
    if pad_mode == "zeros":
        ok = row_ok[:, :, None, None] & col_ok[:, None, :, None]  # (B, H, W, 1)
        x = x * tf.cast(ok, x.dtype)
    return x


def cutout(images, centers, size, apply=None):
    """Zeros a box of ``size`` (h, w) centred at ``centers`` (clipped at borders).

    The box covers rows [cy - h // 2, cy - h // 2 + h) and the same for columns.

    Args:
        images: (B, H, W, C).
        centers: (B, 2) int32 (cy, cx).
        size: (2,) int32 (h, w) of the box.
        apply: optional (B,) bool; examples with False are left unchanged.
    """
    centers = tf.cast(centers, tf.int32)
    size = tf.cast(size, tf.int32)
    shape = tf.shape(images)
    top = centers[:, 0] - size[0] // 2  # (B,)
    left = centers[:, 1] - size[1] // 2
    ys = tf.range(shape[1])[None, :]  # (1, H)
    xs = tf.range(shape[2])[None, :]  # (1, W)
    in_y = (ys >= top[:, None]) & (ys < top[:, None] + size[0])  # (B, H)
    in_x = (xs >= left[:, None]) & (xs < left[:, None] + size[1])  # (B, W)
    inside = in_y[:, :, None, None] & in_x[:, None, :, None]  # (B, H, W, 1)
    if apply is not None:
        inside = inside & tf.reshape(tf.cast(apply, tf.bool), [-1, 1, 1, 1])
    return images * tf.cast(tf.logical_not(inside), images.dtype)
