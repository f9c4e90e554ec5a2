"""The restorer G [paper]: encoder -> (last 4x4 feature, pooled vector) ->
decoder with n skip connections and noise inputs (the stochastic model).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from faceres_tf.config import Config
from faceres_tf.layers import FeatureQuantizer
from faceres_tf.models.base import ConfiguredModel, as_model_config, layer_dtype
from faceres_tf.models.channels import skip_resolutions
from faceres_tf.models.decoder import Decoder, noise_input_shapes
from faceres_tf.models.encoder import Encoder, feature_name
from faceres_tf.models.precision import dtype_policy


@keras.saving.register_keras_serializable(package="faceres_tf")
class Generator(ConfiguredModel):
    """RDFR restorer as one functional graph.

    Args:
        model_config: a :class:`ModelConfig` or its dict.
        noise_inputs: take the decoder's noise maps as inputs (``noise_<id>``,
            float32 (B, r, r, 1), see ``decoder.noise_input_shapes``) instead
            of ``noise_seed``. The weights are the same (names, order, shapes),
            so weights move between the two forms with ``set_weights``. [ours]
        dtype: Keras dtype policy of every layer, e.g. ``"mixed_bfloat16"``
            (:func:`faceres_tf.models.precision.dtype_policy`); default:
            Keras' global policy (float32).

    Inputs (a dict):
        image: float32 (B, R, R, 3) degraded face in [-1, 1].
        noise_seed: int32 (B,) per-sample noise seed. Same seed -> same output
            (independent of the batch); a negative seed -> zero noise.
        fidelity: float32 (B,) skip strength w in [0, 1], only when
            ``model_config.fidelity_input``: every skip feature is multiplied
            by w (1 = the paper's model; 0 = no skips). Optional in a call:
            missing means w = 1.

    Output:
        float32 (B, R, R, 3) restored face, roughly [-1, 1] (clip for display),
        float32 also under a ``mixed_bfloat16`` policy.
    """

    CONFIG_ATTRS = ("noise_inputs",)

    def __init__(self, model_config, noise_inputs=False, **kwargs):
        cfg = as_model_config(model_config)
        dtype = layer_dtype(kwargs)
        image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
        if noise_inputs:
            noise = {k: keras.Input(s, name=k) for k, s in noise_input_shapes(cfg).items()}
        else:
            noise = {"noise_seed": keras.Input((), dtype="int32", name="noise_seed")}
        encoder = Encoder(cfg, name="encoder", dtype=dtype)
        decoder = Decoder(cfg, noise_inputs=noise_inputs, name="decoder", dtype=dtype)
        feats = encoder(image)
        last = feats[feature_name(4)]
        if cfg.quantize:
            last = FeatureQuantizer(
                cfg.quantizer_codes, cfg.quantizer_decay, cfg.quantizer_commitment,
                name="feature_quantizer", dtype=dtype,
            )(last)
        dec_in = {"last_feature": last, "modulation": feats["pooled"], **noise}
        inputs = {"image": image, **noise}
        if cfg.fidelity_input:
            inputs["fidelity"] = keras.Input((), name="fidelity")
        for r in skip_resolutions(cfg):
            feat = feats[feature_name(r)]
            if cfg.fidelity_input:
                w = ops.reshape(ops.cast(inputs["fidelity"], feat.dtype), (-1, 1, 1, 1))
                feat = feat * w
            dec_in[feature_name(r)] = feat
        restored = decoder(dec_in)
        if restored.dtype != "float32":  # mixed precision: float32 to the user
            restored = ops.cast(restored, "float32")
        self._init_graph(cfg, inputs, restored, "generator", kwargs)
        self.noise_inputs = bool(noise_inputs)
        self.encoder = encoder
        self.decoder = decoder

    def __call__(self, inputs, *args, **kwargs):
        if self.model_config.fidelity_input and isinstance(inputs, dict) and "fidelity" not in inputs:
            image = inputs["image"]
            if isinstance(image, np.ndarray):  # Keras refuses numpy mixed with tensors
                ones = np.ones((image.shape[0],), np.float32)
            else:
                ones = ops.ones((ops.shape(image)[0],), "float32")
            inputs = {**inputs, "fidelity": ones}
        return super().__call__(inputs, *args, **kwargs)


def build_generator(config, precision: str | None = None, noise_inputs: bool = False) -> Generator:
    """Builds G from a :class:`Config` (or a :class:`ModelConfig`).

    Args:
        config: the configuration.
        precision: "fp32", "bf16" or "auto": G computes with that Keras dtype
            policy (:func:`faceres_tf.models.precision.dtype_policy`; bf16 =
            bfloat16 compute, float32 weights and output); None: Keras' global
            policy.
        noise_inputs: see :class:`Generator`.
    """
    model_cfg = config.model if isinstance(config, Config) else config
    dtype = None if precision is None else dtype_policy(precision)
    return Generator(model_cfg, noise_inputs=noise_inputs, dtype=dtype)
