"""Seedable per-pixel noise injection: the "stochastic model" [paper, C.2].

[paper]: noise inputs make the decoder sample; a different seed gives a
different restoration (Fig. 10), and "the influence of noises diminishes with
more skip connections". [ours, StyleGAN2]: x + strength * n, n ~ N(0, 1) with
one channel broadcast over all channels, one learned scalar strength per layer.

Noise is generated *per sample* from that sample's integer seed with stateless
random ops keyed by (seed, noise_id), so a face restored with seed s gives the
same output whatever batch it is in (bit-identical on the same machine). A
negative seed gives zero noise, the deterministic mode used for evaluation.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def per_sample_noise(seeds, height, width, noise_id, dtype="float32"):
    """N(0, 1) noise maps (B, H, W, 1), one stream per seed; zero for seeds < 0.

    Args:
        seeds: int32 (B,) per-sample seeds.
        height, width: spatial size (Python ints or scalar tensors).
        noise_id: int distinguishing the noise layers of one network.
    """
    seeds = tf.cast(tf.reshape(seeds, [-1]), tf.int32)

    def one(seed):
        key = tf.stack([seed, tf.constant(noise_id, tf.int32)])
        return tf.random.stateless_normal([height, width, 1], seed=key, dtype=tf.float32)

    noise = tf.map_fn(one, seeds, fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
    keep = tf.cast(seeds >= 0, tf.float32)[:, None, None, None]
    return tf.cast(noise * keep, dtype)


@keras.saving.register_keras_serializable(package="faceres_tf")
class NoiseInjection(keras.layers.Layer):
    """Adds ``strength * noise`` with a learned scalar strength.

    Args:
        noise_id: integer identifying this layer's noise stream (unique per
            layer within a network, so layers draw independent noise).
        strength_init: initial strength ([ours, StyleGAN2] 0).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C).
        noise_seed: int32 (B,) per-sample seeds; negative = no noise.
    """

    def __init__(self, noise_id, strength_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.noise_id = int(noise_id)
        self.strength_init = float(strength_init)

    def build(self, x_shape, noise_seed_shape=None):
        self.strength = self.add_weight(
            name="strength", shape=(), initializer=keras.initializers.Constant(self.strength_init)
        )

    def call(self, x, noise_seed):
        shape = ops.shape(x)
        noise = per_sample_noise(noise_seed, shape[1], shape[2], self.noise_id, x.dtype)
        return x + noise * ops.cast(self.strength, x.dtype)

    def compute_output_shape(self, x_shape, noise_seed_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(noise_id=self.noise_id, strength_init=self.strength_init)
        return config
