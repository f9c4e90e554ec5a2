"""ToRGB: the decoder's last layer [paper, Table 5: 512x512x32 -> 512x512x3].

[ours, StyleGAN2]: a modulated 1x1 conv *without* demodulation plus a bias, no
activation (the generator can add tanh; ``ModelConfig.tanh_output``).

Inference folding: :meth:`fold` folds the conv (weight modulation: its kernel
is tiny) and takes the last StyleBlock's deferred sqrt(2) as input gain.
"""

from __future__ import annotations

import keras
from keras import ops

from faceres_tf.layers.equalized import Folded, bias_add
from faceres_tf.layers.modulated_conv2d import ModulatedConv2D


@keras.saving.register_keras_serializable(package="faceres_tf")
class ToRGB(keras.layers.Layer):
    """Modulated 1x1 conv to image channels.

    Args:
        channels: output channels (3 for RGB).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C) feature map.
        w: (B, D) modulation vector.

    Returns:
        (B, H, W, channels), images in roughly [-1, 1].
    """

    def __init__(self, channels=3, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.conv = ModulatedConv2D(self.channels, 1, demodulate=False, name="conv",
                                    dtype=self.dtype_policy)
        self.folded = None  # inference constants, see fold()

    def build(self, x_shape, w_shape):
        self.conv.build(x_shape, w_shape)
        self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros")

    def fold(self, input_gain=None):
        """Inference only: fold the conv; ``input_gain`` as in ModulatedConv2D.fold."""
        self.conv.fold(input_gain=input_gain)
        self.folded = Folded(bias=ops.cast(ops.convert_to_tensor(self.bias), self.compute_dtype))

    def call(self, x, w):
        if self.folded is not None:
            return bias_add(self.conv(x, w), self.folded.bias)
        return self.conv(x, w) + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, x_shape, w_shape):
        return tuple(x_shape[:-1]) + (self.channels,)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config
