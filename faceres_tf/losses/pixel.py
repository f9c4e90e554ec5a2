"""Pixel reconstruction loss (the L1 term of L_REC, paper Eq. 10).

Conventions: images are float NHWC (any range, normally [-1, 1]); the result is
one float32 value per example, shape (B,), so a ``tf.distribute`` trainer can
sum it and divide by the global batch.
"""

from __future__ import annotations

from keras import ops


def l1_loss(pred, target):
    """Mean absolute error per example.

    Args:
        pred: (B, H, W, C) restored images.
        target: (B, H, W, C) ground truth, same shape.

    Returns:
        (B,) float32: mean over H, W, C of |pred - target|. The weight
        lambda_pix is applied by :func:`faceres_tf.losses.reconstruction_loss`.
    """
    pred = ops.cast(pred, "float32")
    target = ops.cast(target, "float32")
    diff = ops.abs(pred - target)
    return ops.mean(ops.reshape(diff, (ops.shape(diff)[0], -1)), axis=1)
