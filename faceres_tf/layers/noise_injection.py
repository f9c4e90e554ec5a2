"""Seedable per-pixel noise injection: the "stochastic model" [paper, C.2].

[paper]: noise inputs make the decoder sample; a different seed gives a
different restoration (Fig. 10), and "the influence of noises diminishes with
more skip connections". [ours, StyleGAN2]: x + strength * n, n ~ N(0, 1) with
one channel broadcast over all channels, one learned scalar strength per layer.

Noise is generated *per sample* from that sample's integer seed with stateless
random ops keyed by (seed, noise_id), so a face restored with seed s gives the
same output whatever batch it is in (bit-identical on the same machine). A
negative seed gives zero noise, the deterministic mode used for evaluation.

The noise can also be passed in explicitly (``noise=`` a (B, H, W, 1) map):
the export to TFLite, whose builtin ops have no stateless RNG, feeds the maps
as model inputs that way (``Generator(..., noise_inputs=True)``). [ours]

Backends [ours]: the layer is written in ``keras.ops``; only the per-sample
stateless draw needs the backend, because ``keras.random`` takes a *tensor*
seed only under JAX. TensorFlow: ``tf.random.stateless_normal`` keyed by the
int32 pair (seed, noise_id) (Philox; the stream every checkpoint of this
project was trained with). JAX: ``keras.random.normal`` keyed by the same pair
as a raw uint32 key (threefry; seeded and per-sample too, but a different
stream, so a seed gives another sample of the noise under JAX).
"""

from __future__ import annotations

import keras
from keras import ops


def _per_sample_normal(seeds, shape, stream: int):
    """float32 (B, *shape) N(0, 1): row i drawn from the key (seeds[i], stream)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # TensorFlow backend only (the layers also run under JAX)

        def one(seed):
            key = tf.stack([seed, tf.constant(stream, tf.int32)])
            return tf.random.stateless_normal(shape, seed=key, dtype=tf.float32)

        spec = tf.TensorSpec([d if isinstance(d, int) else None for d in shape], tf.float32)

        def loop():
            return tf.map_fn(one, seeds, fn_output_signature=spec)

        # One face, the common case at inference: the same draw without the
        # loop and its stacking copy of the map (bit-identical).
        if seeds.shape[0] == 1:
            return one(seeds[0])[None]
        if seeds.shape[0] is None:
            return tf.cond(tf.shape(seeds)[0] == 1, lambda: one(seeds[0])[None], loop)
        return loop()
    if backend == "jax":

        def one_jax(seed):
            key = ops.cast(ops.stack([seed, ops.convert_to_tensor(stream, "int32")]), "uint32")
            return keras.random.normal(shape, seed=key, dtype="float32")

        return ops.vectorized_map(one_jax, seeds)
    raise NotImplementedError(
        f"seeded per-sample noise is implemented for the tensorflow and jax Keras backends, "
        f"not {backend!r}; pass the noise maps explicitly (noise=...)"
    )


def per_sample_noise(seeds, height, width, noise_id, dtype="float32"):
    """N(0, 1) noise maps (B, H, W, 1), one stream per seed; zero for seeds < 0.

    Args:
        seeds: int32 (B,) per-sample seeds.
        height, width: spatial size (Python ints or scalar tensors).
        noise_id: int distinguishing the noise layers of one network.
        dtype: dtype of the result (drawn in float32, then cast).
    """
    seeds = ops.reshape(ops.cast(seeds, "int32"), (-1,))
    noise = _per_sample_normal(seeds, (height, width, 1), int(noise_id))
    keep = ops.cast(ops.greater_equal(seeds, 0), "float32")[:, None, None, None]
    return ops.cast(noise * keep, dtype)


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
        noise: optional (B, H, W, 1) noise map used instead of drawing one
            from ``noise_seed`` (either argument must be given).

    Precision: the noise is drawn in float32 and cast to the compute dtype
    (bfloat16 under ``mixed_bfloat16``) once, before it is scaled.
    """

    def __init__(self, noise_id, strength_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.noise_id = int(noise_id)
        self.strength_init = float(strength_init)

    def build(self, x_shape, noise_seed_shape=None, noise_shape=None):
        self.strength = self.add_weight(
            name="strength", shape=(), initializer=keras.initializers.Constant(self.strength_init)
        )

    def noise_map(self, x, noise_seed=None, noise=None):
        """The (B, H, W, 1) noise this layer adds to ``x`` (compute dtype)."""
        if noise is not None:
            return ops.cast(noise, x.dtype)
        if noise_seed is None:
            raise ValueError(f"{self.name}: pass noise_seed or an explicit noise map")
        shape = ops.shape(x)
        return per_sample_noise(noise_seed, shape[1], shape[2], self.noise_id, x.dtype)

    def call(self, x, noise_seed=None, noise=None):
        n = self.noise_map(x, noise_seed, noise)
        return x + n * ops.cast(self.strength, x.dtype)

    def compute_output_shape(self, x_shape, noise_seed_shape=None, noise_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(noise_id=self.noise_id, strength_init=self.strength_init)
        return config
