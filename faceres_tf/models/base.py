"""What the RDFR networks share [ours]: each is one functional Keras graph
built from a :class:`ModelConfig` (or its dict), validated first, and saved as
that config (``get_config`` / ``from_config``), so a ``.keras`` file or a
bundle rebuilds the same network.
"""

from __future__ import annotations

import dataclasses

import keras

from faceres_tf.config import ModelConfig
from faceres_tf.config_ranges import validate_model


def as_model_config(c) -> ModelConfig:
    """``c`` (a :class:`ModelConfig` or its dict) as a validated ModelConfig."""
    if not isinstance(c, ModelConfig):
        c = ModelConfig(**c)
    validate_model(c)
    return c


class ConfiguredModel(keras.Model):
    """Base of Encoder, Decoder, Generator and Discriminator.

    A subclass builds its graph in ``__init__`` and ends with
    :meth:`_init_graph`. Its Keras config is ``model_config``, ``name`` and the
    attributes named in ``CONFIG_ATTRS`` (constructor arguments of the same
    name).
    """

    CONFIG_ATTRS: tuple = ()

    def _init_graph(self, cfg: ModelConfig, inputs, outputs, default_name: str, kwargs: dict):
        """Makes this model the functional graph ``inputs -> outputs`` of ``cfg``."""
        kwargs.setdefault("name", default_name)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.model_config = cfg

    def get_config(self):
        config = {"model_config": dataclasses.asdict(self.model_config)}
        config.update({k: getattr(self, k) for k in self.CONFIG_ATTRS})
        config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
