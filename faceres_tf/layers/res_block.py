"""ResBlock of the encoder and discriminator [paper, appendix Table 4].

[paper]: "each residual block consists of two convolution layers, where the
first layer does not change the spatial size whereas the second one comes with
a stride 2 for down-sampling. The kernel size is 3 x 3."
[ours]: leaky ReLU 0.2 (x sqrt 2) after each conv, equalized learning rate, a
shortcut of 2x2 average pooling + 1x1 conv (no bias), and output
(main + shortcut) / sqrt(2), as in StyleGAN2's residual discriminator.
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
        self.conv1 = EqualizedConv2D(self.filters, 3, strides=1, name="conv1")
        self.conv2 = EqualizedConv2D(self.filters, 3, strides=2, name="conv2_down")
        self.shortcut = EqualizedConv2D(self.filters, 1, use_bias=False, name="shortcut")
        self.pool = keras.layers.AveragePooling2D(2, name="shortcut_pool")

    def build(self, input_shape):
        b, h, w, c = input_shape
        self.conv1.build(input_shape)
        self.conv2.build((b, h, w, self.filters))
        self.pool.build(input_shape)
        self.shortcut.build((b, None, None, c))

    def call(self, x):
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
