"""What the RDFR networks share [ours]: each is one functional Keras graph
built from a :class:`ModelConfig` (or its dict), validated first, and saved as
that config (``get_config`` / ``from_config``), so a ``.keras`` file or a
bundle rebuilds the same network.

Precision: a network takes Keras' ``dtype`` argument (a dtype policy such as
``"mixed_bfloat16"``, see :func:`faceres_tf.models.precision.dtype_policy`)
and hands it to every layer it creates (:func:`layer_dtype`); Keras' global
policy is only the default when none is given.
"""

from __future__ import annotations

import dataclasses
import functools

import keras

from faceres_tf.config import ModelConfig
from faceres_tf.config_ranges import validate_model


def as_model_config(c) -> ModelConfig:
    """``c`` (a :class:`ModelConfig` or its dict) as a validated ModelConfig.

    A ModelConfig is frozen, so each distinct one is validated once: the
    generator and the encoder and decoder inside it share one check."""
    if not isinstance(c, ModelConfig):
        c = ModelConfig(**c)
    try:
        return _validated(c)
    except TypeError:  # an unhashable field value (a list): check it uncached
        validate_model(c)
        return c


@functools.lru_cache(maxsize=32)
def _validated(c: ModelConfig) -> ModelConfig:
    validate_model(c)  # raises ConfigError (not cached)
    return c


def layer_dtype(kwargs: dict) -> keras.DTypePolicy:
    """The dtype policy a network's ``kwargs`` ask for (``kwargs["dtype"]``:
    a policy, its name, or None for Keras' global policy), written back into
    ``kwargs`` as a policy; pass it as ``dtype`` to every layer of the network."""
    policy = keras.dtype_policies.get(kwargs.get("dtype"))
    kwargs["dtype"] = policy
    return policy


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
        dtype = kwargs.pop("dtype", None)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        if dtype is not None:  # a functional model does not take it from its arguments
            self.dtype_policy = dtype
        self.model_config = cfg

    def get_config(self):
        config = {"model_config": dataclasses.asdict(self.model_config)}
        config.update({k: getattr(self, k) for k in self.CONFIG_ATTRS})
        config["name"] = self.name
        config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
