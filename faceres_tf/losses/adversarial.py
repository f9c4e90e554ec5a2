"""Adversarial losses: L_ADV of paper Eq. 10.

[ours, StyleGAN2 standard] The paper does not state its GAN loss; we use the
non-saturating logistic loss with an R1 gradient penalty on real images and
lazy regularisation (Karras et al., 2020, "Analyzing and Improving the Image
Quality of StyleGAN"). Every function returns one float32 value per example,
shape (B,); the ``tf.distribute`` trainer sums and divides by the global batch.

Logits may be shaped (B,) or (B, 1); they are flattened to (B,).
"""

from __future__ import annotations

import inspect

import keras
import tensorflow as tf
from keras import ops


def _flat_logits(logits):
    logits = ops.cast(logits, "float32")
    return ops.reshape(logits, (ops.shape(logits)[0],))  # (B, 1) -> (B,)


def generator_nonsaturating_loss(fake_logits):
    """Non-saturating generator loss softplus(-D(G(x))), shape (B,)."""
    return ops.softplus(-_flat_logits(fake_logits))


def discriminator_logistic_loss(real_logits, fake_logits):
    """Logistic D loss softplus(D(fake)) + softplus(-D(real)), shape (B,).

    Real and fake batches must have the same size B (example i of the result
    pairs real i with fake i; only the batch sum matters).
    """
    return ops.softplus(_flat_logits(fake_logits)) + ops.softplus(-_flat_logits(real_logits))


def r1_penalty(discriminator, real_images, training=True):
    """R1 penalty ||grad_x D(x)||^2 on real images, per example, shape (B,).

    Uses an inner ``tf.GradientTape``; when called under an outer tape that
    watches D's variables, the penalty is differentiable w.r.t. them (double
    backprop), as needed for the D update.

    The un-weighted penalty is returned. With lazy regularisation the trainer
    evaluates it every ``r1_interval`` D steps and multiplies it by
    :func:`lazy_r1_weight` (gamma / 2 * r1_interval) before adding it to the D
    loss. To penalise D on augmented reals (DiffAugment / ADA practice), pass
    ``lambda x, training=True: D(adv_augment(x), training=training)``: the
    gradient is then taken w.r.t. the un-augmented images.

    As in StyleGAN2 the gradient is that of sum_i D(x_i); with a minibatch-std
    layer D(x_i) also depends on x_j, and those cross terms are included.

    Args:
        discriminator: a Keras layer/model (called with ``training=``) or any
            callable mapping (B, H, W, C) images to (B,) or (B, 1) logits.
        real_images: (B, H, W, C) real images in [-1, 1].
        training: forwarded to a Keras discriminator.
    """
    x = tf.convert_to_tensor(real_images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = _call(discriminator, x, training)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    grads = tf.cast(tape.gradient(total, x), tf.float32)  # (B, H, W, C)
    rank = len(grads.shape)
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, rank)))


def lazy_r1_weight(gamma, interval):
    """Weight of the lazily evaluated R1 term: gamma * 0.5 * interval.

    [ours, StyleGAN2] gamma=10, interval=16 (``LossConfig.r1_gamma`` /
    ``LossConfig.r1_interval``). With interval=1 this is the plain gamma/2.
    """
    if interval < 1:
        raise ValueError(f"r1_interval must be >= 1, got {interval}")
    return float(gamma) * 0.5 * float(interval)


def _call(fn, x, training):
    """Calls ``fn(x, training=...)`` when it accepts ``training``, else ``fn(x)``."""
    if isinstance(fn, keras.Layer):
        return fn(x, training=training)
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return fn(x)
    if any(p.name == "training" or p.kind == p.VAR_KEYWORD for p in params):
        return fn(x, training=training)
    return fn(x)
