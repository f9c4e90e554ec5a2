"""Discriminator [paper]: "mostly the same as the encoder, except that the
AttentionPooling is replaced by a minibatch discrimination layer".

[ours, StyleGAN2]: ResBlocks R -> 4 (own weights) -> MinibatchStd (group 4,
1 feature) -> 3x3 conv -> flatten -> dense (C) -> dense (1 logit).
"""

from __future__ import annotations

import keras

from faceres_tf.config import Config
from faceres_tf.layers import EqualizedConv2D, EqualizedDense, MinibatchStd, lrelu_gain
from faceres_tf.models.base import ConfiguredModel, as_model_config, layer_dtype
from faceres_tf.models.channels import encoder_channels
from faceres_tf.models.encoder import resblock_stack
from faceres_tf.models.precision import dtype_policy


@keras.saving.register_keras_serializable(package="faceres_tf")
class Discriminator(ConfiguredModel):
    """Functional discriminator of a ``model_config`` (a :class:`ModelConfig`
    or its dict): ``image`` float32 (B, R, R, 3) in [-1, 1] -> (B, 1) real/fake
    logit; ``dtype``: Keras dtype policy of every layer."""

    def __init__(self, model_config, **kwargs):
        cfg = as_model_config(model_config)
        dtype = layer_dtype(kwargs)
        image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
        x = resblock_stack(image, cfg, "resblock", dtype)[4]
        c4 = encoder_channels(4, cfg)
        x = MinibatchStd(cfg.mbstd_group_size, cfg.mbstd_num_features, name="minibatch_std", dtype=dtype)(x)
        slope = cfg.lrelu_slope
        x = EqualizedConv2D(c4, 3, name="head_conv", dtype=dtype)(x)
        x = keras.layers.Lambda(lambda t: lrelu_gain(t, slope), name="head_conv_act", dtype=dtype)(x)
        x = keras.layers.Flatten(name="flatten", dtype=dtype)(x)
        x = EqualizedDense(c4, name="head_dense", dtype=dtype)(x)
        x = keras.layers.Lambda(lambda t: lrelu_gain(t, slope), name="head_dense_act", dtype=dtype)(x)
        logit = EqualizedDense(1, name="logit", dtype=dtype)(x)
        self._init_graph(cfg, image, logit, "discriminator", kwargs)


def build_discriminator(config, precision: str | None = None) -> Discriminator:
    """Builds D from a :class:`Config` (or a :class:`ModelConfig`) computing in
    ``precision`` ("fp32", "bf16" or "auto"; None: Keras' global policy)."""
    model_cfg = config.model if isinstance(config, Config) else config
    dtype = None if precision is None else dtype_policy(precision)
    return Discriminator(model_cfg, dtype=dtype)
