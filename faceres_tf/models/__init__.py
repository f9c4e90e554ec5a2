"""RDFR networks as functional Keras models."""

from faceres_tf.models.decoder import Decoder
from faceres_tf.models.discriminator import Discriminator, build_discriminator
from faceres_tf.models.encoder import Encoder
from faceres_tf.models.generator import Generator, build_generator

__all__ = [
    "Decoder",
    "Discriminator",
    "Encoder",
    "Generator",
    "build_discriminator",
    "build_generator",
]
