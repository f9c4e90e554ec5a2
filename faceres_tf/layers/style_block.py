"""StyleBlock of the decoder [paper, Table 5; internals ours, StyleGAN2].

[paper]: "The decoder includes several StyleBlock, which is borrowed from the
StyleGAN generator. Each StyleBlock takes two inputs: previous feature map and
external modulation vector." Skip connections from the encoder join at the
8^2 ... 256^2 nodes (appendix C.1).
[ours]: upsample x2 (bilinear) -> optional skip fusion ("concat": concatenate
the encoder feature; "add": 1x1 projection of it, then sum) -> two 3x3
modulated, demodulated convs, each followed by noise injection, bias and
leaky ReLU 0.2 (x sqrt 2).

Upsampling: bilinear x2 with half-pixel centres is TensorFlow's
``ResizeBilinear`` kernel, the cheapest of the exact formulations we timed
(a separable 0.75/0.25 stencil written in ops was 2-4x slower). Its output is
always float32; Keras' resize layer then clips it to the input dtype's range
and casts (two extra passes at the output size that cannot change a value:
the result is a convex combination of input values), so under TensorFlow the
block calls the kernel directly and only casts. Same values in both
precisions; other backends use the Keras layer.

Precision: the upsampled map is cast to the compute dtype right away, so
under ``mixed_bfloat16`` the skip concatenation and everything after it runs
in bfloat16.

Inference folding [ours] (:meth:`fold`): the convs fold their kernels (see
``ModulatedConv2D.fold``), conv1's sqrt(2) gain moves into conv2's
modulation, and the block's own output gain can be left to the next block
(``defer_output_gain``; the decoder passes it on as the next block's
``input_gain``), so a folded conv is conv -> + bias -> + noise -> leaky ReLU.
The bias is added before the noise (the same sum in another order).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from faceres_tf.layers.equalized import EqualizedConv2D, Folded, bias_add, lrelu_gain
from faceres_tf.layers.modulated_conv2d import ModulatedConv2D
from faceres_tf.layers.noise_injection import NoiseInjection


@keras.saving.register_keras_serializable(package="faceres_tf")
class StyleBlock(keras.layers.Layer):
    """Upsample x2 + two modulated convs with noise; optional encoder skip.

    Args:
        filters: output channels.
        noise_id: first of the two noise-stream ids this block uses
            (``noise_id`` and ``noise_id + 1``).
        upsample: "bilinear" or "nearest".
        skip_fusion: "concat" or "add"; used only when a skip is passed.
        use_skip: whether the block expects an encoder skip input.
        noise_strength_init: initial noise strength.
        lrelu_slope: leaky-ReLU negative slope.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C) previous feature map.
        w: (B, D) modulation vector.
        noise_seed: int32 (B,) per-sample noise seeds (negative: no noise).
        skip: (B, 2H, 2W, C_skip) encoder feature, when ``use_skip``.
        noise: optional pair of explicit (B, 2H, 2W, 1) noise maps for the
            two noise layers (used instead of ``noise_seed``).

    Returns:
        (B, 2H, 2W, filters).
    """

    def __init__(
        self,
        filters,
        noise_id=0,
        upsample="bilinear",
        skip_fusion="concat",
        use_skip=False,
        noise_strength_init=0.0,
        lrelu_slope=0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.noise_id = int(noise_id)
        self.upsample = upsample
        self.skip_fusion = skip_fusion
        self.use_skip = bool(use_skip)
        self.noise_strength_init = float(noise_strength_init)
        self.lrelu_slope = float(lrelu_slope)
        self.up = keras.layers.UpSampling2D(2, interpolation=upsample, name="upsample",
                                             dtype=self.dtype_policy)
        self.conv1 = ModulatedConv2D(self.filters, 3, name="conv1", dtype=self.dtype_policy)
        self.conv2 = ModulatedConv2D(self.filters, 3, name="conv2", dtype=self.dtype_policy)
        self.noise1 = NoiseInjection(self.noise_id, self.noise_strength_init, name="noise1",
                                     dtype=self.dtype_policy)
        self.noise2 = NoiseInjection(self.noise_id + 1, self.noise_strength_init, name="noise2",
                                     dtype=self.dtype_policy)
        self.skip_proj = None
        self.folded = None  # inference constants, see fold()

    def build(self, x_shape, w_shape, noise_seed_shape=None, skip_shape=None, noise_shape=None):
        b, h, w_, c = x_shape
        self.x_channels = int(c)
        up_h = None if h is None else 2 * h
        up_w = None if w_ is None else 2 * w_
        in_ch = int(c)
        if self.use_skip:
            if skip_shape is None:
                raise ValueError(f"{self.name}: use_skip=True but no skip input was given")
            if self.skip_fusion == "concat":
                in_ch += int(skip_shape[-1])
            else:
                self.skip_proj = EqualizedConv2D(in_ch, 1, name="skip_proj", dtype=self.dtype_policy)
                self.skip_proj.build(skip_shape)
        self.conv1.build((b, up_h, up_w, in_ch), w_shape)
        self.conv2.build((b, up_h, up_w, self.filters), w_shape)
        self.noise1.build((b, up_h, up_w, self.filters))
        self.noise2.build((b, up_h, up_w, self.filters))
        self.bias1 = self.add_weight(name="bias1", shape=(self.filters,), initializer="zeros")
        self.bias2 = self.add_weight(name="bias2", shape=(self.filters,), initializer="zeros")

    def _upsample(self, x):
        if self.upsample == "bilinear" and keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # TensorFlow backend only (the layers also run under JAX)

            size = tf.shape(x)[1:3] * 2
            y = tf.raw_ops.ResizeBilinear(images=x, size=size, half_pixel_centers=True)
            h, w = x.shape[1], x.shape[2]
            y.set_shape([x.shape[0], None if h is None else 2 * h, None if w is None else 2 * w, x.shape[3]])
            return y
        return self.up(x)

    def fold(self, input_gain=1.0, defer_output_gain=False):
        """Inference only: fold constants (see the module doc).

        Args:
            input_gain: constant the previous block left out of ``x``.
            defer_output_gain: return lrelu(.) without its sqrt(2) (the next
                layer must then fold it in as its ``input_gain``).
        """
        g = float(input_gain)
        if g == 1.0:
            gain1 = None
        elif self.use_skip and self.skip_fusion == "concat":
            c_skip = self.conv1.in_channels - self.x_channels
            gain1 = [g] * self.x_channels + [1.0] * c_skip  # the skip has no missing gain
        else:
            gain1 = g
            if self.use_skip:  # g x + p = g (x + p / g)
                self.skip_proj.fold(output_scale=1.0 / g)
        if self.use_skip and self.skip_fusion != "concat" and self.skip_proj.folded is None:
            self.skip_proj.fold()
        self.conv1.fold(input_gain=gain1)
        self.conv2.fold(input_gain=math.sqrt(2.0))
        dtype = self.compute_dtype
        self.folded = Folded(
            bias1=ops.cast(ops.convert_to_tensor(self.bias1), dtype),
            bias2=ops.cast(ops.convert_to_tensor(self.bias2), dtype),
            strength1=ops.cast(ops.convert_to_tensor(self.noise1.strength), dtype),
            strength2=ops.cast(ops.convert_to_tensor(self.noise2.strength), dtype),
            output_gain=None if defer_output_gain else math.sqrt(2.0),
        )

    def _folded_call(self, x, w, noise_seed, noise):
        f = self.folded
        n1, n2 = noise if noise is not None else (None, None)
        slope = self.lrelu_slope
        y = bias_add(self.conv1(x, w), f.bias1)
        y = ops.leaky_relu(y + self.noise1.noise_map(y, noise_seed, n1) * f.strength1, slope)
        y = bias_add(self.conv2(y, w), f.bias2)
        y = ops.leaky_relu(y + self.noise2.noise_map(y, noise_seed, n2) * f.strength2, slope)
        return y if f.output_gain is None else y * f.output_gain

    def call(self, x, w, noise_seed=None, skip=None, noise=None):
        x = ops.cast(self._upsample(x), self.compute_dtype)
        if self.use_skip:
            skip = ops.cast(skip, x.dtype)
            if self.skip_fusion == "concat":
                x = ops.concatenate([x, skip], axis=-1)
            else:
                x = x + self.skip_proj(skip)
        if self.folded is not None:
            return self._folded_call(x, w, noise_seed, noise)
        n1, n2 = noise if noise is not None else (None, None)
        x = self.noise1(self.conv1(x, w), noise_seed, noise=n1)
        x = lrelu_gain(x + ops.cast(self.bias1, x.dtype), self.lrelu_slope)
        x = self.noise2(self.conv2(x, w), noise_seed, noise=n2)
        x = lrelu_gain(x + ops.cast(self.bias2, x.dtype), self.lrelu_slope)
        return x

    def compute_output_shape(self, x_shape, w_shape, noise_seed_shape=None, skip_shape=None,
                             noise_shape=None):
        b, h, w_, _ = x_shape
        return (b, None if h is None else 2 * h, None if w_ is None else 2 * w_, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            noise_id=self.noise_id,
            upsample=self.upsample,
            skip_fusion=self.skip_fusion,
            use_skip=self.use_skip,
            noise_strength_init=self.noise_strength_init,
            lrelu_slope=self.lrelu_slope,
        )
        return config
