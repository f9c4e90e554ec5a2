"""Export a trained generator as a TF SavedModel and as a TFLite model.

SavedModel (``export_saved_model``), written with ``tf.saved_model.save`` of a
``tf.Module`` (:class:`GeneratorServing`); it needs neither faceres_tf nor Keras
to be loaded (``tf.saved_model.load(dir)``). Signatures (R = model resolution,
batch size free):

* ``serving_default`` - inputs ``image``: uint8 (None, R, R, 3) RGB 0-255,
  ``noise_seed``: int32 (None,); output ``image``: uint8 (None, R, R, 3) RGB.
* ``serving_float`` - inputs ``image``: float32 (None, R, R, 3) RGB in [-1, 1],
  ``noise_seed``: int32 (None,); output ``image``: float32 in [-1, 1] (clipped).

A generator built with ``model.fidelity_input`` (preset ``cpu_256``) has one
more input in both signatures: ``fidelity``: float32 (None,), the skip strength
w in [0, 1] (1 = the paper's model; 0 = no skips, more generation).

``noise_seed`` picks the per-face noise of the stochastic decoder: the same
seed gives the same output, independently of the batch; a negative seed gives
zero noise (deterministic; use it for evaluation). The faces must be aligned
on the FFHQ five-point template (``faceres_tf.face.alignment``).
uint8 -> float: ``x / 127.5 - 1``; float -> uint8: ``round((clip(y, -1, 1) +
1) * 127.5)``.

The SavedModel holds the generator *folded for inference*
(:func:`faceres_tf.models.inference_generator`: constants folded into the
kernels, weights stored once as graph constants) in the requested precision:
``precision="fp32"`` (default) or ``"bf16"`` (bfloat16 compute, float32 in and
out; faster on CPUs with AVX-512 BF16 or AMX). [ours]

``export_run`` writes both formats of a training run's generator; the TFLite
model (float32, the noise maps as explicit inputs) is written by
:mod:`faceres_tf.export_tflite`, the overwrite rules (which folders and files
an export may replace) are in :mod:`faceres_tf.export_common`, the command
line is ``faceres-export`` (:mod:`faceres_tf.export_cli`). [ours]
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import tensorflow as tf

from faceres_tf.config_ranges import PRECISION_CHOICES, check_choice
from faceres_tf.export_common import (
    check_export_target,
    commit_export,
    has_fidelity_input,
    is_saved_model_dir,
    prepare_out,
    resolution_of,
    staging_dir,
)
from faceres_tf.export_tflite import export_tflite, noise_layout
from faceres_tf.image_io import float_to_uint8, uint8_to_float
from faceres_tf.models import Generator, dtype_policy, fold_generator, inference_generator
from faceres_tf.models.precision import resolve_precision
from faceres_tf.training import load_generator

__all__ = ["SERVING_FLOAT", "SERVING_UINT8", "GeneratorServing", "export_run", "export_saved_model",
           "prepare_generator"]

SERVING_UINT8 = "serving_default"
SERVING_FLOAT = "serving_float"


class _Untracked:
    """Holds a model without tf.Module tracking it."""

    def __init__(self, model):
        self.model = model


def prepare_generator(generator, precision: str = "fp32", fold: bool = True, in_place: bool = False):
    """The generator to serve: a faceres_tf Generator is copied in
    ``precision`` and folded for inference (``fold``); any other Keras model
    is returned as is (``precision`` must then be "fp32" or "auto"). ``in_place``: the
    caller owns ``generator`` and will not train it, so when it already has
    the precision it is folded without a copy."""
    if precision == "auto":  # another model computes as it was built
        precision = resolve_precision(precision)[0] if isinstance(generator, Generator) else "fp32"
    policy = dtype_policy(precision).name  # validates
    if isinstance(generator, Generator):
        same = generator.dtype_policy.name == policy and not generator.noise_inputs
        if same and not fold:
            return generator
        if same and in_place:
            return fold_generator(generator)
        return inference_generator(generator, precision, fold=fold)
    if precision != "fp32":
        raise ValueError("precision='bf16' needs a faceres_tf Generator")
    return generator


class GeneratorServing(tf.Module):
    """Serving wrapper of a generator: uint8 and float restore functions.

    Args:
        generator: Keras functional model, inputs ``{"image", "noise_seed"}``.
            A folded generator (``inference_generator``) reads no variables, so
            it is kept out of the module's tracked state (a SavedModel then
            stores its constants once, not the weights a second time).
        zero_noise: ignore ``noise_seed`` and use seed -1 (no noise).
    """

    def __init__(self, generator, zero_noise: bool = False, name: str = "faceres_generator"):
        super().__init__(name=name)
        if getattr(generator, "folded", False):
            self._untracked = _Untracked(generator)
        else:
            self.generator = generator
        self.resolution = resolution_of(generator)
        self.has_fidelity = has_fidelity_input(generator)
        self.zero_noise = bool(zero_noise)
        r = self.resolution
        extra = [tf.TensorSpec([None], tf.float32, name="fidelity")] if self.has_fidelity else []
        self.restore_uint8 = tf.function(
            self._restore_uint8,
            input_signature=[
                tf.TensorSpec([None, r, r, 3], tf.uint8, name="image"),
                tf.TensorSpec([None], tf.int32, name="noise_seed"),
                *extra,
            ],
        )
        self.restore_float = tf.function(
            self._restore_float,
            input_signature=[
                tf.TensorSpec([None, r, r, 3], tf.float32, name="image"),
                tf.TensorSpec([None], tf.int32, name="noise_seed"),
                *extra,
            ],
        )

    @property
    def model(self):
        return self._untracked.model if hasattr(self, "_untracked") else self.generator

    def _run(self, x, noise_seed, fidelity=None):
        if self.zero_noise:
            noise_seed = tf.fill(tf.shape(noise_seed), tf.constant(-1, tf.int32))
        inputs = {"image": x, "noise_seed": noise_seed}
        if fidelity is not None:
            inputs["fidelity"] = fidelity
        y = self.model(inputs, training=False)
        return tf.cast(y, tf.float32)

    def _restore_uint8(self, image, noise_seed, fidelity=None):
        return {"image": float_to_uint8(self._run(uint8_to_float(image), noise_seed, fidelity))}

    def _restore_float(self, image, noise_seed, fidelity=None):
        return {"image": tf.clip_by_value(self._run(image, noise_seed, fidelity), -1.0, 1.0)}


def export_saved_model(generator, out_dir: str | os.PathLike, overwrite: bool = False,
                       precision: str = "fp32", fold: bool = True) -> str:
    """Write ``generator`` as a SavedModel with the signatures of the module doc.

    Args:
        generator: the trained generator (not modified).
        out_dir: output directory.
        overwrite: replace ``out_dir`` if it exists.
        precision: "fp32" or "bf16" compute in the exported graph.
        fold: export the folded inference graph (default) or the training graph.

    Returns the output directory. Raises FileExistsError when ``out_dir``
    exists and not ``overwrite``.
    """
    out_dir = Path(out_dir)
    served = prepare_generator(generator, precision, fold)
    prepare_out(out_dir, overwrite, is_saved_model_dir, "a SavedModel folder")
    module = GeneratorServing(served)
    tf.saved_model.save(
        module,
        str(out_dir),
        signatures={
            SERVING_UINT8: module.restore_uint8.get_concrete_function(),
            SERVING_FLOAT: module.restore_float.get_concrete_function(),
        },
    )
    return str(out_dir)


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, fmt: str = "both",
               overwrite: bool = False, use_ema: bool = True, tflite_batch_size: int = 1,
               precision: str = "auto") -> dict:
    """Export the (EMA) generator of a training run directory (``precision``
    "auto", the default, is resolved here, so ``export_info.json`` names the one used).

    Writes into ``out_dir``: ``saved_model/`` (``fmt`` "saved_model" or
    "both"; computing in ``precision``), ``model.tflite`` ("tflite" or "both";
    always float32) and ``export_info.json`` (resolution, precision,
    signatures, noise inputs, source run), plus the marker file
    ``FACERES_EXPORT``. ``out_dir`` must not exist (or be an empty folder)
    unless ``overwrite``, and even then it is replaced only when it is an
    earlier export holding nothing else; the new export is written beside it
    and moved into place once complete. Returns the info dict.
    """
    if fmt not in ("saved_model", "tflite", "both"):
        raise ValueError(f"format must be saved_model, tflite or both, got {fmt!r}")
    check_choice("precision", precision, PRECISION_CHOICES)
    final_dir = Path(out_dir)
    check_export_target(final_dir, overwrite)
    generator, cfg = load_generator(run_dir, use_ema=use_ema)
    precision = resolve_precision(precision)[0]  # once the inputs are known to be good
    out_dir = staging_dir(final_dir)  # written there, then moved into place
    try:
        info = _export_into(generator, cfg, run_dir, out_dir, fmt, use_ema, tflite_batch_size,
                            precision)
        commit_export(out_dir, final_dir)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return info


def _export_into(generator, cfg, run_dir, out_dir: Path, fmt: str, use_ema: bool,
                 tflite_batch_size: int, precision: str = "fp32") -> dict:
    r = resolution_of(generator)
    info = {
        "run_dir": str(run_dir),
        "preset": cfg.name,
        "generator": "ema" if use_ema else "raw",
        "resolution": r,
        "alignment": "FFHQ five-point template scaled by R/512 (faceres_tf.face.alignment)",
    }
    if has_fidelity_input(generator):
        info["fidelity"] = "float32 (None,) skip strength in [0, 1], an input of every signature; 1 = the paper's model"
    if fmt in ("saved_model", "both"):
        export_saved_model(generator, out_dir / "saved_model", precision=precision)
        info["saved_model"] = {
            "path": "saved_model",
            "precision": precision,
            SERVING_UINT8: {"inputs": {"image": f"uint8 (None, {r}, {r}, 3) RGB 0-255",
                                       "noise_seed": "int32 (None,), <0 = zero noise"},
                            "outputs": {"image": f"uint8 (None, {r}, {r}, 3)"}},
            SERVING_FLOAT: {"inputs": {"image": f"float32 (None, {r}, {r}, 3) in [-1, 1]",
                                       "noise_seed": "int32 (None,), <0 = zero noise"},
                            "outputs": {"image": f"float32 (None, {r}, {r}, 3) in [-1, 1]"}},
        }
    if fmt in ("tflite", "both"):
        export_tflite(generator, out_dir / "model.tflite", batch_size=tflite_batch_size)
        b = tflite_batch_size
        info["tflite"] = {
            "path": "model.tflite",
            "inputs": {"image": f"uint8 ({b}, {r}, {r}, 3) RGB 0-255",
                       **{k: f"float32 ({b}, {h}, {w}, 1) N(0,1) noise; zeros = deterministic"
                          for k, (h, w) in noise_layout(generator).items()},
                       **({"fidelity": f"float32 ({b},) in [0, 1]"} if has_fidelity_input(generator) else {})},
            "outputs": {"image": f"uint8 ({b}, {r}, {r}, 3)"},
        }
    (out_dir / "export_info.json").write_text(json.dumps(info, indent=2))
    return info
