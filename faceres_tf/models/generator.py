"""The restorer G [paper]: encoder -> (last 4x4 feature, pooled vector) ->
decoder with n skip connections and noise inputs (the stochastic model).
"""

from __future__ import annotations

import keras

from faceres_tf.config import Config, ModelConfig
from faceres_tf.layers import FeatureQuantizer
from faceres_tf.models.channels import skip_resolutions
from faceres_tf.models.decoder import Decoder
from faceres_tf.models.encoder import Encoder, _as_model_config, _config_dict, feature_name


@keras.saving.register_keras_serializable(package="faceres_tf")
class Generator(keras.Model):
    """RDFR restorer as one functional graph.

    Args:
        model_config: a :class:`ModelConfig` or its dict.

    Inputs (a dict):
        image: float32 (B, R, R, 3) degraded face in [-1, 1].
        noise_seed: int32 (B,) per-sample noise seed. Same seed -> same output
            (independent of the batch); a negative seed -> zero noise.

    Output:
        float32 (B, R, R, 3) restored face, roughly [-1, 1] (clip for display).
    """

    def __init__(self, model_config, **kwargs):
        cfg = _as_model_config(model_config)
        image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
        seed = keras.Input((), dtype="int32", name="noise_seed")
        encoder = Encoder(cfg, name="encoder")
        decoder = Decoder(cfg, name="decoder")
        feats = encoder(image)
        last = feats[feature_name(4)]
        if cfg.quantize:
            last = FeatureQuantizer(
                cfg.quantizer_codes, cfg.quantizer_decay, cfg.quantizer_commitment,
                name="feature_quantizer",
            )(last)
        dec_in = {"last_feature": last, "modulation": feats["pooled"], "noise_seed": seed}
        for r in skip_resolutions(cfg):
            dec_in[feature_name(r)] = feats[feature_name(r)]
        restored = decoder(dec_in)
        kwargs.setdefault("name", "generator")
        super().__init__(inputs={"image": image, "noise_seed": seed}, outputs=restored, **kwargs)
        self.model_config = cfg
        self.encoder = encoder
        self.decoder = decoder

    def get_config(self):
        return {"model_config": _config_dict(self.model_config), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_generator(config) -> Generator:
    """Builds G from a :class:`Config` (or a :class:`ModelConfig`)."""
    model_cfg = config.model if isinstance(config, Config) else config
    return Generator(model_cfg)
