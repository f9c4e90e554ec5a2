"""Decoder [paper, Table 5]: StyleBlocks 4 -> R modulated by the pooled vector.

At R = 512: last feature 4^2x512 -> 8^2x512, 16^2x512, 32^2x512, 64^2x256,
128^2x128, 256^2x64, 512^2x32 -> ToRGB 512^2x3. The first ``num_skips`` of the
8^2 ... 256^2 StyleBlocks also take the encoder feature of their output side.
"""

from __future__ import annotations

import keras

from faceres_tf.config import ModelConfig
from faceres_tf.layers import StyleBlock, ToRGB
from faceres_tf.models.base import ConfiguredModel, as_model_config, layer_dtype
from faceres_tf.models.channels import (
    decoder_channels,
    decoder_resolutions,
    encoder_channels,
    skip_resolutions,
)
from faceres_tf.models.encoder import feature_name


def noise_name(noise_id: int) -> str:
    return f"noise_{int(noise_id)}"


def noise_input_shapes(cfg: ModelConfig) -> dict:
    """``{"noise_<id>": (r, r, 1)}`` for every noise layer of the decoder, in
    order: StyleBlock i at output side r owns ids 2i and 2i + 1."""
    shapes = {}
    for i, r in enumerate(decoder_resolutions(cfg)):
        shapes[noise_name(2 * i)] = (r, r, 1)
        shapes[noise_name(2 * i + 1)] = (r, r, 1)
    return shapes


@keras.saving.register_keras_serializable(package="faceres_tf")
class Decoder(ConfiguredModel):
    """Functional StyleGAN2-style decoder with encoder skips and noise.

    Args:
        model_config: a :class:`ModelConfig` or its dict.
        noise_inputs: take the noise maps as inputs instead of ``noise_seed``
            (same weights; used by the TFLite export).
        dtype: Keras dtype policy of every layer (default: Keras' global one).

    Inputs (a dict):
        last_feature: (B, 4, 4, C4) the encoder's last feature map.
        modulation: (B, C4) the pooled vector.
        noise_seed: int32 (B,) per-sample noise seeds (negative: no noise);
            or, with ``noise_inputs``, one ``noise_{id}`` (B, r, r, 1) float32
            map per noise layer (:func:`noise_input_shapes`).
        ``feature_{r}``: (B, r, r, C) encoder features for each skip side r.

    Output:
        (B, R, R, 3) image in roughly [-1, 1].
    """

    CONFIG_ATTRS = ("noise_inputs",)

    def __init__(self, model_config, noise_inputs=False, **kwargs):
        cfg = as_model_config(model_config)
        dtype = layer_dtype(kwargs)
        c4 = encoder_channels(4, cfg)
        last = keras.Input((4, 4, c4), name="last_feature")
        modulation = keras.Input((c4,), name="modulation")
        if noise_inputs:
            seed = None
            noise = {k: keras.Input(s, name=k) for k, s in noise_input_shapes(cfg).items()}
        else:
            seed = keras.Input((), dtype="int32", name="noise_seed")
        skips = {
            r: keras.Input((r, r, encoder_channels(r, cfg)), name=feature_name(r))
            for r in skip_resolutions(cfg)
        }
        x = last
        low_rgb = None
        for i, r in enumerate(decoder_resolutions(cfg)):
            block = StyleBlock(
                decoder_channels(r, cfg),
                noise_id=2 * i,
                upsample=cfg.upsample,
                skip_fusion=cfg.skip_fusion,
                use_skip=r in skips,
                noise_strength_init=cfg.noise_strength_init,
                lrelu_slope=cfg.lrelu_slope,
                name=f"styleblock_{r}x{r}",
                dtype=dtype,
            )
            maps = None
            if noise_inputs:
                maps = (noise[noise_name(2 * i)], noise[noise_name(2 * i + 1)])
            x = block(x, modulation, noise_seed=seed, skip=skips.get(r), noise=maps)
            if r == cfg.lowres_rgb:
                low_rgb = ToRGB(3, name=f"to_rgb_{r}x{r}", dtype=dtype)(x, modulation)
        rgb = ToRGB(3, name="to_rgb", dtype=dtype)(x, modulation)
        if low_rgb is not None:  # StyleGAN2's skip-ToRGB: grown models start as the smaller one
            factor = cfg.resolution // cfg.lowres_rgb
            up = keras.layers.UpSampling2D(factor, interpolation="bilinear", name="lowres_rgb_up",
                                           dtype=dtype)(low_rgb)
            rgb = keras.layers.Add(name="rgb_sum", dtype=dtype)([rgb, keras.ops.cast(up, rgb.dtype)])
        if cfg.tanh_output:
            rgb = keras.layers.Activation("tanh", name="tanh", dtype=dtype)(rgb)
        inputs = {"last_feature": last, "modulation": modulation}
        inputs.update(noise if noise_inputs else {"noise_seed": seed})
        inputs.update({feature_name(r): t for r, t in skips.items()})
        self._init_graph(cfg, inputs, rgb, "decoder", kwargs)
        self.noise_inputs = bool(noise_inputs)
