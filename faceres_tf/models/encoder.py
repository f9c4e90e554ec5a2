"""Encoder [paper, Table 4]: ResBlocks R -> 4, then AttentionPooling.

At R = 512: 256^2x32, 128^2x64, 64^2x128, 32^2x256, 16^2x512, 8^2x512,
4^2x512, AttentionPooling -> 512.
"""

from __future__ import annotations

import keras

from faceres_tf.config import ModelConfig
from faceres_tf.layers import AttentionPooling, ResBlock
from faceres_tf.models.base import ConfiguredModel, as_model_config, layer_dtype
from faceres_tf.models.channels import encoder_channels, encoder_resolutions


def feature_name(r: int) -> str:
    return f"feature_{r}"


def resblock_stack(x, cfg: ModelConfig, prefix: str, dtype=None):
    """Applies the ResBlock stack (layers of dtype policy ``dtype``); returns
    {side: feature map} for every stage."""
    feats = {}
    for r in encoder_resolutions(cfg):
        x = ResBlock(encoder_channels(r, cfg), lrelu_slope=cfg.lrelu_slope, name=f"{prefix}_{r}x{r}",
                     dtype=dtype)(x)
        feats[r] = x
    return feats


@keras.saving.register_keras_serializable(package="faceres_tf")
class Encoder(ConfiguredModel):
    """Functional encoder.

    Args:
        model_config: a :class:`ModelConfig` or its dict.
        dtype: Keras dtype policy of every layer (default: Keras' global one).

    Inputs:
        image: float32 (B, R, R, 3) in [-1, 1].

    Outputs (a dict):
        ``feature_{r}`` for every stage side r (R/2 ... 4), and ``pooled``,
        the (B, C) AttentionPooling vector that modulates the decoder.
    """

    def __init__(self, model_config, **kwargs):
        cfg = as_model_config(model_config)
        dtype = layer_dtype(kwargs)
        image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
        feats = resblock_stack(image, cfg, "resblock", dtype)
        pooled = AttentionPooling(name="attention_pooling", dtype=dtype)(feats[4])
        outputs = {feature_name(r): f for r, f in feats.items()}
        outputs["pooled"] = pooled
        self._init_graph(cfg, image, outputs, "encoder", kwargs)
