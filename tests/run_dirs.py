"""Run directories with an untrained generator, for the restore and export tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tensorflow as tf

import faceres_tf


def make_run_dir(root: Path, seed: int | None = None, fidelity_input: bool = False,
                 checkpoints: int = 1) -> str:
    """``root/run`` holding the `test` preset's config and ``checkpoints``
    checkpoints (ckpt-1, ckpt-2, ...) of one generator, built after
    ``set_random_seed(seed)`` when a seed is given."""
    cfg = faceres_tf.presets.get("test")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, fidelity_input=fidelity_input))
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    generator = faceres_tf.build_generator(cfg)
    run = Path(root) / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    ckpt = tf.train.Checkpoint(generator_ema=generator)
    for _ in range(checkpoints):
        ckpt.save(str(run / "checkpoints" / "ckpt"))
    return str(run)
