"""Modulated convolution with demodulation (StyleGAN2, Karras et al. 2020).

[paper]: the decoder's StyleBlocks are "borrowed from the StyleGAN generator";
each takes a feature map and an external modulation vector.
[ours, StyleGAN2]: style s = A(w) (equalized dense, bias initialised to 1);
weights w'_{ijk} = s_i w_{ijk}; demodulation
w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k} w'_{ijk}^2 + eps).

Implementation: we modulate the *activations* instead of the weights
(StyleGAN2's non-fused path): conv(x * s, w) * d with
d_j = rsqrt(sum_i s_i^2 sum_k w_{ijk}^2 + eps). This is mathematically the same
as the per-sample weight version but keeps every conv a plain batched conv,
which is what makes the 512 px network fast on CPUs and GPUs.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from faceres_tf.layers.equalized import EqualizedDense


@keras.saving.register_keras_serializable(package="faceres_tf")
class ModulatedConv2D(keras.layers.Layer):
    """Conv2D whose input channels are scaled per sample by a style vector.

    Args:
        filters: output channels.
        kernel_size: square kernel side ('same' padding, stride 1).
        demodulate: normalise each output channel to unit expected variance.
        eps: demodulation epsilon.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C_in) feature map.
        w: (B, D) modulation vector (the encoder's pooled vector in RDFR).

    Returns:
        (B, H, W, filters). No bias, no activation (the StyleBlock adds them).
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, eps=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.eps = float(eps)

    def build(self, x_shape, w_shape):
        in_ch = int(x_shape[-1])
        k = self.kernel_size
        self.in_channels = in_ch
        # The affine layer's width depends on the input channels, so it is made here.
        self.affine = EqualizedDense(in_ch, bias_init=1.0, name="affine")
        self.affine.build(w_shape)
        self.weight_scale = 1.0 / math.sqrt(in_ch * k * k)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, in_ch, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )

    def call(self, x, w):
        styles = self.affine(ops.cast(w, x.dtype))  # (B, C_in)
        kernel = ops.cast(self.kernel, x.dtype) * self.weight_scale  # (k, k, C_in, C_out)
        y = ops.conv(x * styles[:, None, None, :], kernel, padding="same")  # (B, H, W, C_out)
        if self.demodulate:
            # sum_{i,k} (s_i w_ijk)^2 = (s^2) @ (sum_k w_ijk^2), computed in float32.
            wsq = ops.sum(ops.square(ops.cast(kernel, "float32")), axis=(0, 1))  # (C_in, C_out)
            s32 = ops.cast(styles, "float32")
            demod = ops.rsqrt(ops.matmul(ops.square(s32), wsq) + self.eps)  # (B, C_out)
            y = y * ops.cast(demod, y.dtype)[:, None, None, :]
        return y

    def compute_output_shape(self, x_shape, w_shape):
        return tuple(x_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            demodulate=self.demodulate,
            eps=self.eps,
        )
        return config
