"""Bundled pretrained generators: ``faceres_tf.load_pretrained()``.

A bundled model is two files in this package folder:

* ``NAME.json`` - the training :class:`~faceres_tf.config.Config` (``config``)
  and a record of how the weights were made (``info``: data, images seen,
  wall time, command, commit, measured numbers, licence);
* ``NAME.weights.npz`` - the EMA generator's variables, keyed by their Keras
  variable path, stored as float16 (loaded back as float32).

Only weights and a config are read: loading runs no code from the files
(unlike a SavedModel, whose graph is executed). Make a bundle from a training
run with ``faceres-bundle --checkpoint RUN --name NAME``.

Licence of the bundled weights: non-commercial research use only, inherited
from their training data (CelebA-HQ and FFHQ; see data/README.md); each
bundle's JSON carries it in its ``licence`` field (:data:`WEIGHTS_LICENCE`).
No absolute path of the building machine is recorded (:func:`without_machine_paths`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceres_tf import cli
from faceres_tf.config import Config

# The model faceres-restore, restore_image() and load_pretrained() use when none is named.
DEFAULT_MODEL = "rdfr_cpu128"
# The "licence" field of every bundle's JSON (weights inherit their training data's terms).
WEIGHTS_LICENCE = ("weights: non-commercial research use only (trained on CelebA-HQ and FFHQ, whose terms "
                   "allow non-commercial research only); code: Apache-2.0. See NOTICE and data/README.md.")
_HERE = Path(__file__).resolve().parent


class PretrainedError(FileNotFoundError):
    """A bundled model is unknown or its files are missing/unreadable."""


def available() -> list:
    """Names of the models bundled in this installation."""
    return sorted(p.name[: -len(".weights.npz")] for p in _HERE.glob("*.weights.npz")
                  if (_HERE / (p.name[: -len(".weights.npz")] + ".json")).is_file())


def _paths(name: str, folder=None) -> tuple:
    folder = Path(folder) if folder is not None else _HERE
    meta, weights = folder / f"{name}.json", folder / f"{name}.weights.npz"
    if not (meta.is_file() and weights.is_file()):
        raise PretrainedError(
            f"no bundled model {name!r} in {folder} (available: {available() or 'none'}); "
            "train one (see README) and pass --checkpoint RUN_DIR instead")
    return meta, weights


def model_info(name: str = DEFAULT_MODEL, folder=None) -> dict:
    """The bundle's record: ``{"config": {...}, "info": {...}}``."""
    meta, _ = _paths(name, folder)
    return json.loads(meta.read_text())


def load_pretrained(name: str = DEFAULT_MODEL, folder=None):
    """The bundled EMA generator ``name`` as a Keras model (float32 weights).

    Same contract as :func:`faceres_tf.build_generator`: inputs
    ``{"image": (B, R, R, 3) float32 in [-1, 1], "noise_seed": (B,) int32}``,
    output (B, R, R, 3) in ~[-1, 1]; R is ``model.config.model.resolution``
    (also set as the attribute ``model.faceres_config``).

    ``folder`` reads a bundle from another folder (default: the package's).

    Raises:
        PretrainedError: unknown name or missing / mismatched files.
    """
    # `import faceres_tf` stays free of TensorFlow: the networks load here, quietly
    # (no C++ start-up lines such as "failed call to cuInit").
    cli.import_tensorflow_quietly()
    from faceres_tf.models import build_generator

    meta, weights = _paths(name, folder)
    record = json.loads(meta.read_text())
    cfg = Config.from_dict(record["config"])
    generator = build_generator(cfg)
    with np.load(weights) as data:
        stored = {k: data[k] for k in data.files}
    expected = {v.path: v for v in generator.weights}
    if set(stored) != set(expected):
        missing = sorted(set(expected) - set(stored))[:3]
        extra = sorted(set(stored) - set(expected))[:3]
        raise PretrainedError(
            f"{weights} does not match the generator of {meta.name} "
            f"(missing {missing}, unexpected {extra}); reinstall faceres_tf")
    for path, var in expected.items():
        value = stored[path]
        if tuple(value.shape) != tuple(var.shape):
            raise PretrainedError(f"{weights}: {path} has shape {value.shape}, expected {var.shape}")
        var.assign(value.astype(np.float32))
    generator.faceres_config = cfg
    generator.faceres_info = record.get("info", {})
    return generator


def save_bundle(generator, cfg: Config, name: str, info: dict, folder: Path | None = None) -> tuple:
    """Writes ``NAME.json`` + ``NAME.weights.npz`` (float16) for ``generator``.

    Returns the two paths. Refuses to write float16-overflowing weights.
    """
    folder = Path(folder) if folder is not None else _HERE
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for var in generator.weights:
        value = np.asarray(var.numpy(), dtype=np.float32)
        if np.abs(value).max(initial=0.0) >= np.finfo(np.float16).max:
            raise ValueError(f"{var.path} does not fit in float16")
        arrays[var.path] = value.astype(np.float16)
    weights = folder / f"{name}.weights.npz"
    np.savez_compressed(weights, **arrays)
    meta = folder / f"{name}.json"
    record = {"config": without_machine_paths(cfg.to_dict()), "info": without_machine_paths(info),
              "licence": WEIGHTS_LICENCE}
    meta.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return meta, weights


def without_machine_paths(value):
    """``value`` (nested dicts / lists) with every absolute path replaced by its
    last component: a bundle records no folder of the machine that built it."""
    if isinstance(value, dict):
        return {k: without_machine_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_machine_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/")) and " " not in value:
        return Path(value).name or value
    return value


__all__ = ["DEFAULT_MODEL", "WEIGHTS_LICENCE", "PretrainedError", "available", "load_pretrained", "model_info",
           "save_bundle"]
