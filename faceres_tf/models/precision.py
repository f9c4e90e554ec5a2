"""Compute precision of the networks: "fp32" or "bf16" [ours].

bf16 is Keras' ``mixed_bfloat16`` policy: weights (and optimiser state, EMA)
stay float32, layers compute in bfloat16. The parts where bfloat16's 8-bit
mantissa would hurt stay float32, each documented in its layer: the
demodulation factors (``ModulatedConv2D``), AttentionPooling, MinibatchStd,
the seeded noise (drawn in float32), the generator's output, and (in the
trainer) every loss and the EMA of the weights.

A layer fixes its compute dtype when it is created, so a policy only has to
be active while a model is built. :func:`precision_scope` sets it for that
and restores the previous one, so nothing leaks into the rest of the process.
"""

from __future__ import annotations

import contextlib

import keras

PRECISIONS = ("fp32", "bf16")
_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def policy_name(precision: str) -> str:
    """The Keras dtype policy of ``precision`` ("fp32" -> "float32", "bf16" -> "mixed_bfloat16")."""
    if precision not in _POLICIES:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return _POLICIES[precision]


@contextlib.contextmanager
def policy_scope(policy: str):
    """Builds models created inside under the Keras dtype policy ``policy``
    (e.g. "mixed_float16"); restores the previous global policy on exit (also
    on errors)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def precision_scope(precision: str):
    """:func:`policy_scope` of ``precision``'s policy ("fp32" or "bf16")."""
    return policy_scope(policy_name(precision))
