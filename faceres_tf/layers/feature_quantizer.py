"""FeatureQuantizer: optional "latent enhancement" [ours; abstract + patent].

The paper's abstract credits "enhancing the latent features"; the related
Google patent claims a feature quantization model with a learned codebook that
replaces (corrupted) encoder vectors by stored codes. The appendix gives no
details, so this layer is our reading, after the first author's FQ-GAN: nearest
code per token of the 4x4 last feature, straight-through gradient, codebook
updated by exponential moving averages (not by gradients), and a commitment
loss ``commitment * mean((z - sg(q))^2)`` added with ``add_loss``.
Off by default (``ModelConfig.quantize``) until an ablation shows it helps.

Precision: distances, codebook and EMA statistics are float32 under any
policy (the codebook variables are never autocast to bfloat16).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="faceres_tf")
class FeatureQuantizer(keras.layers.Layer):
    """Vector quantisation of feature tokens with an EMA codebook.

    Args:
        num_codes: codebook size K.
        decay: EMA decay of the codebook statistics.
        commitment: weight of the commitment loss.
        eps: Laplace smoothing of the code counts.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C) features.
        training: update the codebook (EMA) and add the commitment loss.

    Returns:
        (B, H, W, C) quantised features (straight-through gradient to ``x``).
    """

    def __init__(self, num_codes=256, decay=0.8, commitment=1.0, eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_codes = int(num_codes)
        self.decay = float(decay)
        self.commitment = float(commitment)
        self.eps = float(eps)
        self.folded = None  # inference constant codebook, see fold()

    def fold(self):
        """Inference only: use a constant snapshot of the codebook."""
        self.folded = ops.convert_to_tensor(self.codebook)

    def _book(self):
        return self.folded if self.folded is not None else ops.convert_to_tensor(self.codebook)

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.codebook = self.add_weight(
            name="codebook", shape=(self.num_codes, c),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False, aggregation="mean", autocast=False,
        )
        self.ema_count = self.add_weight(
            name="ema_count", shape=(self.num_codes,), initializer="ones",
            trainable=False, aggregation="mean", autocast=False,
        )
        self.ema_sum = self.add_weight(
            name="ema_sum", shape=(self.num_codes, c),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False, aggregation="mean", autocast=False,
        )

    def code_indices(self, x):
        """Index of the nearest code for every token: (B, H, W) int."""
        c = x.shape[-1]
        flat = ops.reshape(ops.cast(x, "float32"), (-1, c))  # (T, C)
        book = self._book()
        dist = (
            ops.sum(flat**2, axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(book))
            + ops.sum(book**2, axis=1)[None, :]
        )  # (T, K)
        idx = ops.argmin(dist, axis=1)
        return ops.reshape(idx, ops.shape(x)[:-1])

    def call(self, x, training=False):
        c = x.shape[-1]
        z = ops.cast(x, "float32")
        idx = self.code_indices(z)
        q = ops.take(self._book(), idx, axis=0)  # (B, H, W, C)
        if training:
            if self.folded is not None:
                raise RuntimeError(f"{self.name} is folded for inference; it cannot train")
            flat = ops.reshape(z, (-1, c))
            onehot = ops.one_hot(ops.reshape(idx, (-1,)), self.num_codes)  # (T, K)
            count = ops.sum(onehot, axis=0)
            total = ops.matmul(ops.transpose(onehot), flat)  # (K, C)
            d = self.decay
            new_count = d * self.ema_count + (1.0 - d) * count
            new_sum = d * self.ema_sum + (1.0 - d) * total
            n = ops.sum(new_count)
            smoothed = (new_count + self.eps) / (n + self.num_codes * self.eps) * n
            self.ema_count.assign(new_count)
            self.ema_sum.assign(new_sum)
            self.codebook.assign(new_sum / smoothed[:, None])
            self.add_loss(self.commitment * ops.mean(ops.square(z - ops.stop_gradient(q))))
        out = z + ops.stop_gradient(q - z)  # straight-through
        return ops.cast(out, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_codes=self.num_codes, decay=self.decay, commitment=self.commitment, eps=self.eps
        )
        return config
