"""Exponential moving average of the generator's weights ([ours], StyleGAN2).

The EMA generator is what evaluation, sampling and export use. Its decay per
step follows StyleGAN2's half-life in images:
beta = 0.5 ** (global_batch / half_life_images).
"""

from __future__ import annotations

import tensorflow as tf


def ema_beta(global_batch: int, half_life_images: float) -> float:
    if half_life_images <= 0:
        return 0.0
    return 0.5 ** (float(global_batch) / float(half_life_images))


def update_ema(source, target, beta) -> None:
    """Trainable weights: t <- beta * t + (1 - beta) * s; other weights copied.

    Call in cross-replica context (after ``strategy.run``): every replica's
    copy of a mirrored variable then receives the same value.
    """
    trainable = {id(v) for v in source.trainable_weights}
    with tf.name_scope("ema"):  # profilers attribute these ops to the EMA
        for s, t in zip(source.weights, target.weights):
            s_val = tf.convert_to_tensor(s)
            if id(s) in trainable:
                t.assign(s_val + (tf.convert_to_tensor(t) - s_val) * beta)
            else:
                t.assign(s_val)
