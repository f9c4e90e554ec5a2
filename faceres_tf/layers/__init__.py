"""Keras 3 layers of RDFR, one concept per file (all registered, serializable)."""

from faceres_tf.layers.attention_pooling import AttentionPooling
from faceres_tf.layers.equalized import EqualizedConv2D, EqualizedDense, lrelu_gain
from faceres_tf.layers.feature_quantizer import FeatureQuantizer
from faceres_tf.layers.minibatch_std import MinibatchStd
from faceres_tf.layers.modulated_conv2d import ModulatedConv2D
from faceres_tf.layers.noise_injection import NoiseInjection, per_sample_noise
from faceres_tf.layers.res_block import ResBlock
from faceres_tf.layers.style_block import StyleBlock
from faceres_tf.layers.to_rgb import ToRGB

__all__ = [
    "AttentionPooling",
    "EqualizedConv2D",
    "EqualizedDense",
    "FeatureQuantizer",
    "MinibatchStd",
    "ModulatedConv2D",
    "NoiseInjection",
    "ResBlock",
    "StyleBlock",
    "ToRGB",
    "lrelu_gain",
    "per_sample_noise",
]
