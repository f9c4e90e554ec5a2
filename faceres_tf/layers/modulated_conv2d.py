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

Precision: under ``mixed_bfloat16`` the conv runs in bfloat16, but the
demodulation factors (sum of squares over C_in x k x k products, then rsqrt)
are computed in float32 from the float32 styles: in bfloat16 that sum would
keep ~3 significant digits and rsqrt amplifies its relative error.

Inference folding [ours] (:meth:`fold`): the scaled kernel, its float32
squared norms and the affine layer are precomputed once, and the layer picks
per shape the cheaper of two exact rewrites. *Activation modulation* (the
training form) costs two element-wise passes over the activations
(x * s, y * d); *weight modulation* builds per-sample kernels
K_b = K * s_b (x) d_b (StyleGAN2's "fused" form) and costs one pass over
k*k*C_in*C_out weights per sample but none over activations. Weight
modulation is used where ``4 k^2 C_in C_out < H W (C_in + C_out)`` (the
high-resolution layers, where activations are large and kernels small). An
``input_gain`` (per input channel) lets the caller drop a constant
multiplication of its input (e.g. the previous leaky ReLU's sqrt(2)): it
scales the modulation, not the demodulation, so the result is unchanged.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from faceres_tf.layers.equalized import EqualizedDense, Folded


def per_sample_conv(x, kernels):
    """'same' stride-1 conv of sample b of ``x`` (B, H, W, C_in) with
    ``kernels[b]`` (B, k, k, C_in, C_out) -> (B, H, W, C_out)."""
    if x.shape[0] == 1:
        return ops.conv(x, kernels[0], padding="same")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # TensorFlow backend only (the layers also run under JAX)

        def one(args):
            return tf.nn.conv2d(args[0][None], args[1], 1, "SAME")[0]

        def loop():
            spec = tf.TensorSpec(x.shape[1:-1] + (kernels.shape[-1],), x.dtype)
            return tf.map_fn(one, (x, kernels), fn_output_signature=spec, parallel_iterations=1)

        if x.shape[0] is not None:
            return loop()
        # Batch only known at run time (serving signatures): one face, the
        # common case, skips the loop.
        return tf.cond(tf.shape(x)[0] == 1, lambda: tf.nn.conv2d(x, kernels[0], 1, "SAME"), loop)
    return ops.vectorized_map(lambda a: ops.conv(a[0][None], a[1], padding="same")[0], (x, kernels))


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
        self.folded = None  # inference constants, see fold()
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.eps = float(eps)

    def build(self, x_shape, w_shape):
        in_ch = int(x_shape[-1])
        k = self.kernel_size
        self.in_channels = in_ch
        # Spatial size for fold()'s cost model (two ints, not a tracked tuple).
        self.height, self.width = x_shape[1], x_shape[2]
        # The affine layer's width depends on the input channels, so it is made here.
        self.affine = EqualizedDense(in_ch, bias_init=1.0, name="affine", dtype=self.dtype_policy)
        self.affine.build(w_shape)
        self.weight_scale = 1.0 / math.sqrt(in_ch * k * k)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, in_ch, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )

    def prefers_weight_modulation(self) -> bool:
        """Whether per-sample kernels are cheaper than modulating activations."""
        h, w = self.height, self.width
        if h is None or w is None:
            return False
        k2 = self.kernel_size**2
        return 4 * k2 * self.in_channels * self.filters < h * w * (self.in_channels + self.filters)

    def fold(self, input_gain=None, weight_modulation=None):
        """Inference only: precompute the kernel, its squared norms and the affine.

        Args:
            input_gain: None, a float or a (C_in,) vector the caller no longer
                multiplies the input by.
            weight_modulation: force the form (default: the cheaper one,
                :meth:`prefers_weight_modulation`).
        """
        self.affine.fold()
        kernel32 = ops.convert_to_tensor(self.kernel) * self.weight_scale
        gain = None
        if input_gain is not None:
            gain = ops.cast(ops.broadcast_to(ops.convert_to_tensor(input_gain, "float32"),
                                             (self.in_channels,)), "float32")
        if weight_modulation is None:
            weight_modulation = self.prefers_weight_modulation()
        self.folded = Folded(
            kernel=ops.cast(kernel32, self.compute_dtype),
            kernel32=kernel32,
            wsq=ops.sum(ops.square(kernel32), axis=(0, 1)),  # (C_in, C_out) float32
            gain=gain,
            weight_modulation=bool(weight_modulation),
        )

    def _folded_call(self, x, w):
        f = self.folded
        styles = ops.cast(self.affine(ops.cast(w, x.dtype)), "float32")  # (B, C_in)
        demod = None
        if self.demodulate:
            demod = ops.rsqrt(ops.matmul(ops.square(styles), f.wsq) + self.eps)  # (B, C_out)
        mod = styles if f.gain is None else styles * f.gain
        if f.weight_modulation:
            kernels = f.kernel32[None] * mod[:, None, None, :, None]  # (B, k, k, C_in, C_out)
            if demod is not None:
                kernels = kernels * demod[:, None, None, None, :]
            return per_sample_conv(x, ops.cast(kernels, x.dtype))
        y = ops.conv(x * ops.cast(mod, x.dtype)[:, None, None, :], f.kernel, padding="same")
        if demod is not None:
            y = y * ops.cast(demod, y.dtype)[:, None, None, :]
        return y

    def call(self, x, w):
        if self.folded is not None:
            return self._folded_call(x, w)
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
