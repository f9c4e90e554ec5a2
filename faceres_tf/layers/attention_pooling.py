"""Non-parameterized AttentionPooling [paper, Table 4; definition ours].

[paper]: "We use the non-parameterized AttentionPooling as the last layer to
aggregate global spatial information" (4x4x512 -> 1x1x512), with no weights.
[ours] definition: tokens X in R^{HW x C}; query q = mean_p X_p;
a = softmax_p(X_p . q / sqrt(C)); out = sum_p a_p X_p.

Precision: computed in float32 whatever the compute dtype (the input is only
4x4xC): under bfloat16 the C-term dot products and the softmax would lose
most of their precision, and the result modulates every decoder layer.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="faceres_tf")
class AttentionPooling(keras.layers.Layer):
    """Attention-weighted global pooling with a mean query and no weights.

    Args:
        keepdims: return (B, 1, 1, C) instead of (B, C).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        x: (B, H, W, C) feature map -> (B, C) pooled vector.
    """

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def call(self, x):
        c = x.shape[-1]
        tokens = ops.cast(ops.reshape(x, (ops.shape(x)[0], -1, c)), "float32")  # (B, HW, C)
        query = ops.mean(tokens, axis=1, keepdims=True)  # (B, 1, C)
        logits = ops.sum(tokens * query, axis=-1) / math.sqrt(c)  # (B, HW)
        attn = ops.softmax(logits, axis=-1)[:, :, None]  # (B, HW, 1)
        out = ops.cast(ops.sum(attn * tokens, axis=1), x.dtype)  # (B, C)
        if self.keepdims:
            out = out[:, None, None, :]
        return out

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(keepdims=self.keepdims)
        return config
