"""Discriminator [paper]: "mostly the same as the encoder, except that the
AttentionPooling is replaced by a minibatch discrimination layer".

[ours, StyleGAN2]: ResBlocks R -> 4 (own weights) -> MinibatchStd (group 4,
1 feature) -> 3x3 conv -> flatten -> dense (C) -> dense (1 logit).
"""

from __future__ import annotations

import keras

from faceres_tf.config import Config
from faceres_tf.layers import EqualizedConv2D, EqualizedDense, MinibatchStd, lrelu_gain
from faceres_tf.models.base import ConfiguredModel, as_model_config
from faceres_tf.models.channels import encoder_channels
from faceres_tf.models.encoder import resblock_stack


@keras.saving.register_keras_serializable(package="faceres_tf")
class Discriminator(ConfiguredModel):
    """Functional discriminator of a ``model_config`` (a :class:`ModelConfig`
    or its dict): ``image`` float32 (B, R, R, 3) in [-1, 1] -> (B, 1) real/fake
    logit."""

    def __init__(self, model_config, **kwargs):
        cfg = as_model_config(model_config)
        image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
        x = resblock_stack(image, cfg, "resblock")[4]
        c4 = encoder_channels(4, cfg)
        x = MinibatchStd(cfg.mbstd_group_size, cfg.mbstd_num_features, name="minibatch_std")(x)
        slope = cfg.lrelu_slope
        x = EqualizedConv2D(c4, 3, name="head_conv")(x)
        x = keras.layers.Lambda(lambda t: lrelu_gain(t, slope), name="head_conv_act")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = EqualizedDense(c4, name="head_dense")(x)
        x = keras.layers.Lambda(lambda t: lrelu_gain(t, slope), name="head_dense_act")(x)
        logit = EqualizedDense(1, name="logit")(x)
        self._init_graph(cfg, image, logit, "discriminator", kwargs)


def build_discriminator(config) -> Discriminator:
    """Builds D from a :class:`Config` (or a :class:`ModelConfig`)."""
    model_cfg = config.model if isinstance(config, Config) else config
    return Discriminator(model_cfg)
