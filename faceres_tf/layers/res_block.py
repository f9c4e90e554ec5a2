"""ResBlock of the encoder and discriminator [paper, appendix Table 4].

[paper]: "each residual block consists of two convolution layers, where the
first layer does not change the spatial size whereas the second one comes with
a stride 2 for down-sampling. The kernel size is 3 x 3."
[ours]: leaky ReLU 0.2 (x sqrt 2) after each conv, equalized learning rate, a
shortcut of 2x2 average pooling + 1x1 conv (no bias), and output
(main + shortcut) / sqrt(2), as in StyleGAN2's residual discriminator.

Inference folding [ours]: the leaky ReLU is positively homogeneous, so the
sqrt(2) gains and the final 1/sqrt(2) move into the kernels (conv2's input
gain, conv2's and the shortcut's output scale) and a folded block is
lrelu(conv) -> lrelu(conv) + shortcut: three fewer element-wise passes, and
each conv + bias + leaky ReLU is one fused TensorFlow kernel.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from faceres_tf.layers.equalized import EqualizedConv2D, lrelu_gain


@keras.saving.register_keras_serializable(package="faceres_tf")
class ResBlock(keras.layers.Layer):
    """Two 3x3 convs (stride 1, then stride 2) with a downsampling shortcut.

    Args:
        filters: output channels (both convs).
        lrelu_slope: leaky-ReLU negative slope.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C_in) -> (B, H/2, W/2, filters).
    """

    def __init__(self, filters, lrelu_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.lrelu_slope = float(lrelu_slope)
        self.conv1 = EqualizedConv2D(self.filters, 3, strides=1, name="conv1", dtype=self.dtype_policy)
        self.conv2 = EqualizedConv2D(self.filters, 3, strides=2, name="conv2_down", dtype=self.dtype_policy)
        self.shortcut = EqualizedConv2D(self.filters, 1, use_bias=False, name="shortcut", dtype=self.dtype_policy)
        self.pool = keras.layers.AveragePooling2D(2, name="shortcut_pool", dtype=self.dtype_policy)
        self.folded = False

    def build(self, input_shape):
        b, h, w, c = input_shape
        self.conv1.build(input_shape)
        self.conv2.build((b, h, w, self.filters))
        self.pool.build(input_shape)
        self.shortcut.build((b, None, None, c))

    def fold(self):
        """Inference only: move the block's constant gains into its kernels."""
        gain = math.sqrt(2.0)
        self.conv1.fold()
        # out = (g lrelu(conv2(g a)) + s) / g = lrelu(conv2(a; g K2)) + s / g with
        # a = lrelu(conv1(x)): conv2 takes conv1's gain g as its input gain, its
        # own output gain cancels the final 1 / g, and the shortcut takes 1 / g.
        self.conv2.fold(input_gain=gain)
        self.shortcut.fold(output_scale=1.0 / gain)
        self.folded = True

    def call(self, x):
        if self.folded:
            slope = self.lrelu_slope
            y = ops.leaky_relu(self.conv1(x), negative_slope=slope)
            y = ops.leaky_relu(self.conv2(y), negative_slope=slope)
            return y + self.shortcut(self.pool(x))
        y = lrelu_gain(self.conv1(x), self.lrelu_slope)
        y = lrelu_gain(self.conv2(y), self.lrelu_slope)
        s = self.shortcut(self.pool(x))
        return (y + s) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, lrelu_slope=self.lrelu_slope)
        return config
