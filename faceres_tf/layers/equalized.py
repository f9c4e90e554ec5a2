"""Equalized-learning-rate Conv2D and Dense ([ours], StyleGAN/StyleGAN2 standard).

The paper trains with Adam lr = 2.5e-3 (appendix A), StyleGAN2's learning rate,
which is only stable with StyleGAN2's *equalized learning rate*: weights are
stored as N(0, 1) and scaled at run time by ``gain / sqrt(fan_in)``, so every
layer learns at the same speed. The paper does not say so explicitly; we follow
StyleGAN2, whose generator it borrows.

Inference folding [ours]: :meth:`fold` precomputes the scaled kernel (and any
gain the caller moves into it) once, in the compute dtype, so a folded layer
runs ``conv(x, K) + b`` with no per-call weight scaling or casting. The folded
constants are a snapshot of the weights; training never folds.
"""

from __future__ import annotations

import math
import types

import keras
from keras import ops


def bias_add(y, bias):
    """``y + bias`` over the last axis; under TensorFlow as ``BiasAdd``, which
    Grappler fuses into the preceding conv (one pass fewer)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # TensorFlow backend only (the layers also run under JAX)

        return tf.nn.bias_add(y, bias)
    return y + bias


class Folded(types.SimpleNamespace):
    """Inference constants of a folded layer (a plain object, so neither Keras
    nor tf.Module tracking treats the tensors in it as weights)."""


@keras.saving.register_keras_serializable(package="faceres_tf")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with run-time weight scaling.

    Args:
        units: output features.
        bias_init: constant initial bias (StyleGAN2 affine layers use 1.0).
        lr_mul: learning-rate multiplier (weights and bias).
        use_bias: add a bias.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, in_features).
    """

    def __init__(self, units, bias_init=0.0, lr_mul=1.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.folded = None  # inference constants, see fold()
        self.units = int(units)
        self.bias_init = float(bias_init)
        self.lr_mul = float(lr_mul)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.weight_scale = self.lr_mul / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_mul),
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_mul),
            )

    def fold(self):
        """Inference only: precompute the scaled kernel and bias (compute dtype)."""
        dtype = self.compute_dtype
        kernel = ops.cast(ops.convert_to_tensor(self.kernel) * self.weight_scale, dtype)
        bias = ops.cast(ops.convert_to_tensor(self.bias) * self.lr_mul, dtype) if self.use_bias else None
        self.folded = Folded(kernel=kernel, bias=bias)

    def call(self, x):
        if self.folded is not None:
            y = ops.matmul(x, self.folded.kernel)
            return y + self.folded.bias if self.use_bias else y
        y = ops.matmul(x, ops.cast(self.kernel, x.dtype) * self.weight_scale)
        if self.use_bias:
            y = y + ops.cast(self.bias, x.dtype) * self.lr_mul
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, bias_init=self.bias_init, lr_mul=self.lr_mul, use_bias=self.use_bias
        )
        return config


@keras.saving.register_keras_serializable(package="faceres_tf")
class EqualizedConv2D(keras.layers.Layer):
    """2-D convolution (NHWC, 'same' padding) with run-time weight scaling.

    Args:
        filters: output channels.
        kernel_size: square kernel side.
        strides: 1 or 2.
        use_bias: add a bias (zero-initialised).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C_in) -> (B, H / strides, W / strides, filters).
    """

    def __init__(self, filters, kernel_size=3, strides=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.folded = None  # inference constants, see fold()
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        in_ch = int(input_shape[-1])
        k = self.kernel_size
        self.weight_scale = 1.0 / math.sqrt(in_ch * k * k)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, in_ch, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def fold(self, input_gain=1.0, output_scale=1.0):
        """Inference only: precompute ``K = kernel * weight_scale * input_gain *
        output_scale`` and ``b = bias * output_scale`` in the compute dtype.

        ``input_gain`` is a constant the caller no longer multiplies the input
        by (conv is linear: conv(g x, K) = conv(x, g K)); ``output_scale`` one
        it no longer multiplies the output by.
        """
        dtype = self.compute_dtype
        scale = self.weight_scale * float(input_gain) * float(output_scale)
        kernel = ops.cast(ops.convert_to_tensor(self.kernel) * scale, dtype)
        bias = None
        if self.use_bias:
            bias = ops.cast(ops.convert_to_tensor(self.bias) * float(output_scale), dtype)
        self.folded = Folded(kernel=kernel, bias=bias)

    def call(self, x):
        if self.folded is not None:
            y = ops.conv(x, self.folded.kernel, strides=self.strides, padding="same")
            return bias_add(y, self.folded.bias) if self.use_bias else y
        w = ops.cast(self.kernel, x.dtype) * self.weight_scale
        y = ops.conv(x, w, strides=self.strides, padding="same")
        if self.use_bias:
            y = y + ops.cast(self.bias, x.dtype)
        return y

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else -(-h // s)
        w = None if w is None else -(-w // s)
        return (b, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            use_bias=self.use_bias,
        )
        return config


def lrelu_gain(x, slope=0.2):
    """Leaky ReLU scaled by sqrt(2) so activations keep unit variance (StyleGAN2)."""
    return ops.leaky_relu(x, negative_slope=slope) * math.sqrt(2.0)
