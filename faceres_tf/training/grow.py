"""Starting a generator from trained weights, growing a smaller model [ours].

``train.init_from`` names a bundled model (``faceres_tf.pretrained``) or a run
directory; :func:`init_generator` copies its EMA generator into a new run's
generator. Same resolution: every variable must match (a fine-tune). A
smaller source (e.g. the 128 px ``rdfr_cpu128`` into the 256 px ``cpu_256``)
is *grown*, progressive-growing style, so that the new model starts as the
old one applied to the image downsampled by 2 and its output upsampled:

* every variable of the same path and shape is copied (all levels below the
  old resolution, in the encoder and the decoder);
* the old ToRGB becomes the skip-ToRGB at the old resolution
  (``model.lowres_rgb``), and the new final ToRGB starts at zero, so the
  output starts as the old model's, upsampled bilinearly;
* the new first encoder block starts as a 2x2 average pool of the RGB image
  in its first three channels (its shortcut), with its main branch and the
  other channels small (x 0.01 of their initialisation) so they can learn;
  the old first block, which took RGB, gets its kernels on those three
  channels (rescaled for the equalized-learning-rate constant of the wider
  input) and small kernels on the rest.

The result records what was copied, adapted and left fresh.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from faceres_tf import pretrained
from faceres_tf.errors import ConfigError
from faceres_tf.training.checkpoint import load_generator

logger = logging.getLogger("faceres_tf.train")

SMALL = 0.01  # scale of the freshly initialised parts that must not disturb the copy


def source_weights(source: str) -> tuple:
    """(``{path: float32 array}`` of the EMA generator, its resolution) of a
    bundled model name or a run directory."""
    if source in pretrained.available():
        generator = pretrained.load_pretrained(source)
        res = generator.faceres_config.model.resolution
    elif Path(source).is_dir():
        generator, cfg = load_generator(source, use_ema=True)
        res = cfg.model.resolution
    else:
        raise ConfigError(f"train.init_from={source!r} is neither a bundled model "
                          f"({', '.join(pretrained.available())}) nor a run directory")
    return {v.path: np.asarray(v.numpy(), np.float32) for v in generator.weights}, int(res)


def _pad_input_channels(old: np.ndarray, new_shape: tuple, fresh: np.ndarray) -> np.ndarray:
    """``old`` (k, k, c_old, c_out) on the first c_old input channels of a
    (k, k, c_new, c_out) kernel, rescaled so the effective (equalized) kernel
    is unchanged; the other input channels take ``SMALL * fresh``."""
    k, _, c_old, _ = old.shape
    c_new = new_shape[2]
    out = SMALL * fresh.copy()
    out[:, :, :c_old, :] = old * math.sqrt(c_new / c_old)
    return out


def grow_plan(dst_paths: dict, src: dict, src_res: int) -> dict:
    """For each destination path (``{path: (shape, fresh_value)}``): the value
    to assign and how it was obtained ("copied", "adapted", "fresh")."""
    old_first = f"resblock_{src_res // 2}x{src_res // 2}"
    new_first = f"resblock_{src_res}x{src_res}"
    plan = {}
    for path, (shape, fresh) in dst_paths.items():
        alias = f"to_rgb/{path.split('/', 1)[1]}" if path.startswith(f"to_rgb_{src_res}x{src_res}/") else path
        if path.startswith("to_rgb/"):  # the new final ToRGB adds nothing at first
            zero = path in ("to_rgb/bias", "to_rgb/conv/kernel")
            plan[path] = (np.zeros(shape, np.float32), "adapted") if zero else (fresh, "fresh")
        elif alias in src and tuple(src[alias].shape) == tuple(shape):
            plan[path] = (src[alias], "copied")
        elif path in (f"{old_first}/conv1/kernel", f"{old_first}/shortcut/kernel") and path in src:
            plan[path] = (_pad_input_channels(src[path], shape, fresh), "adapted")
        elif path == f"{new_first}/shortcut/kernel":
            value = SMALL * fresh.copy()
            c_in = shape[2]
            for i in range(min(3, shape[3])):  # 2x2 average of RGB: gain sqrt(2) * sqrt(fan_in)
                value[0, 0, :, i] = 0.0
                value[0, 0, i, i] = math.sqrt(2.0) * math.sqrt(c_in)
            plan[path] = (value, "adapted")
        elif path == f"{new_first}/conv2_down/kernel":
            plan[path] = (SMALL * fresh, "adapted")
        else:
            plan[path] = (fresh, "fresh")
    return plan


def init_generator(generators, source: str) -> dict:
    """Initialises ``generators`` (G and its EMA, same config) from ``source``.

    Returns ``{"source", "source_resolution", "copied", "adapted", "fresh"}``
    (counts; lists of the adapted and fresh paths under ``*_paths``).
    """
    src, src_res = source_weights(source)
    first = generators[0]
    res = first.model_config.resolution
    dst = {v.path: (tuple(v.shape), np.asarray(v.numpy(), np.float32)) for v in first.weights}
    if src_res > res:
        raise ConfigError(f"train.init_from={source!r} is a {src_res} px model; this one is {res} px")
    if src_res < res and first.model_config.lowres_rgb != src_res:
        raise ConfigError(f"growing {source!r} ({src_res} px) to {res} px needs "
                          f"model.lowres_rgb={src_res} (the skip-ToRGB that takes its ToRGB)")
    plan = grow_plan(dst, src, src_res) if src_res < res else {
        p: (src[p], "copied") for p in dst if p in src and tuple(src[p].shape) == dst[p][0]}
    if src_res == res and len(plan) != len(dst):
        missing = sorted(set(dst) - set(plan))[:3]
        raise ConfigError(f"train.init_from={source!r} does not match this model (e.g. {missing})")
    for g in generators:
        for v in g.weights:
            v.assign(plan[v.path][0].astype(np.float32))
    kinds = {k: sorted(p for p, (_, how) in plan.items() if how == k) for k in ("copied", "adapted", "fresh")}
    logger.info("Initialised from %s (%d px): %d variables copied, %d adapted, %d fresh", source, src_res,
                len(kinds["copied"]), len(kinds["adapted"]), len(kinds["fresh"]))
    return {"source": source, "source_resolution": src_res,
            **{k: len(v) for k, v in kinds.items()},
            "adapted_paths": kinds["adapted"], "fresh_paths": kinds["fresh"]}
