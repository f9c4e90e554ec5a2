"""Inference copies of a generator: another precision, explicit noise inputs,
and folded constants [ours].

:func:`inference_generator` builds a twin of a trained generator (same
weights, copied, so the trained model is never modified) in the requested
precision and noise form and, by default, folds it for inference:

* every equalised-lr scale is multiplied into its kernel once, kernels are
  cast to the compute dtype once, and the demodulation's squared kernel norms
  are precomputed (no per-call weight work, no weight casts);
* the leaky ReLUs' sqrt(2) gains move into the next layer's kernels or
  modulation and ResBlock's 1/sqrt(2) into its kernels (exact: the leaky ReLU
  is positively homogeneous and the convs are linear);
* high-resolution modulated convs use per-sample kernels (weight modulation)
  instead of two passes over the activations (``ModulatedConv2D.fold``).

A folded generator reads no variable when it runs (every weight it uses is a
folded constant), so a SavedModel of it holds the constants only.

The folded twin computes the same function as the training graph up to
floating-point rounding (tests/test_inference.py states and checks the
tolerance). It is a snapshot: later changes of the source's weights do not
reach it.
"""

from __future__ import annotations

import math

from faceres_tf.layers import FeatureQuantizer, ResBlock, StyleBlock, ToRGB
from faceres_tf.models.generator import Generator
from faceres_tf.models.precision import dtype_policy


def copy_weights(src, dst) -> None:
    """``dst.set_weights(src.get_weights())`` after checking that both hold
    the same variables (paths and shapes, in order)."""
    a, b = src.weights, dst.weights
    if len(a) != len(b):
        raise ValueError(f"{src.name} has {len(a)} variables, {dst.name} {len(b)}")
    for va, vb in zip(a, b):
        if va.path != vb.path or tuple(va.shape) != tuple(vb.shape):
            raise ValueError(f"variable mismatch: {va.path} {tuple(va.shape)} vs {vb.path} {tuple(vb.shape)}")
    dst.set_weights(src.get_weights())


def fold_generator(generator: Generator) -> Generator:
    """Folds ``generator``'s layers in place for inference (see the module doc)
    and returns it. Do not train a folded generator."""
    for layer in generator.encoder.layers:
        if isinstance(layer, ResBlock):
            layer.fold()
    blocks = [layer for layer in generator.decoder.layers if isinstance(layer, StyleBlock)]
    gain = math.sqrt(2.0)
    for i, block in enumerate(blocks):
        # Each block leaves its output gain to the next block (or ToRGB).
        block.fold(input_gain=1.0 if i == 0 else gain, defer_output_gain=True)
    for layer in generator.decoder.layers:
        if isinstance(layer, ToRGB):
            layer.fold(input_gain=gain if blocks else None)
    for layer in generator.layers:
        if isinstance(layer, FeatureQuantizer):
            layer.fold()
    generator.folded = True
    return generator


def inference_generator(generator: Generator, precision: str = "fp32", noise_inputs: bool = False,
                        fold: bool = True) -> Generator:
    """A copy of ``generator`` for inference.

    Args:
        generator: a :class:`Generator` (any precision and noise form).
        precision: "fp32", "bf16" (bfloat16 compute; output float32) or "auto"
            (:func:`faceres_tf.models.precision.resolve_precision`).
        noise_inputs: explicit noise-map inputs instead of ``noise_seed``.
        fold: fold constants (module doc); False gives the plain training graph.
    """
    twin = Generator(generator.model_config, noise_inputs=noise_inputs, name=generator.name,
                     dtype=dtype_policy(precision))
    copy_weights(generator, twin)
    return fold_generator(twin) if fold else twin
