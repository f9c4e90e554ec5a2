"""Minibatch standard deviation [paper: "minibatch discrimination layer"
(Karras et al.) replaces AttentionPooling in the discriminator; details ours,
StyleGAN2].

Samples are split into groups of ``group_size`` (clipped to the largest divisor
of the batch not above it); for each group, the std over the group of every
feature is averaged over pixels and channels (per feature slice) and appended
as ``num_features`` constant feature maps.
"""

from __future__ import annotations

import keras
from keras import ops


def _group_size(batch, group_size):
    """Largest g <= group_size dividing ``batch`` (an int, or a scalar int tensor
    when the batch size is only known at run time)."""
    if isinstance(batch, int):  # static batch: a Python constant (XLA needs one)
        return max(g for g in range(1, group_size + 1) if batch % g == 0 and g <= batch)
    candidates = ops.arange(1, group_size + 1, dtype="int32")
    batch = ops.cast(batch, "int32")
    ok = ops.logical_and(ops.equal(ops.mod(batch, candidates), 0), candidates <= batch)
    return ops.max(ops.where(ok, candidates, ops.ones_like(candidates)))


@keras.saving.register_keras_serializable(package="faceres_tf")
class MinibatchStd(keras.layers.Layer):
    """Appends minibatch-std feature maps.

    Args:
        group_size: samples per group (StyleGAN2: 4).
        num_features: number of appended maps (channels are split into this
            many slices; StyleGAN2: 1).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C) -> (B, H, W, C + num_features).

    Precision: the statistics are computed in float32 whatever the compute
    dtype (a variance of bfloat16 values loses most of its 8 mantissa bits),
    then cast back. Written in ``keras.ops`` (runs under TF and JAX).
    """

    def __init__(self, group_size=4, num_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_features = int(num_features)

    def call(self, x):
        shape = ops.shape(x)
        n, h, w = shape[0], shape[1], shape[2]
        c = x.shape[-1]
        f = self.num_features
        g = _group_size(x.shape[0] if x.shape[0] is not None else n, self.group_size)
        y = ops.reshape(ops.cast(x, "float32"), (g, -1, h, w, f, c // f))  # (G, M, H, W, F, C/F)
        y = y - ops.mean(y, axis=0)  # deviation from the group mean
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # (M, H, W, F, C/F)
        y = ops.mean(y, axis=(1, 2, 4))  # (M, F)
        y = ops.reshape(y, (-1, 1, 1, f))  # (M, 1, 1, F)
        y = ops.tile(y, (g, h, w, 1))  # (N, H, W, F); sample g*M + m gets group m's value
        return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_features,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_features=self.num_features)
        return config
