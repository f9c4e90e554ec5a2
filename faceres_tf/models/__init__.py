"""RDFR networks as functional Keras models."""

from faceres_tf.models.decoder import Decoder, noise_input_shapes
from faceres_tf.models.discriminator import Discriminator, build_discriminator
from faceres_tf.models.encoder import Encoder
from faceres_tf.models.generator import Generator, build_generator
from faceres_tf.models.inference import copy_weights, fold_generator, inference_generator
from faceres_tf.models.precision import PRECISIONS, dtype_policy, resolve_precision

__all__ = [
    "Decoder",
    "Discriminator",
    "Encoder",
    "Generator",
    "PRECISIONS",
    "build_discriminator",
    "build_generator",
    "copy_weights",
    "dtype_policy",
    "fold_generator",
    "inference_generator",
    "noise_input_shapes",
    "resolve_precision",
]
