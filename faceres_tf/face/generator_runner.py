"""Run a restoration generator on batches of aligned uint8 faces.

One interface for the ways a model reaches the CLI:

* :meth:`GeneratorRunner.from_keras` - an in-memory Keras generator
  (``faceres_tf.build_generator`` contract: inputs ``{"image": float32 (B, R,
  R, 3) in [-1, 1], "noise_seed": int32 (B,)}``, output float32 ~[-1, 1]);
* :meth:`GeneratorRunner.from_checkpoint` - the EMA generator of a training
  run directory (``faceres_tf.training.load_generator``);
* :meth:`GeneratorRunner.from_pretrained` - a model bundled with the package
  (``faceres_tf.load_pretrained``; the default of the restore CLI);
* :meth:`GeneratorRunner.from_saved_model` - a SavedModel written by
  :func:`faceres_tf.export.export_saved_model` (its ``serving_default``
  signature: uint8 image + int32 seed -> uint8 image).

All take and return uint8 RGB (N, R, R, 3) and int32 seeds (N,) (negative seed
= zero noise), and split N into batches of at most ``batch_size``; the
uint8 <-> [-1, 1] conversion is the one of :mod:`faceres_tf.image_io`.

Fidelity: a model with the fidelity knob (``model.fidelity_input``, preset
``cpu_256``) gets the runner's ``fidelity`` w in [0, 1] for every face (1 =
the paper's model, the default; lower = weaker encoder->decoder skips, more
generation). A model without it runs only at w = 1; :meth:`GeneratorRunner.set_fidelity`
refuses any other value with a message naming the model.

Precision and speed: Keras generators (``from_keras``, ``from_checkpoint``) run
as the folded inference copy of the generator
(:func:`faceres_tf.models.inference_generator`) in ``precision`` "fp32"
(default) or "bf16" (bfloat16 compute; float32 weights are copied, uint8 in
and out). A SavedModel keeps the precision it was exported with. The folded
fp32 graph matches the training graph to float32 rounding (a grey level at
most, see tests/test_inference.py), so all three paths give the same faces
for the same weights in fp32.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Callable

import numpy as np
import tensorflow as tf

from faceres_tf import export, pretrained
from faceres_tf.errors import UserError
from faceres_tf.training import checkpoint as ckpt_files


class ModelLoadError(UserError, RuntimeError):
    """The model could not be loaded (message says what to check)."""


class GeneratorRunner:
    """Batched uint8 face restoration with per-face seeds.

    Args:
        fn: callable (uint8 tensor (B, R, R, 3), int32 tensor (B,)) -> uint8
            (B, R, R, 3) tensor or array.
        resolution: R.
        batch_size: maximum faces per call.
        description: for messages ("checkpoint runs/tiny", ...).
    """

    def __init__(self, fn: Callable, resolution: int, batch_size: int = 8, description: str = "",
                 has_fidelity: bool = False, knob_trained: bool = True):
        self.fn = fn
        self.resolution = int(resolution)
        self.batch_size = max(1, int(batch_size))
        self.description = description
        self.has_fidelity = bool(has_fidelity)
        self.knob_trained = bool(knob_trained)  # False: a fidelity input trained at w = 1 only
        self.fidelity = 1.0

    def set_fidelity(self, fidelity: float) -> "GeneratorRunner":
        """Sets w for every later call; raises :class:`ModelLoadError` for a
        model without the knob (unless w = 1) or w outside [0, 1]."""
        fidelity = float(fidelity)
        if not 0.0 <= fidelity <= 1.0:
            raise ModelLoadError(f"--fidelity must be in [0, 1], got {fidelity:g}")
        if fidelity != 1.0 and not self.has_fidelity:
            raise ModelLoadError(
                f"{self.description} has no fidelity input (trained without the knob), so it runs only at "
                f"--fidelity 1; got {fidelity:g}. Use a model trained with model.fidelity_input "
                "or drop -w/--fidelity")
        if fidelity != 1.0 and not self.knob_trained:
            raise ModelLoadError(
                f"{self.description} has a fidelity input but was last trained at w = 1 only "
                f"(train.fidelity_one_prob = 1: the knob was rejected by its A/B, "
                f"experiments/results/ab_128), so it runs only at --fidelity 1; got {fidelity:g}")
        self.fidelity = fidelity
        return self

    def __call__(self, faces: np.ndarray, seeds) -> np.ndarray:
        faces = np.asarray(faces)
        seeds = np.broadcast_to(np.asarray(seeds, dtype=np.int32), (len(faces),))
        r = self.resolution
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3) or faces.dtype != np.uint8:
            raise ValueError(f"expected uint8 (N, {r}, {r}, 3) faces, got {faces.dtype} {faces.shape}")
        out = np.empty_like(faces)
        for i in range(0, len(faces), self.batch_size):
            j = min(len(faces), i + self.batch_size)
            args = [tf.constant(faces[i:j]), tf.constant(seeds[i:j])]
            if self.has_fidelity:
                args.append(tf.fill([j - i], tf.constant(self.fidelity, tf.float32)))
            y = self.fn(*args)
            out[i:j] = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
        return out

    # ---- constructors ------------------------------------------------------
    @classmethod
    def from_keras(cls, generator, batch_size: int = 8, description: str = "keras model",
                   precision: str = "fp32", fold: bool = True, in_place: bool = False,
                   knob_trained: bool = True) -> "GeneratorRunner":
        """``in_place``: fold ``generator`` itself when it already computes in
        ``precision`` (no copy; do not train it afterwards). ``knob_trained``:
        False for a model whose fidelity input was trained at w = 1 only."""
        module = export.GeneratorServing(export.prepare_generator(generator, precision, fold, in_place))

        def fn(images, seeds, *fidelity, _module=module):
            return _module.restore_uint8(images, seeds, *fidelity)["image"]

        return cls(fn, module.resolution, batch_size, description, has_fidelity=module.has_fidelity,
                   knob_trained=knob_trained)

    @classmethod
    def from_checkpoint(cls, run_dir: str | os.PathLike, batch_size: int = 8, use_ema: bool = True,
                        precision: str = "fp32") -> "GeneratorRunner":
        if not os.path.isdir(run_dir):
            raise ModelLoadError(f"--checkpoint {run_dir}: no such run directory")
        if not os.path.isfile(os.path.join(run_dir, "config.json")):
            raise ModelLoadError(
                f"--checkpoint {run_dir}: no config.json; pass the run directory written by "
                f"faceres-train (it holds config.json and checkpoints/)"
            )
        generator = _load_run_generator(str(run_dir), use_ema)
        with open(os.path.join(run_dir, "config.json")) as f:
            train_cfg = json.load(f).get("train", {})
        return cls.from_keras(generator, batch_size, f"checkpoint {run_dir}", precision=precision,
                              in_place=True, knob_trained=_knob_trained(train_cfg))

    @classmethod
    def from_pretrained(cls, name: str | None = None, batch_size: int = 8,
                        precision: str = "fp32") -> "GeneratorRunner":
        """A model bundled with faceres_tf (``faceres_tf.load_pretrained``)."""
        name = name or pretrained.DEFAULT_MODEL
        try:
            generator = pretrained.load_pretrained(name)
        except pretrained.PretrainedError as e:
            raise ModelLoadError(f"--model {name}: {e}") from e
        train_cfg = pretrained.model_info(name)["config"].get("train", {})
        return cls.from_keras(generator, batch_size, f"bundled model {name}", precision=precision,
                              knob_trained=_knob_trained(train_cfg))

    @classmethod
    def from_saved_model(cls, path: str | os.PathLike, batch_size: int = 8,
                         precision: str | None = None) -> "GeneratorRunner":
        if precision not in (None, "fp32", "auto"):  # "auto": keep the export's
            raise ModelLoadError(
                f"--precision {precision} applies to --checkpoint; a SavedModel computes in the precision "
                f"it was exported with (faceres-export --precision {precision})"
            )

        if (not os.path.isfile(os.path.join(path, "saved_model.pb"))
                and os.path.isfile(os.path.join(path, "saved_model", "saved_model.pb"))):
            path = os.path.join(path, "saved_model")  # an export folder of faceres-export
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ModelLoadError(
                f"--saved_model {path}: no saved_model.pb there; export one with "
                f"`faceres-export --workdir RUN_DIR --output DIR`"
            )
        try:
            loaded = tf.saved_model.load(str(path))
            sig = loaded.signatures["serving_default"]
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"--saved_model {path}: could not load: {e}") from e
        spec = sig.structured_input_signature[1]
        if "image" not in spec or "noise_seed" not in spec:
            raise ModelLoadError(
                f"--saved_model {path}: serving_default must take 'image' and 'noise_seed', has {sorted(spec)}"
            )
        r = int(spec["image"].shape[1])

        def fn(images, seeds, *fidelity, _sig=sig, _keep=loaded):
            extra = {"fidelity": fidelity[0]} if fidelity else {}
            return _sig(image=images, noise_seed=seeds, **extra)["image"]

        return cls(fn, r, batch_size, f"saved model {path}", has_fidelity="fidelity" in spec)


def _load_run_generator(run_dir: str, use_ema: bool):
    """The run's generator from its newest checkpoint; when that one cannot be
    read (a run that is training deletes old checkpoints and writes new ones
    while we load), the next older complete one, with one line saying so."""
    tf_logger = logging.getLogger("tensorflow")
    saved_level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # a failed restore warns about every unrestored value
    try:
        try:
            return ckpt_files.load_generator(run_dir, use_ema=use_ema)[0]
        except Exception as e:  # noqa: BLE001 - retried below, then re-raised with context
            first_error = e
        tried = set()
        for ck in ckpt_files.list_checkpoints(os.path.join(run_dir, "checkpoints")):
            if ck.problem or ck.prefix in tried:
                continue
            tried.add(ck.prefix)
            try:
                generator = ckpt_files.load_generator(run_dir, use_ema=use_ema, checkpoint=ck.prefix)[0]
            except Exception:  # noqa: BLE001 - try the next older one
                continue
            logging.getLogger("faceres_tf").warning(
                "--checkpoint %s: the newest checkpoint could not be read (%s; is the run training?); "
                "using %s", run_dir, _first_line(first_error), ck.name)
            return generator
        raise ModelLoadError(f"--checkpoint {run_dir}: could not load the generator: "
                             f"{_first_line(first_error)}") from first_error
    finally:
        tf_logger.setLevel(saved_level)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def _knob_trained(train_cfg: dict) -> bool:
    """Whether a run's last config trained the fidelity knob (some samples at w < 1)."""
    return float(train_cfg.get("fidelity_one_prob", 0.6)) < 1.0
