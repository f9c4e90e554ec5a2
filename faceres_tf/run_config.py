"""From a command line's choices to a training run's Config, checked before
anything is created. The one place where a preset, the shortcut options
(``--data_dir``, ``--steps``, ...) and ``--set section.field=value`` overrides
become a :class:`faceres_tf.config.Config`; ``faceres-train`` and the table
drivers in ``experiments/`` both use it. Imports no TensorFlow.
"""

from __future__ import annotations

from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.errors import UserError
from faceres_tf.weights import VGG19_NOTOP, MissingWeightsError, find_weights

__all__ = ["STRATEGIES", "check_batch_divides", "check_perceptual_weights", "check_replicas",
           "resolve_config"]

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")

# shortcut option -> the config field it sets
SHORTCUTS = {
    "data_dir": "data.train_dir", "val_dir": "data.val_dir", "steps": "train.steps",
    "batch_size": "train.batch_size", "seed": "train.seed", "perceptual": "loss.perceptual",
    "vgg_weights": "loss.vgg_weights", "jit_compile": "train.jit_compile",
    "precision": "train.precision",
    "init": "train.init_from",
}


def resolve_config(preset, overrides, data_dir=None, val_dir=None, steps=None, batch_size=None,
                   seed=None, perceptual=None, vgg_weights=None, jit_compile=None,
                   precision=None, init=None):
    """Preset + shortcut options + ``section.field=value`` overrides -> Config
    (an override wins over a shortcut for the same field).

    Raises :class:`UserError` for an unknown preset, a malformed or unknown
    override or an impossible value.
    """
    cfg = presets.get(preset)  # UnknownPresetError is a UserError
    given = dict(data_dir=data_dir, val_dir=val_dir, steps=steps, batch_size=batch_size, seed=seed,
                 perceptual=perceptual, vgg_weights=vgg_weights, jit_compile=jit_compile,
                 precision=precision, init=init)
    updates = {SHORTCUTS[name]: value for name, value in given.items() if value is not None}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set expects section.field=value, got {item!r}")
        key, value = item.split("=", 1)
        updates[key.strip()] = value.strip()
    # faceres_tf's ConfigError (a UserError) already names the key and the value.
    return override(cfg, updates)


def check_replicas(cpu_replicas: int, batch_size: int) -> None:
    """Raises :class:`UserError` (before anything is created) for a negative
    ``--cpu_replicas`` or one that does not divide the global batch."""
    if cpu_replicas < 0:
        raise UserError(f"--cpu_replicas must be >= 0 (0 or 1 = no split), got {cpu_replicas}")
    check_batch_divides(batch_size, cpu_replicas, "--cpu_replicas")


def check_batch_divides(batch_size: int, replicas: int, what: str) -> None:
    """Raises :class:`UserError` unless the global batch splits evenly over ``replicas``."""
    if replicas > 1 and batch_size % replicas:
        raise UserError(f"train.batch_size={batch_size} is not divisible by the {replicas} replicas "
                        f"({what}); choose a batch size that is a multiple of {replicas} "
                        "(--batch_size) or another replica count")


def check_perceptual_weights(cfg) -> None:
    """The VGG19 weights the perceptual loss needs exist (else :class:`UserError`)."""
    if cfg.loss.perceptual != "vgg19":
        return
    try:
        find_weights(VGG19_NOTOP, cfg.loss.vgg_weights or None)
    except MissingWeightsError as e:
        raise UserError(f"{e} Or turn the perceptual loss off explicitly with "
                        "--perceptual=off.") from None
